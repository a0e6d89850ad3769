"""The files of a run folder: replaced atomically (temporary file, fsync, rename), except the append-only loss
log metrics.jsonl, whose lines each go out in one write + flush (a killed run leaves at most its last line cut
short; `trim_metrics` drops it on resume)."""
from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import atomic_write
from .messages import MessageError


class OutputNotWritable(MessageError, PermissionError):
    """An output folder (--out) this process cannot write to."""


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise OutputNotWritable("run.not_writable", out=str(out), error=e.strerror) from None


def trim_metrics(path: Path, step: int) -> None:
    """Keep only the log lines up to `step`: a fresh run (step 0) in an old folder must not append to the old
    loss curve, and a run resumed from an earlier checkpoint must not log the same steps twice."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):  # a line cut short by a killed run
            pass
    atomic_write(path, lambda tmp: Path(tmp).write_text("".join(line + "\n" for line in kept)))


def append_line(path: Path, line: str) -> None:
    """Append one line to an append-only log with a single write and a flush: a killed process leaves at most
    the last line cut short (never a line interleaved with another); readers skip a line that does not parse."""
    with open(path, "a") as f:
        f.write(line + "\n")
        f.flush()


def write_json(path: Path, payload: dict) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(payload, indent=2)))
