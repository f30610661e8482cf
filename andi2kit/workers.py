"""Process pools that stop with their parent.

:func:`imap_unordered` runs jobs in spawned worker processes and yields results as they
finish. SIGTERM to the parent is treated like Ctrl-C; on either (or any error) the pending
jobs are cancelled and every worker is terminated, not left running for minutes after its
parent died. Workers ignore Ctrl-C themselves (the parent stops them), exit on SIGTERM
through Python (so ``finally`` blocks remove temporary files) and, on Linux, receive
SIGTERM when the parent dies even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

log = logging.getLogger(__name__)


def _exit_on_sigterm(signum, frame) -> None:
    # SystemExit unwinds the job (its ``finally`` blocks remove temporary files); the pool's
    # worker loop catches it as the job's failure and would wait for more, hence the timer
    threading.Timer(1.0, os._exit, args=(128 + signum,)).start()
    raise SystemExit(128 + signum)


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with contextlib.suppress(Exception):  # Linux only: die with the parent
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


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
    """Run ``fn(job)`` for every job in ``workers`` spawned processes.

    Parameters
    ----------
    fn : callable
        A module-level function (it is pickled by name).
    jobs : iterable
        Picklable arguments, one call each.
    workers : int
        Processes.

    Yields
    ------
    job, result, error
        In completion order; ``error`` is the exception when the worker died (``result`` is
        then None).
    """
    import multiprocessing

    jobs = list(jobs)
    # spawn: the parent may hold threads (progress bar, TensorFlow) that fork would copy
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=max(1, min(workers, len(jobs))), mp_context=ctx,
                               initializer=_init_worker)
    try:
        with sigterm_interrupts():
            pending: dict[Future, object] = {pool.submit(fn, job): job for job in jobs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    job = pending.pop(fut)
                    try:
                        yield job, fut.result(), None
                    except Exception as exc:  # the worker process itself died
                        yield job, None, exc
    except BaseException:
        stop(pool)
        raise
    pool.shutdown(wait=True)


def stop(pool: ProcessPoolExecutor, timeout: float = 5.0) -> None:
    """Cancel a pool's pending jobs and terminate its workers (kill after ``timeout`` s)."""
    # take the processes first: shutdown() forgets them
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
    log.info("stopped %d worker process(es)", len(procs))
