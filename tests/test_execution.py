"""The execution layer (:mod:`andi2kit.execution`): engines, settings, failure isolation.

The signal behaviour is in ``tests/test_bad_input.py`` (``test_signal_stops_every_worker``),
a real ``dask scheduler`` with ``dask worker`` processes in ``tests/test_cluster.py``.
"""

from __future__ import annotations

import os
import random
import signal

import numpy as np
import pytest

from andi2kit import execution
from andi2kit.errors import OptionError


def _square(x: int) -> tuple[int, int, bool]:
    if x == 3:
        raise ValueError("three")
    return x * x, os.getpid(), signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def _draws(seed: int) -> list[float]:
    # a job seeding the global generators, drawing while its worker talks to the scheduler
    import time

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002
    out = []
    for _ in range(100):
        time.sleep(0.01)
        out += [random.random(), float(np.random.rand())]  # noqa: NPY002
    return out


@pytest.fixture(autouse=True)
def _no_scheduler(monkeypatch):
    monkeypatch.delenv(execution.ENV_SCHEDULER, raising=False)
    with execution.using_scheduler(None):
        yield


@pytest.mark.parametrize(("given", "expected"), [
    ("tcp://127.0.0.1:8786", "tcp://127.0.0.1:8786"),
    ("127.0.0.1:8786", "tcp://127.0.0.1:8786"),
    (" lab-server.example:8786 ", "tcp://lab-server.example:8786"),
    ("tls://[::1]:99", "tls://[::1]:99"),
])
def test_addresses_get_their_scheme(given, expected):
    assert execution.check_address(given) == expected


@pytest.mark.parametrize("bad", ["127.0.0.1", "tcp://", "tcp://host:notaport", "http://h:1",
                                 "tcp://h:99999", "h:0", "two words:1", ":8786"])
def test_malformed_addresses_are_refused(bad):
    with pytest.raises(OptionError, match="expected \\[tcp://\\]HOST:PORT"):
        execution.check_address(bad)


def test_scheduler_setting_and_environment(monkeypatch):
    assert execution.scheduler_address() is None
    assert not execution.parallel(1, 10) and not execution.parallel(4, 1)
    assert execution.parallel(2, 2) and not execution.parallel(2, 0)
    monkeypatch.setenv(execution.ENV_SCHEDULER, "10.0.0.1:8786")
    assert execution.scheduler_address() == "tcp://10.0.0.1:8786"
    assert execution.parallel(1, 1)  # a cluster was asked for: even one job goes there
    with execution.using_scheduler("tcp://127.0.0.1:1"):
        assert execution.scheduler_address() == "tcp://127.0.0.1:1"  # explicit wins
    assert execution.scheduler_address() == "tcp://10.0.0.1:8786"


def test_in_process_yields_errors_like_a_cluster():
    got = {job: (res, exc) for job, res, exc in execution.imap_unordered(_square, range(5), 1)}
    assert {j: r[0] for j, (r, e) in got.items() if e is None} == {0: 0, 1: 1, 2: 4, 4: 16}
    assert {r[1] for r, e in got.values() if e is None} == {os.getpid()}
    assert got[3][0] is None and isinstance(got[3][1], ValueError)
    assert list(execution.imap_unordered(_square, [], 4)) == []


@pytest.mark.slow
def test_local_cluster_isolates_failures_and_random_streams():
    jobs = [0, 1, 2, 3, 4, 5]
    got = {job: (res, exc) for job, res, exc in execution.imap_unordered(_square, jobs, 2)}
    assert sorted(got) == jobs
    assert isinstance(got[3][1], ValueError) and got[3][0] is None
    assert {j: r[0] for j, (r, e) in got.items() if e is None} == \
        {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}
    assert os.getpid() not in {r[1] for r, e in got.values() if e is None}
    # the terminal's Ctrl-C reaches the workers too; the parent stops them
    assert all(r[2] for r, e in got.values() if e is None)
    # dask's own draws from the global generator (it sizes each message it sends) must not
    # reach a job's: seeded results are the same bytes as in this process
    reference = _draws(7)
    for _, res, exc in execution.imap_unordered(_draws, [7, 7], 2):
        assert exc is None and res == reference
