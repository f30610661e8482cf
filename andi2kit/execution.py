"""One execution layer for every per-FOV and per-box job, on dask.distributed.

:func:`imap_unordered` runs ``fn(job)`` for every job and yields ``(job, result, error)`` as
the jobs finish, whatever the engine:

* no scheduler and one worker (or one job): in this process, one job after the other, with
  no dask start-up cost (tests, debugging);
* no scheduler and ``workers > 1``: a :class:`distributed.LocalCluster` of that many worker
  processes (one thread each, no dashboard, no memory limit), started for the batch and
  closed after it;
* a scheduler address (:func:`set_scheduler`, the command line's ``--scheduler``, or the
  environment variable ``ANDI2KIT_SCHEDULER``): the jobs go to that existing cluster, whose
  workers must import the same andi2kit and see the same file system; ``workers`` is then
  ignored.

The callers keep their own failure isolation (a job's exception is yielded as its error),
resume and progress bars. SIGTERM to this process is treated like Ctrl-C; on either, or on
any error, the pending jobs are cancelled and the client and local cluster are closed, so no
worker process of a local cluster outlives the command (they also exit when this process dies
by SIGKILL: dask's worker processes watch a pipe to their parent). A job already running on
an external cluster cannot be stopped from here and finishes there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator

from andi2kit.errors import OptionError

log = logging.getLogger(__name__)

#: Environment variable read when no scheduler was set explicitly.
ENV_SCHEDULER = "ANDI2KIT_SCHEDULER"
#: Seconds to reach a scheduler before giving up.
CONNECT_TIMEOUT = 10.0
#: Seconds to wait for a first worker when the scheduler has none.
WORKER_TIMEOUT = 30.0
#: Seconds a local cluster gets to close before its worker processes are killed.
CLOSE_TIMEOUT = 10.0

_ADDRESS = re.compile(r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:]+\]|[^\s:/\[\]]+)"
                      r":(?P<port>\d{1,5})/?$")
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")

_settings: dict[str, str | None] = {"scheduler": None}
_worker_state: dict[str, bool] = {}


def check_address(address: str) -> str:
    """The scheduler ``address`` with its scheme (``tcp://`` by default).

    Raises
    ------
    OptionError
        If it is not ``[SCHEME://]HOST:PORT`` with a dask scheme and a port in 1-65535.
    """
    m = _ADDRESS.match(address.strip())
    scheme = (m.group("scheme") or "tcp") if m else None
    if m is None or scheme not in _SCHEMES or not 0 < int(m.group("port")) < 65536:
        raise OptionError(f"scheduler address {address!r}: expected [tcp://]HOST:PORT, "
                          "e.g. tcp://127.0.0.1:8786")
    return f"{scheme}://{m.group('host')}:{int(m.group('port'))}"


def set_scheduler(address: str | None) -> None:
    """Send every following job batch to the dask scheduler at ``address`` (None: decide
    from ``workers`` and ``ANDI2KIT_SCHEDULER``)."""
    _settings["scheduler"] = None if not address else check_address(address)


@contextlib.contextmanager
def using_scheduler(address: str | None) -> Iterator[None]:
    """:func:`set_scheduler` for the duration of the block."""
    previous = _settings["scheduler"]
    set_scheduler(address)
    try:
        yield
    finally:
        _settings["scheduler"] = previous


def scheduler_address() -> str | None:
    """The scheduler job batches go to: the one set, else ``ANDI2KIT_SCHEDULER``, else None."""
    if _settings["scheduler"]:
        return _settings["scheduler"]
    env = os.environ.get(ENV_SCHEDULER, "").strip()
    return check_address(env) if env else None


def parallel(workers: int, n_jobs: int) -> bool:
    """Whether :func:`imap_unordered` would use dask for ``n_jobs`` jobs: a scheduler is set,
    or ``workers > 1`` and there is more than one job."""
    return n_jobs > 0 and (scheduler_address() is not None or (workers > 1 and n_jobs > 1))


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (``kill``) like Ctrl-C in the main thread while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def imap_unordered(fn: Callable, jobs: Iterable, workers: int
                   ) -> Iterator[tuple[object, object, BaseException | None]]:
    """Run ``fn(job)`` for every job, in this process, a local cluster or a scheduler's.

    Parameters
    ----------
    fn : callable
        A module-level function (workers import it by name).
    jobs : iterable
        Picklable arguments, one call each.
    workers : int
        Worker processes of a local cluster; 1 runs the jobs here. Ignored when a scheduler
        is set (:func:`scheduler_address`).

    Yields
    ------
    job, result, error
        In completion order; ``error`` is the exception the job raised, or why its worker
        could not finish it (``result`` is then None).

    Raises
    ------
    OptionError
        If the scheduler cannot be reached, has no worker, or its workers cannot import
        andi2kit.
    """
    jobs = list(jobs)
    if not jobs:
        return
    address = scheduler_address()
    if address is None and min(workers, len(jobs)) <= 1:
        yield from _in_process(fn, jobs)
        return
    with sigterm_interrupts(), _quiet_dask(), _client(address, min(workers, len(jobs))) as client:
        yield from _as_completed(client, fn, jobs)


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    # the local scheduler and nannies log here, some loggers with levels of their own, and a
    # library may have given the root logger a handler: their lines mean nothing to a user
    # (-v: kept)
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    import distributed  # noqa: F401  (creates its loggers)

    top = logging.getLogger("distributed")
    loggers = [top] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)
                       if n.startswith("distributed.")]
    previous = [(lg, lg.level) for lg in loggers]
    propagate = top.propagate
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    top.propagate = False
    try:
        yield
    finally:
        top.propagate = propagate
        for lg, level in previous:
            lg.setLevel(level)


def _in_process(fn: Callable, jobs: list) -> Iterator[tuple[object, object, BaseException | None]]:
    for job in jobs:
        try:
            res = fn(job)
        except Exception as exc:  # the caller decides, as for a remote job
            yield job, None, exc
        else:
            yield job, res, None


class _Call:
    """``fn(job)`` as one opaque argument: dask must not look inside the job's tuples."""

    __slots__ = ("fn", "job")

    def __init__(self, fn: Callable, job: object) -> None:
        self.fn, self.job = fn, job

    def __getstate__(self) -> tuple:
        return self.fn, self.job

    def __setstate__(self, state: tuple) -> None:
        self.fn, self.job = state


def _call(call: _Call) -> object:
    _own_random_for_dask()
    return call.fn(call.job)


class _OwnRandom(random.Random):
    """A generator with the ``random`` module's other names (``Random``, ...)."""

    def __getattr__(self, name: str) -> object:
        return getattr(random, name)


def _own_random_for_dask() -> None:
    """Give the dask modules loaded in this worker a generator of their own.

    A worker sizes every message it sends (heartbeats included) with ``dask.sizeof``, which
    samples with the ``random`` module's global generator from another thread: its draws
    would interleave with a job's (andi-datasets' video rendering seeds NumPy from it) and
    change the bytes of a seeded simulation. Idempotent; jobs use the global one as before.
    """
    if _worker_state.get("own_random"):
        return
    own = _OwnRandom()
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("dask", "distributed", "tornado") \
                and getattr(module, "random", None) is random:
            module.random = own
    _worker_state["own_random"] = True


def _as_completed(client, fn: Callable, jobs: list
                  ) -> Iterator[tuple[object, object, BaseException | None]]:
    from distributed import as_completed

    batch = uuid.uuid4().hex[:12]
    name = getattr(fn, "__name__", "job").strip("_") or "job"
    keys = [f"andi2kit-{name}-{batch}-{i}" for i in range(len(jobs))]
    # pure=False and unique keys: a shared scheduler never returns another run's result
    futures = client.map(_call, [_Call(fn, j) for j in jobs], key=keys, pure=False)
    job_of = dict(zip(keys, jobs, strict=True))
    try:
        for fut in as_completed(futures, loop=client.loop):
            job = job_of[fut.key]
            try:
                res = fut.result()
            except Exception as exc:  # raised by the job, or its worker died (KilledWorker)
                yield job, None, exc
            else:
                yield job, res, None
            fut.release()
    finally:
        with contextlib.suppress(Exception):
            client.cancel([f for f in futures if not f.done()], force=True)


@contextlib.contextmanager
def _client(address: str | None, workers: int) -> Iterator:
    from distributed import Client

    cluster = client = None
    procs: list = []
    try:
        if address is None:
            cluster = _local_cluster(workers)
            procs = _worker_processes(cluster)
            client = Client(cluster, set_as_default=False)
        else:
            client = _connect(address)
        yield client
    finally:
        _close(client, cluster, procs)


def _local_cluster(workers: int):
    from distributed import LocalCluster

    log.info("starting a local dask cluster of %d worker processes", workers)
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                        host="127.0.0.1", scheduler_port=0, dashboard_address="127.0.0.1:0",
                        memory_limit=0, silence_logs=logging.CRITICAL,
                        preload=["andi2kit.execution"])


def _worker_processes(cluster) -> list:
    import psutil

    procs = []
    for nanny in cluster.workers.values():
        with contextlib.suppress(Exception):
            procs.append(psutil.Process(nanny.process.pid))
    return procs


def _connect(address: str):
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise OptionError(f"scheduler {address} (--scheduler or {ENV_SCHEDULER}): no answer "
                          f"within {CONNECT_TIMEOUT:g} s ({type(exc).__name__})") from None
    try:
        if not client.scheduler_info().get("workers"):
            log.info("%s: waiting for a worker", address)
            try:
                client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
            except TimeoutError:
                raise OptionError(f"scheduler {address}: no worker joined within "
                                  f"{WORKER_TIMEOUT:g} s (start `dask worker {address}`)"
                                  ) from None
        _check_workers(client, address)
    except BaseException:
        client.close()
        raise
    return client


def _check_workers(client, address: str) -> None:
    from andi2kit import __version__

    found = client.run(_worker_version, on_error="return")
    bad = {w: v for w, v in found.items() if isinstance(v, BaseException)}
    if bad:
        worker, exc = next(iter(bad.items()))
        raise OptionError(f"scheduler {address}: worker {worker} cannot import andi2kit "
                          f"({type(exc).__name__}: {exc}); start the workers from an "
                          "environment that has it")
    other = sorted({v for v in found.values() if v != __version__})
    if other:
        log.warning("workers of %s run andi2kit %s, this process %s", address,
                    ", ".join(other), __version__)
    log.info("sending jobs to %s (%d workers)", address, len(found))


def _worker_version() -> str:
    from andi2kit import __version__

    return __version__


def _close(client, cluster, procs: list) -> None:
    """Close the client and the local cluster; kill worker processes still alive."""
    if client is not None:
        with contextlib.suppress(Exception):
            client.close(timeout=CLOSE_TIMEOUT)
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close(timeout=CLOSE_TIMEOUT)
    for p in procs:  # psutil checks the start time: a reused pid is not ours
        with contextlib.suppress(Exception):
            if p.is_running():
                p.kill()
    if procs:
        log.debug("closed the local cluster (%d worker processes)", len(procs))


def dask_setup(worker) -> None:
    """Worker preload: Ctrl-C in the terminal reaches the workers too, but the parent stops
    them (it cancels the jobs and closes the cluster), so they ignore it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
