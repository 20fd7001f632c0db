"""Running one EVM execution on a throwaway thread that can be stopped at a deadline.

``eth_call`` and its kin (gas estimates, access lists, traces) run on state that is
thrown away afterwards, so stopping one half-way loses nothing. The stop is an
asynchronous exception raised into the executing thread
(``PyThreadState_SetAsyncExc``): the interpreter delivers it at the thread's next
bytecode boundary, whatever Python code runs there — py-evm's plain loop or any faster
computation class — so the deadline needs no hook in the EVM. It is not delivered
during one long C call (a big ``pow`` in MODEXP, one huge memory extension); the gas
cap bounds those.

Why a thread and not a worker process over the store's read transactions: the default
devnet keeps its chain in memory, which another process cannot read; a process would
need its own LMDB environment (the data directory is locked to one node) and its own
py-evm objects warmed per call. A thread reads the same committed store through the
chain's read path at no cost. The price is the GIL: calls do not run in parallel with
each other, only interleaved with everything else the node does.

A stray stop can never hit the wrong code: :meth:`Job.abort` raises only while the job
has not finished (checked under a lock the job takes as soon as its function returns),
and at most once; and the thread is the job's own, ended with it.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import Callable
from typing import Any


class Aborted(BaseException):
    """Raised inside a job's thread to stop it (a BaseException, so no ``except
    Exception`` on the way out can swallow it)."""


class Job:
    """``fn(*args)`` on a daemon thread of its own; the outcome is read once it is done."""

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "sumchain-call") -> None:
        self._fn = fn
        self._args = args
        self._lock = threading.Lock()
        self._finished = False
        self._aborted = False
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.timed_out = False
        """True when the job was stopped by :meth:`abort` before its function returned."""
        self._callbacks: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Job:
        self._thread.start()
        return self

    def on_done(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` (on the job's thread) when the job is done; now if it is."""
        with self._lock:
            if not self.done.is_set():
                self._callbacks.append(callback)
                return
        callback()

    def _run(self) -> None:
        try:
            try:
                self.result = self._fn(*self._args)
            except Aborted:
                self.timed_out = True
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting side
                self.error = exc
        except Aborted:  # the stop landed in a handler above, at the deadline anyway
            self.timed_out = True
        while True:  # a stop raised just after the function returned lands here: retry
            try:
                with self._lock:
                    self._finished = True
                    self.done.set()
                    callbacks, self._callbacks = self._callbacks, []
                break
            except Aborted:
                continue
        for callback in callbacks:
            try:
                callback()
            except RuntimeError:  # the event loop waiting for it is gone (shutdown)
                pass

    def abort(self) -> bool:
        """Stop the job if it is still running; True if a stop was sent."""
        with self._lock:
            if self._finished or self._aborted or self._thread.ident is None:
                return False
            self._aborted = True
            sent = ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(self._thread.ident), ctypes.py_object(Aborted)
            )
            return bool(sent)

    def wait(self, timeout: float | None) -> bool:
        """Block until done or ``timeout`` seconds; at the deadline stop the job and wait
        for its thread to unwind. True if it finished in time."""
        if self.done.wait(timeout):
            return True
        self.abort()
        self.done.wait()
        return not self.timed_out

    async def wait_async(self, timeout: float | None) -> bool:
        """:meth:`wait` for the event loop."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not finished.done():
                finished.set_result(None)

        def wake_soon() -> None:
            loop.call_soon_threadsafe(wake)

        self.on_done(wake_soon)
        try:
            await asyncio.wait_for(asyncio.shield(finished), timeout)
            return True
        except (TimeoutError, asyncio.CancelledError) as exc:
            self.abort()
            await asyncio.shield(finished)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return not self.timed_out
