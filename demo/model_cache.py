"""The one model cache every tab shares: loaded checkpoints, least recently used first out, bounded in bytes.

    bytes(entry) = parameters + buffers + the schedule's tables   (LoadedCheckpoint.nbytes)

A file's size is estimated from its header (ddpm.formats.limits.estimate_bytes: the range-checked config's
shapes, built on the "meta" device, which allocates nothing, and T) before any weight or table is allocated,
so a model that could never fit is refused at once, with a message; the loaded entry is measured again. An entry is keyed by the file's resolved path,
modification time and size, so a checkpoint is read once, and a file that changes (a run that saved again)
is loaded afresh and replaces the old entry for that path. Models go to the GPU when there is one.

Each entry also holds the cost of one network call on one image, for the work budget (demo/limits.py), counted
from the model's configuration: its architecture built again on the "meta" device (tensors with shapes and no
storage) and called once under torch's FlopCounterMode, so nothing is computed or allocated — convolutions,
linear layers, and each attention layer's QKᵀ and AV (2·2·L²·C for L = h·w tokens of C channels). A file is read
and counted under a load lock that only other loads wait on; a request for a model already loaded never waits
on a load.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from ddpm import CheckpointError, LoadedCheckpoint, load_checkpoint, pick_device, read_metadata
from ddpm.formats import diffusers as diffusers_format
from ddpm.formats.base import diffusion_bytes
from ddpm.formats.limits import SkipInPlace, check_diffusion_dict, check_unet_dict, estimate_bytes, unet_shapes
from ddpm.messages import Message, msg
from ddpm.unet import UNet

from . import limits

CacheKey = tuple[str, int, int]   # (resolved path, mtime_ns, size)


def file_key(path: str | os.PathLike) -> CacheKey:
    p = Path(path).resolve()
    st = p.stat()                 # FileNotFoundError for a missing file, as load_checkpoint would raise
    return (str(p), st.st_mtime_ns, st.st_size)


class ModelTooLargeError(CheckpointError):
    """A model that needs more memory than the whole cache may hold."""


# ------------------------------------------------------------------------------------------------ sizes
@dataclass(frozen=True)
class Size:
    total: int                    # parameters + buffers + schedule tables
    T: int

    @property
    def tables(self) -> int:
        return diffusion_bytes(self.T)

    def describe(self) -> Message:
        return msg("cache.size", total=_mb(self.total), params=_mb(self.total - self.tables), T=self.T,
                   tables=_mb(self.tables))


def _mb(b: float) -> str:
    return f"{b / 2**20:,.1f} MB" if b < 2**30 else f"{b / 2**30:,.1f} GB"


def estimate_size(path: str | os.PathLike, max_file_bytes: Optional[int] = None) -> Optional[Size]:
    """The memory a checkpoint file will take once loaded, from its header alone (the config range-checked,
    the architecture's shapes built on the meta device: nothing is allocated); None for a diffusers folder or
    .zip (another format), which is measured once loaded. CheckpointError for a header that does not describe a model."""
    path = Path(path)
    if diffusers_format.recognises(path):    # a diffusers folder / .zip: range-checked when loaded, measured after
        return None
    meta = read_metadata(path, max_file_bytes)
    unet = check_unet_dict(meta.get("model"), path.name)
    T = check_diffusion_dict(meta.get("diffusion"), path.name).T
    return Size(estimate_bytes(unet_shapes(unet), T), T)


def measured_size(ckpt: LoadedCheckpoint) -> Size:
    return Size(ckpt.nbytes, ckpt.diffusion_config.T)


# ------------------------------------------------------------------------------------------------ FLOPs
def _fused_cpu_attention(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """The CPU's fused attention kernel, which torch's counter does not list: QKᵀ and AV, 2·2·B·heads·L·S·d."""
    return sdpa_flop_count(query, key, value)


# on the meta device attention runs as its plain matrix products (counted as bmm); a torch that sends it to the
# fused CPU kernel instead is counted by this formula
_ATTENTION_FORMULAS = {op: _fused_cpu_attention for op in
                       [getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)] if op is not None}


def meta_twin(model: nn.Module) -> nn.Module:
    """The architecture of a loaded model rebuilt from its config on the meta device: no weights, no memory, and
    calling it computes nothing. Our UNet and diffusers' UNet2DModel (DiffusersUNet); TypeError for another."""
    with torch.device("meta"), SkipInPlace():
        if isinstance(model, UNet):
            return UNet(model.config).eval()
        if isinstance(model, diffusers_format.DiffusersUNet):
            unet = type(model.unet).from_config(model.unet.config)
            return diffusers_format.DiffusersUNet(unet, model.config).eval()
    raise TypeError(type(model).__name__)


def flop_per_image(ckpt: LoadedCheckpoint) -> float:
    """FLOPs of one network call on one image (the cost the work budget counts), from the model's configuration:
    its meta_twin called once on a meta batch of one under FlopCounterMode. No real forward pass runs, so it
    costs milliseconds whatever the model (tens of them for the largest the cache admits), and it counts what a
    forward pass on this CPU would have missed: attention's 2·2·L²·C per layer."""
    twin = meta_twin(ckpt.model)
    x = torch.empty((1, *ckpt.image_shape), device="meta")                        # (1, C, H, W)
    t = torch.zeros(1, dtype=torch.long, device="meta")
    y = torch.zeros(1, dtype=torch.long, device="meta") if ckpt.num_classes else None
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_ATTENTION_FORMULAS) as counter:
        twin(x, t, y)
    return float(max(1, counter.get_total_flops()))


