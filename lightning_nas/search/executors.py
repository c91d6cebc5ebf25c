"""Executors for the jobs of the evolutionary searches: the in-process default and :func:`open_executor` by name.

The searches use only ``Executor.submit``, ``Future.result`` and ``Future.cancel``, so any
:class:`concurrent.futures.Executor` serves: :class:`InProcessExecutor` (one job after another in this process), a
:class:`~concurrent.futures.ProcessPoolExecutor`, Dask's ``client.get_executor()`` or a Ray adapter (the recipe is
in :class:`~lightning_nas.search.HierarchicalEvolution`).

Example:
    >>> with open_executor("inprocess") as executor:
    ...     [executor.submit(pow, 2, n).result() for n in (3, 10)]
    [8, 1024]
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, Literal, TypeVar

from lightning_nas.checks import check_number

__all__ = ["ExecutorKind", "InProcessExecutor", "open_executor"]

T = TypeVar("T")


class _DeferredFuture(Future):
    """A future that runs its call in the calling thread when its result (or exception) is first asked for."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self._call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None = (fn, args, kwargs)

    def run(self) -> None:
        if self._call is None:
            return
        fn, args, kwargs = self._call
        self._call = None
        if not self.set_running_or_notify_cancel():
            return
        try:
            result = fn(*args, **kwargs)
        except Exception as err:  # a KeyboardInterrupt propagates at once
            self.set_exception(err)
        else:
            self.set_result(result)

    def result(self, timeout: float | None = None) -> Any:
        self.run()
        return super().result(timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self.run()
        return super().exception(timeout)


class InProcessExecutor(Executor):
    """The default executor of the searches: runs each job in the calling process, when its result is asked for.

    Jobs therefore run one after another in the order the search reads them (submission order), and a failing job
    stops the search before the jobs after it run. ``shutdown(wait=True)`` runs the jobs nobody asked for yet.

    Example:
        >>> executor = InProcessExecutor()
        >>> future = executor.submit(pow, 2, 10)
        >>> future.done(), future.result(), future.done()
        (False, 1024, True)
    """

    def __init__(self) -> None:
        self._pending: list[_DeferredFuture] = []
        self._shutdown = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Schedule ``fn(*args, **kwargs)``; it runs when the returned future's result is first asked for.

        Raises:
            RuntimeError: If the executor was shut down.
        """
        if self._shutdown:
            raise RuntimeError("`InProcessExecutor.submit`: cannot schedule new jobs after `shutdown()`.")
        future = _DeferredFuture(fn, args, kwargs)
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Refuse new jobs; cancel (``cancel_futures``) or, with ``wait``, run the jobs not run yet."""
        self._shutdown = True
        pending, self._pending = self._pending, []
        for future in pending:
            if cancel_futures:
                future.cancel()
            elif wait:
                future.run()


ExecutorKind = Literal["inprocess", "processes", "dask"]
"""The executors :func:`open_executor` builds by name (``lightning-nas evolve --executor``)."""
_EXECUTOR_KINDS: tuple[str, ...] = ("inprocess", "processes", "dask")


@contextlib.contextmanager
def open_executor(
    kind: ExecutorKind = "inprocess", *, max_workers: int | None = None, scheduler_address: str | None = None
) -> Iterator[Executor]:
    """An executor for the searches' jobs, by name; on exit it is shut down (Dask: its client and cluster closed).

    * ``"inprocess"``: :class:`InProcessExecutor` (one job after another in this process, the searches' default).
    * ``"processes"``: a :class:`~concurrent.futures.ProcessPoolExecutor` of ``max_workers`` processes (default: one
      per CPU) started with ``spawn``: fresh interpreters, safe whatever threads (Dask's, a progress bar's) or CUDA
      state this process has, where a forked worker can hang on a lock another thread held at the fork; each worker
      imports the library once, and ``train_fn`` must be importable by name. On an error the jobs not started are
      cancelled and the running ones finish (except after Ctrl-C), so their results are recorded for the resumed
      search.
    * ``"dask"``: ``client.get_executor(pure=False)`` (training writes files: not a pure function) of a
      ``distributed.Client`` connected to the running scheduler at ``scheduler_address``, or, without an address, to a
      new ``LocalCluster(n_workers=max_workers, threads_per_worker=1)`` (one job per worker process: a job seeds its
      whole process) whose worker processes are not daemonic, so the children's data loaders can start worker
      processes. Needs ``pip install "lightning-nas[dask]"``.

    Args:
        kind: ``"inprocess"``, ``"processes"`` or ``"dask"``.
        max_workers: Processes of the pool or of the local Dask cluster; ``None`` for the library's default.
        scheduler_address: Address of a running Dask scheduler (e.g. ``"tcp://10.0.0.1:8786"``); only with
            ``kind="dask"``; its workers are the cluster's own (start them with ``--nthreads 1``).

    Raises:
        ValueError: If ``kind`` is unknown, ``max_workers`` is not a positive integer, or an option does not apply
            to ``kind``.
        ImportError: If ``kind="dask"`` and ``distributed`` is not installed.

    Example:
        >>> with open_executor("inprocess") as executor:  # "processes", max_workers=4: the same, in 4 processes
        ...     executor.submit(pow, 2, 10).result()
        1024
    """
    owner = "open_executor"
    if kind not in _EXECUTOR_KINDS:
        raise ValueError(f"`{owner}(kind={kind!r})`: `kind` must be one of {list(_EXECUTOR_KINDS)}. Got {kind!r}.")
    if max_workers is not None:
        check_number(owner, "max_workers", max_workers, low=1, integer=True)
        if kind == "inprocess" or scheduler_address is not None:
            got = f"kind={kind!r}" + (f", scheduler_address={scheduler_address!r}" if scheduler_address else "")
            raise ValueError(
                f"`{owner}(max_workers={max_workers!r})`: `max_workers` applies to the 'processes' executor and to a "
                "local Dask cluster (kind='dask' without `scheduler_address`); a running Dask scheduler has its own "
                f"workers. Got {got} instead."
            )
    if scheduler_address is not None and kind != "dask":
        raise ValueError(
            f"`{owner}(scheduler_address={scheduler_address!r})`: `scheduler_address` needs kind='dask'. Got "
            f"kind={kind!r} instead."
        )
    if kind == "inprocess":
        executor = InProcessExecutor()
        try:
            yield executor
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
    elif kind == "processes":
        pool = ProcessPoolExecutor(max_workers=max_workers, mp_context=multiprocessing.get_context("spawn"))
        try:
            yield pool
        except BaseException as err:  # on Ctrl-C the workers are interrupted too: do not wait for them
            pool.shutdown(wait=not isinstance(err, KeyboardInterrupt), cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    else:
        try:
            import dask
            import distributed
        except ImportError as err:
            raise ImportError(
                f"`{owner}(kind='dask')` needs Dask's distributed scheduler: pip install 'lightning-nas[dask]' ({err})."
            ) from err
        with contextlib.ExitStack() as stack:
            if scheduler_address is not None:
                client = stack.enter_context(distributed.Client(scheduler_address))
            else:
                stack.enter_context(dask.config.set({"distributed.worker.daemon": False}))
                cluster = stack.enter_context(
                    distributed.LocalCluster(n_workers=max_workers, threads_per_worker=1, processes=True)
                )
                client = stack.enter_context(distributed.Client(cluster))
            yield client.get_executor(pure=False)
