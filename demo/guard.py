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

    callback = watch(progress_callback)    # raises ClientGone once the request's client has gone
"""
from __future__ import annotations

import logging
import sys
import time
import traceback
from contextvars import ContextVar
from typing import Callable, NamedTuple, Optional

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
        import gradio as gr
        from .i18n import t
        raise gr.Error(t("work.too_long", seconds=ran, limit=clock.limit_s), print_exception=False)


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