# ------------------------------------------------------------------------------------------------ cache
@dataclass
class _Entry:
    ckpt: LoadedCheckpoint
    size: Size
    flop_per_image: float


class ModelCache:
    def __init__(self, max_bytes: Optional[int] = None, device: Optional[str] = None):
        self.max_bytes = int(max_bytes) if max_bytes is not None else limits.model_cache_bytes()
        self.device = str(pick_device(device or "auto"))
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._hashes: dict[CacheKey, str] = {}
        self._lock = threading.Lock()          # the entries: held for lookups, never while a file is read
        self._load_lock = threading.Lock()     # one load at a time: ten requests for a new file load it once
        self.loads = 0            # how many times a file was actually read (for tests and the status line)

    @property
    def bytes(self) -> int:
        return sum(e.size.total for e in self._entries.values())

    def get(self, path: str | os.PathLike, max_bytes: Optional[int] = None) -> LoadedCheckpoint:
        """The loaded checkpoint at `path` (max_bytes: the file-size limit, for uploads); raises
        FileNotFoundError, or ddpm.CheckpointError (ModelTooLargeError for a model over the cache's budget)."""
        key = file_key(path)
        loaded = self._lookup(key)
        if loaded is not None:
            return loaded
        with self._load_lock:     # only loads wait here: a request for a loaded model does not
            loaded = self._lookup(key)
            if loaded is not None:                # loaded by the request this one waited for
                return loaded
            estimate = estimate_size(key[0], max_bytes)
            if estimate is not None:
                self._refuse_if_too_large(estimate, Path(key[0]).name)
            kwargs = {} if max_bytes is None else {"max_bytes": max_bytes}
            ckpt = load_checkpoint(key[0], self.device, **kwargs)
            self.loads += 1
            size = measured_size(ckpt)
            self._refuse_if_too_large(size, Path(key[0]).name)
            entry = _Entry(ckpt, size, flop_per_image(ckpt))
            with self._lock:
                for old in [k for k in self._entries if k[0] == key[0]]:   # the same file, changed since
                    self._drop(old)
                self._entries[key] = entry
                while self.bytes > self.max_bytes and len(self._entries) > 1:
                    self._drop(next(iter(self._entries)))
            return ckpt

    def _lookup(self, key: CacheKey) -> Optional[LoadedCheckpoint]:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key].ckpt
        return None

    def flop_per_image(self, ckpt: LoadedCheckpoint) -> float:
        """FLOPs of one network call on one image of a model this cache returned (counted once, at load, from its
        configuration: flop_per_image)."""
        with self._lock:
            for e in self._entries.values():
                if e.ckpt is ckpt:
                    return e.flop_per_image
        return flop_per_image(ckpt)              # evicted since: count it again

    def _refuse_if_too_large(self, size: Size, name: str) -> None:
        if size.total > self.max_bytes:
            raise ModelTooLargeError("cache.too_large", name=name, size=size.describe(), limit=_mb(self.max_bytes))

    def _drop(self, key: CacheKey) -> None:
        self._entries.pop(key, None)
        self._hashes.pop(key, None)

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
    return max(1, (os.cpu_count() or 1) // limits.CONCURRENCY_LIMIT)


def get_cache() -> ModelCache:
    """The process-wide cache the handlers use (created on first use, which also sets torch's threads)."""
    global _CACHE
    if _CACHE is None:
        torch.set_num_threads(inference_threads())
        _CACHE = ModelCache()
    return _CACHE
