"""Group processing of concurrent calls (the group-commit pattern of databases).

Concurrent unary ``Decide`` calls each arrive on their own gRPC worker thread. Deciding
them one by one costs one ledger transaction, one featurizer call and one policy call
per case; deciding the calls that are waiting *together* costs one of each per group.

:class:`GroupRunner` does that without a dispatcher thread and without adding latency to
a lone call: the first caller to arrive becomes the *leader* and processes every job
queued at that moment (its own included) in one call of ``process``; callers that
arrive meanwhile queue up and wait. When the leader is done it hands leadership to the
oldest waiting caller, which processes everything queued by then, and so on. A caller
that finds nobody leading runs its job at once, on its own thread: with one client the
runner is a lock acquisition and nothing more.

A group never holds two jobs with the same key (the same case): the second waits for
the next group, so it sees the first one's decision and contact reservation. That keeps
one process's unary calls apart only; the contact limits hold against streams, other
processes and replicas through the reservation's per-case lock and re-check
(:mod:`engine.reservations`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

J = TypeVar("J")
R = TypeVar("R")


class _Slot(Generic[J, R]):
    __slots__ = ("done", "error", "job", "key", "lead", "result", "taken")

    def __init__(self, job: J, key: Hashable) -> None:
        self.job = job
        self.key = key
        self.done = False
        self.lead = False
        self.taken = False
        """In a group being processed: it will be done, whatever its caller's deadline."""
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupRunner(Generic[J, R]):
    """Runs ``process(jobs) -> results`` over groups of concurrently submitted jobs.

    ``process`` returns one result per job, in order; a result that is an exception is
    raised in that job's caller. An exception escaping ``process`` is raised in every
    caller of the group.
    """

    def __init__(
        self,
        process: Callable[[Sequence[J]], Sequence[R | BaseException]],
        *,
        key: Callable[[J], Hashable],
        max_group: int = 64,
    ) -> None:
        if max_group < 1:
            raise ValueError("max_group must be >= 1")
        self._process = process
        self._key = key
        self._max_group = max_group
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Slot[J, R]] = []
        self._leading = False
        self.groups = 0
        """Groups processed so far (for tests and metrics)."""
        self.jobs = 0

    def submit(self, job: J, timeout: float | None = None) -> R:
        """Process ``job`` (possibly with others) and return its result, or raise its error.

        ``timeout``: seconds the job may wait in the queue; if no group has taken it by
        then, it is withdrawn unprocessed and :class:`TimeoutError` is raised. Once taken,
        it is waited for (the processing itself checks deadlines).
        """
        slot: _Slot[J, R] = _Slot(job, self._key(job))
        give_up = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._queue.append(slot)
            if self._leading:
                while not (slot.done or slot.lead):
                    if give_up is None or slot.taken:
                        self._cond.wait()
                        continue
                    remaining = give_up - time.monotonic()
                    if remaining <= 0:
                        self._queue.remove(slot)
                        raise TimeoutError("no group took the job before its deadline")
                    self._cond.wait(remaining)
            else:
                self._leading = True
                slot.lead = True
        if not slot.done:
            self._lead()
            if not slot.done:  # the leader's own job is always in its group
                raise RuntimeError("GroupRunner: the leader's job was not processed")
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _take(self) -> list[_Slot[J, R]]:
        """The next group (lock held): oldest first, one job per key, at most max_group."""
        group: list[_Slot[J, R]] = []
        keys: set[Hashable] = set()
        rest: list[_Slot[J, R]] = []
        for slot in self._queue:
            if len(group) < self._max_group and slot.key not in keys:
                keys.add(slot.key)
                slot.taken = True
                group.append(slot)
            else:
                rest.append(slot)
        self._queue = rest
        return group

    def _lead(self) -> None:
        """Process one group (which holds the leader's own job), then pass the lead on."""
        with self._cond:
            group = self._take()
        try:
            results = self._process([s.job for s in group])
            if len(results) != len(group):
                raise RuntimeError(f"process returned {len(results)} results for {len(group)}")
            for slot, result in zip(group, results, strict=True):
                if isinstance(result, BaseException):
                    slot.error = result
                else:
                    slot.result = result
        except BaseException as exc:  # every caller of the group learns of it
            for slot in group:
                slot.error = exc
        finally:
            with self._cond:
                self.groups += 1
                self.jobs += len(group)
                for slot in group:
                    slot.done = True
                    slot.lead = False
                if self._queue:
                    self._queue[0].lead = True  # the oldest waiter leads the next group
                else:
                    self._leading = False
                self._cond.notify_all()


__all__ = ["GroupRunner"]
