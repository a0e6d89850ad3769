"""What keeps one request from costing the server more than it may: work stops when its client goes away, and
every refused or abandoned request leaves one line in the server log (never a traceback), also when gradio's
own input checks refuse it before any handler runs.

gradio 6.31 marks a running event dead (`event.alive = False`) when its client's event stream closes (a tab
closed, a dropped connection, a killed client), and drops it from the queue's active jobs on `/cancel` (what
`gradio_client`'s `job.cancel()` sends); a queued event is simply removed. But a plain function already
running keeps running (and keeps its concurrency slot) until it returns. So the sampling loop's progress
callback asks `client_gone()` at every network call and raises `ClientGone`, which ends the work within one
network call.

Work that outlasts its wall time stops the same way: the budget check (demo/common.py check_work) starts the
request's clock, and `check` raises a gr.Error saying how long it ran once it is past
limits.max_request_seconds(), so a request whose cost the budget priced wrong still ends.

A request's work also waits for its lane, so a small request is never stuck behind big ones: gradio lets
limits.ADMITTED_REQUESTS compute requests into their handlers at once, each prices its work (check_work), and
`enter_lane` then holds it until a slot of its kind is free (`Lanes`: at most limits.HEAVY_SLOTS of the
limits.CONCURRENCY_LIMIT slots run heavy work, over limits.LIGHT_WORK_TFLOP). The wait is cancellable (a client
that leaves frees its place), bounded by limits.max_wait_seconds(), and counted in no budget: the request's
clock starts once its lane is entered. `common.bind` opens each handler's `request()` scope, which gives the
lane back however the handler ends.

    callback = watch(progress_callback)    # raises ClientGone once the request's client has gone
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections import deque
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator, NamedTuple, Optional

from . import limits

log = logging.getLogger("ddpm_workbench")


class ClientGone(Exception):
    """The client of the running request disconnected or cancelled it: stop the work."""


def _current_event():
    """(queue, event id) of the request this thread runs, or (None, None) outside a gradio queue."""
    try:
        from gradio.context import LocalContext
    except ImportError:          # pragma: no cover - gradio is a dependency of demo/
        return None, None
    blocks = LocalContext.blocks.get(None)
    event_id = LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None) if blocks is not None else None
    return (queue, event_id) if queue is not None and event_id else (None, None)


def client_gone() -> bool:
    """True once the client of the request running in this thread has disconnected or cancelled it.
    False outside a gradio request (a handler called directly, a test, the Python API)."""
    queue, event_id = _current_event()
    if queue is None:
        return False
    for job in list(getattr(queue, "active_jobs", None) or []):
        for event in job or []:
            if getattr(event, "_id", None) == event_id:
                return not getattr(event, "alive", True)
    return True                  # no longer among the active jobs: /cancel took it off


class Clock(NamedTuple):
    started: float                 # time.monotonic() when the request's work started
    limit_s: float                 # the wall time it may run


# per request: gradio runs each handler in a copy of the context, so one request's clock is not another's
_clock: ContextVar[Optional[Clock]] = ContextVar("ddpm_workbench_request_clock", default=None)


def start_clock(limit_s: float) -> Clock:
    """The request's work starts now and may run `limit_s` seconds (check raises after that)."""
    clock = Clock(time.monotonic(), float(limit_s))
    _clock.set(clock)
    return clock


def check_time() -> None:
    """Raise a gr.Error saying how long the work ran, and what to lower, once the request's clock is past its
    limit; nothing when no clock was started (work outside a budgeted request)."""
    clock = _clock.get()
    if clock is None:
        return
    ran = time.monotonic() - clock.started
    if ran > clock.limit_s:
        from .errors import user_error
        from .i18n import t
        raise user_error(t("work.too_long", seconds=ran, limit=clock.limit_s))


def check(where: str) -> None:
    """Raise ClientGone (saying how far the work got: `where`) if the request's client has gone, and a gr.Error
    once the request has run past its wall time (check_time)."""
    if client_gone():
        raise ClientGone(where)
    check_time()


def watch(callback: Optional[Callable[[int, int], None]] = None) -> Callable[[int, int], None]:
    """A generate()-style (done, total) callback that first raises ClientGone if the client has gone, then
    calls `callback` (e.g. the gr.Progress update)."""
    def cb(done: int, total: int) -> None:
        check(f"{done:,} of {total:,} network calls")
        if callback is not None:
            callback(done, total)
    return cb


# ---------------------------------------------------------------------------------------------- lanes
class LanesFull(Exception):
    """Too many heavy requests already wait for the heavy slot."""


class WaitedTooLong(Exception):
    """No slot of the request's kind came free within its longest wait."""


