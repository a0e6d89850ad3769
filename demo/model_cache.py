"""The one model cache every tab shares: an LRU of a few loaded checkpoints.

An entry is keyed by the file's resolved path, modification time and size, so a checkpoint is read
from disk once, and a file that changes (a run that saved again, a retrained model at the same path)
is loaded afresh and replaces the old entry for that path. Models go to the GPU when there is one.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Optional

from ddpm import LoadedCheckpoint, load_checkpoint, pick_device

CacheKey = tuple[str, int, int]   # (resolved path, mtime_ns, size)


def file_key(path: str | os.PathLike) -> CacheKey:
    p = Path(path).resolve()
    st = p.stat()                 # FileNotFoundError for a missing file, as load_checkpoint would raise
    return (str(p), st.st_mtime_ns, st.st_size)


class ModelCache:
    def __init__(self, capacity: int = 4, device: Optional[str] = None):
        self.capacity = capacity
        self.device = str(pick_device(device or "auto"))
        self._entries: OrderedDict[CacheKey, LoadedCheckpoint] = OrderedDict()
        self._hashes: dict[CacheKey, str] = {}
        self._lock = threading.Lock()
        self.loads = 0            # how many times a file was actually read (for tests and the status line)

    def get(self, path: str | os.PathLike, max_bytes: Optional[int] = None) -> LoadedCheckpoint:
        """The loaded checkpoint at `path`; raises FileNotFoundError or ddpm.CheckpointError."""
        key = file_key(path)
        with self._lock:      # one load at a time: ten requests for a new file load it once
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            kwargs = {} if max_bytes is None else {"max_bytes": max_bytes}
            ckpt = load_checkpoint(key[0], self.device, **kwargs)
            self.loads += 1
            for old in [k for k in self._entries if k[0] == key[0]]:   # the same file, changed since
                del self._entries[old]
                self._hashes.pop(old, None)
            self._entries[key] = ckpt
            while len(self._entries) > self.capacity:
                old, _ = self._entries.popitem(last=False)
                self._hashes.pop(old, None)
            return ckpt

    def sha256(self, path: str | os.PathLike) -> str:
        """SHA-256 of the file's bytes, computed once per (path, mtime, size)."""
        key = file_key(path)
        with self._lock:
            if key in self._hashes:
                return self._hashes[key]
        h = hashlib.sha256()
        with open(key[0], "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        with self._lock:
            self._hashes[key] = digest
            while len(self._hashes) > 64:
                self._hashes.pop(next(iter(self._hashes)))
        return digest

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._hashes.clear()

    def __len__(self) -> int:
        return len(self._entries)


_CACHE: Optional[ModelCache] = None


def inference_threads() -> int:
    """CPU threads per sampling request: the cores shared out over the requests that run at once.

    Small models on a busy CPU run ~10× slower with two intra-op threads fighting other processes than
    with one (measured on the 2-core dev machine: 150 ms vs 14 ms per forward pass), so the app runs
    requests side by side instead. DDPM_WORKBENCH_TORCH_THREADS overrides."""
    env = os.environ.get("DDPM_WORKBENCH_TORCH_THREADS")
    if env:
        return max(1, int(env))
    from .limits import CONCURRENCY_LIMIT
    return max(1, (os.cpu_count() or 1) // CONCURRENCY_LIMIT)


def get_cache() -> ModelCache:
    """The process-wide cache the handlers use (created on first use, which also sets torch's threads)."""
    global _CACHE
    if _CACHE is None:
        import torch
        torch.set_num_threads(inference_threads())
        _CACHE = ModelCache()
    return _CACHE
