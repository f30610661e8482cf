"""The examples in the package's docstrings run and give what they show.

Every module is imported and its docstring examples run with :mod:`doctest`; the public API's
examples (:mod:`andi2kit`) run in a fresh folder holding what they read (a tiny simulated
suite and its MSD submission, made first: doctest runs the examples in name order), where
they simulate, predict, validate and score as a user would (the tracking example needs a
video and is skipped: the tracker's output is tested in ``test_tracking.py``).
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import andi2kit

MODULES = sorted(m.name for m in pkgutil.walk_packages(andi2kit.__path__, "andi2kit.")
                 if not m.name.endswith("__main__")) + ["andi2kit"]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    module = importlib.import_module(name)
    monkeypatch.chdir(tmp_path)  # the API's examples read and write data/ and submissions/
    if name == "andi2kit":
        andi2kit.simulate("data/tiny", preset="test", fovs=1, video=False, progress=False)
        andi2kit.run("data/tiny/public_data", "submissions/msd", method="msd", progress=False)
    result = doctest.testmod(module, extraglobs={"andi2kit": andi2kit}, optionflags=FLAGS,
                             report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