class Lanes:
    """The compute slots, shared out by the work a request does: `slots` requests compute at once, at most
    `heavy_slots` of them heavy, so the others always serve light ones. Each kind waits first come, first served;
    at most `heavy_waiting` heavy requests wait (one more is refused at once)."""

    def __init__(self, slots: int, heavy_slots: int, heavy_waiting: int):
        self.slots = max(1, int(slots))
        self.heavy_slots = max(1, min(int(heavy_slots), self.slots))
        self.heavy_waiting = max(0, int(heavy_waiting))
        self._changed = threading.Condition()
        self.running = {True: 0, False: 0}                 # heavy: how many run
        self.waiting = {True: deque(), False: deque()}      # heavy: the tickets waiting, in order of arrival

    def _free(self, heavy: bool) -> bool:
        return sum(self.running.values()) < self.slots and (not heavy or self.running[True] < self.heavy_slots)

    def enter(self, heavy: bool, max_wait_s: float, gone: Callable[[], bool] = lambda: False,
              on_wait: Optional[Callable[[int], None]] = None, poll_s: float = 0.25) -> Callable[[], None]:
        """Wait for a slot of this kind (asking `gone()` every `poll_s`: ClientGone once the client has left), then
        take it; returns the function that gives it back. on_wait(requests of its kind ahead) once, if it waits."""
        ticket = object()
        with self._changed:
            queue = self.waiting[heavy]
            must_wait = bool(queue) or not self._free(heavy)
            if must_wait and heavy and len(queue) >= self.heavy_waiting:
                raise LanesFull(len(queue))
            queue.append(ticket)
            t0 = time.monotonic()
            try:
                if must_wait and on_wait is not None:
                    on_wait(len(queue) - 1 + self.running[heavy])
                while queue[0] is not ticket or not self._free(heavy):
                    waited = time.monotonic() - t0
                    if gone():
                        raise ClientGone(f"{waited:,.0f} s waiting for a slot, before any work")
                    if waited >= max_wait_s:
                        raise WaitedTooLong(waited)
                    self._changed.wait(min(poll_s, max_wait_s - waited))
                self.running[heavy] += 1
            finally:
                queue.remove(ticket)
                self._changed.notify_all()          # the next in line is the head now, or this one left
        released = []

        def release() -> None:
            with self._changed:
                if not released:
                    released.append(True)
                    self.running[heavy] -= 1
                    self._changed.notify_all()
        return release


_LANES: Optional[Lanes] = None
# per request: the release of the lane its work holds ([] until it enters one); None outside a request() scope
_held: ContextVar[Optional[list]] = ContextVar("ddpm_workbench_request_lane", default=None)


def lanes() -> Lanes:
    """The app's lanes (created on first use from demo/limits.py)."""
    global _LANES
    if _LANES is None:
        _LANES = Lanes(limits.CONCURRENCY_LIMIT, limits.HEAVY_SLOTS, limits.MAX_HEAVY_WAITING)
    return _LANES


@contextmanager
def request() -> Iterator[None]:
    """One handler call (common.bind): the lane its work enters (enter_lane) is given back when it ends."""
    held: list = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        for release in held:
            release()


def enter_lane(work_flop: float) -> None:
    """Wait until the request's work may run: a light slot for work up to limits.light_work_flop(), the heavy slot
    above it. A gr.Error saying so when too many heavy requests wait already, or none came free in
    limits.max_wait_seconds(); ClientGone when the client leaves while it waits. Outside a request() scope (a
    handler called directly: a test, the Python API) and for a request already in its lane, nothing."""
    held = _held.get()
    if held is None or held:
        return
    from .errors import info, user_error
    from .i18n import t
    heavy = work_flop > limits.light_work_flop()
    light = limits.flop_text(limits.light_work_flop())

    def say_waiting(ahead: int) -> None:
        if _current_event()[0] is not None:           # a toast on the page; nothing for a direct call
            info(t("lane.wait_heavy" if heavy else "lane.wait_light", ahead=ahead, light=light))
    try:
        held.append(lanes().enter(heavy, limits.max_wait_seconds(), gone=lambda: client_gone(),
                                  on_wait=say_waiting))
    except LanesFull as full:
        raise user_error(t("lane.full", waiting=full.args[0], light=light)) from None
    except WaitedTooLong as waited:
        raise user_error(t("lane.waited", seconds=waited.args[0], light=light)) from None


# ------------------------------------------------------------------------------------------------ log
def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def log_refused(api: str, message: str) -> None:
    log.info("refused %s: %s", api, one_line(message))


def log_cancelled(api: str, where: str) -> None:
    log.info("stopped %s after %s: the client went away", api, where)


def _is_input_error(exc: Optional[BaseException]) -> bool:
    """An exception from gradio's own checks of a request's payload (before any handler runs): a value that is
    not the component's data model (e.g. a path string where a file's FileData belongs), a file outside the
    upload folder, or a gr.Error raised by a component's preprocessing (the handlers' own carry
    print_exception=False and are never printed)."""
    from gradio.exceptions import ComponentProcessingError, Error, InvalidPathError
    try:
        from pydantic import ValidationError
    except ImportError:          # pragma: no cover - pydantic is a dependency of gradio
        ValidationError = ()
    return isinstance(exc, (ComponentProcessingError, Error, InvalidPathError, ValidationError))


class _OneLineInputErrors:
    """Stands in for the `traceback` module inside gradio's queue: a request refused by gradio's own input checks
    prints one line; anything else (a bug in a handler) still prints its whole traceback."""

    def __getattr__(self, name):
        return getattr(traceback, name)

    @staticmethod
    def print_exc(*args, **kwargs) -> None:
        exc = sys.exc_info()[1]
        if _is_input_error(exc):
            log_refused("a request (gradio's input check)", f"{type(exc).__name__}: {exc}")
        else:
            traceback.print_exc(*args, **kwargs)


def configure_logging(stream=None) -> None:
    """app.py: the workbench's own log lines (refusals, cancellations) to stderr, one line each, and gradio's
    input-check refusals as one line each instead of a traceback."""
    import gradio.queueing
    gradio.queueing.traceback = _OneLineInputErrors()
    if any(getattr(h, "_ddpm_workbench", False) for h in log.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler._ddpm_workbench = True
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
