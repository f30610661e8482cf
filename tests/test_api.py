"""The flat API of ``andi2kit`` and the README's notebook example (run exactly as written)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FUNCTIONS = ("simulate", "track", "run", "validate", "score", "predict")


def readme_example() -> str:
    """The Python block between the README's ``api-example`` markers."""
    found = re.search(r"<!-- api-example:start -->\s*```python\n(.*?)```\s*"
                      r"<!-- api-example:end -->", README.read_text(), re.S)
    assert found, "README.md has no api-example block"
    return found.group(1)


def test_every_name_imports_and_is_documented() -> None:
    import andi2kit
    from andi2kit import __version__, predict, run, score, simulate, track, validate  # noqa: F401

    assert sorted(andi2kit.__all__) == sorted((*FUNCTIONS, "__version__"))
    assert re.match(r"\d+\.\d+", __version__)
    for name in FUNCTIONS:
        doc = getattr(andi2kit, name).__doc__
        for section in ("Parameters", "Returns", "See Also", "Examples"):
            assert f"\n    {section}\n    ---" in doc, (name, section)


def test_import_loads_no_heavy_dependency() -> None:
    heavy = ("tensorflow", "keras", "trackpy", "andi_datasets", "pandas", "matplotlib")
    code = ("import sys, andi2kit; "
            f"print([m for m in {heavy!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.slow
def test_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture) -> None:
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_example(), str(README), "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    assert printed.splitlines()[-1].startswith("True [] {")
    assert set(namespace["frames"].columns[:5]) == {"traj_idx", "frame", "alpha", "K", "state"}
    assert len(namespace["fig"].axes) == 2
    assert not list(tmp_path.glob("**/*.png"))
