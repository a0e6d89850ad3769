"""The app's process as tools/hostile_requests.py watches it: found by the port it listens on, its peak resident
memory (VmHWM, reset before each request through /proc/PID/clear_refs) and the lines each request leaves in its log."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Optional


def find_pid(port: int) -> Optional[int]:
    """The process listening on 127.0.0.1:port (or any address), by the socket's inode in /proc/net/tcp[6]."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


class Watch:
    """The app's memory and log around one request."""

    def __init__(self, pid: Optional[int], log: Optional[Path]):
        self.pid, self.log = pid, log
        self._rss = 0
        self._mark = 0

    def _status(self, key: str) -> Optional[int]:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        except (OSError, TypeError):
            return None
        return None

    def rss_mb(self) -> Optional[float]:
        rss = self._status("VmRSS") if self.pid else None
        return rss / 2**20 if rss is not None else None

    def start(self) -> None:
        if self.pid:
            try:                                  # "5": reset the peak resident set size to the current one
                Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            except OSError:
                pass
            self._rss = self._status("VmRSS") or 0
        self._mark = self.log.stat().st_size if self.log and self.log.exists() else 0

    def stop(self) -> tuple[Optional[float], list[str]]:
        growth = None
        if self.pid:
            peak = self._status("VmHWM")
            growth = max(0, peak - self._rss) / 2**20 if peak is not None else None
        lines = []
        if self.log and self.log.exists():
            time.sleep(0.05)                      # the log line is written as the reply goes out
            with open(self.log, "rb") as f:
                f.seek(self._mark)
                lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
        return growth, lines
