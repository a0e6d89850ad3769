"""The limits every checkpoint's config is checked against, and the shape check of a safetensors header,
both done before any module, table or tensor is allocated.

An edited header must not be able to make the loader allocate gigabytes: `T = 10^9` would build schedule
tables of 8 GB, `num_classes = 15 000 000` an embedding of 7.7 GB. So the raw JSON is range-checked field by
field (`check_unet_dict`, `check_diffusion_dict`), then the module the config describes is built on the
`meta` device (shapes only, no memory) and its tensor shapes are compared with the ones the safetensors
header declares (`check_shapes`). Only a file that passes both is read and built for real.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, fields
from typing import Any, Callable, Iterable

import torch
from safetensors import safe_open
from torch import nn
from torch.overrides import TorchFunctionMode

from ..diffusion import DiffusionConfig, OBJECTIVES
from ..schedules import SCHEDULES
from ..unet import UNet, UNetConfig
from ..messages import Message, msg
from .base import CheckpointError, diffusion_bytes, module_bytes, quoted


@dataclass(frozen=True)
class Limits:
    """Documented in the README ("Checkpoints: format and safety"); wide enough for every published DDPM."""
    max_T: int = 20_000                # diffusion steps (1000 is usual, 4000 the largest published)
    max_image_size: int = 1024         # H = W
    max_in_channels: int = 4           # image channels (1 grey, 3 RGB)
    max_width: int = 1024              # channels of any U-Net level (base · mult; diffusers block_out_channels)
    max_levels: int = 8                # resolutions (len(channel_mult))
    max_res_blocks: int = 8            # residual blocks per level
    max_classes: int = 10_000          # class labels (ImageNet has 1000)
    max_heads: int = 64                # attention heads
    max_parameters: int = 1_000_000_000


LIMITS = Limits()
WEIGHT_DTYPES = ("F32", "F16", "BF16", "F64")


def _fail(source: str, field: str, value: Any, why: Message) -> CheckpointError:
    return CheckpointError("config.field", source=source, field=field, value=quoted(value, 60), why=why)


def check_int(source: str, field: str, value: Any, lo: int, hi: int) -> int:
    """An integer (not a bool, not a float) in [lo, hi], or a CheckpointError naming field and value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise _fail(source, field, value, msg("config.not_int"))
    if not lo <= value <= hi:
        raise _fail(source, field, value, msg("config.int_range", lo=lo, hi=hi))
    return int(value)


def check_float(source: str, field: str, value: Any, lo: float, hi: float, open_hi: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise _fail(source, field, value, msg("config.not_finite"))
    if not (lo <= value < hi if open_hi else lo <= value <= hi):
        raise _fail(source, field, value, msg("config.float_range", lo=lo, hi=hi, close=")" if open_hi else "]"))
    return float(value)


def check_int_list(source: str, field: str, value: Any, lo: int, hi: int, max_len: int,
                   allow_empty: bool = False) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > max_len or (not value and not allow_empty):
        raise _fail(source, field, value, msg("config.not_int_list", n=max_len))
    return tuple(check_int(source, f"{field}[{i}]", v, lo, hi) for i, v in enumerate(value))


def check_keys(source: str, what: str, d: Any, allowed: Iterable[str]) -> dict:
    if not isinstance(d, dict):
        raise CheckpointError("config.not_object", source=source, what=what)
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise CheckpointError("config.unknown_fields", source=source, what=what, fields=unknown)
    return d


def check_unet_dict(d: Any, source: str, limits: Limits = LIMITS) -> UNetConfig:
    """Our U-Net's config, every field range-checked before UNetConfig (and so any module) is built."""
    check_keys(source, "model", d, [f.name for f in fields(UNetConfig)])
    L = limits
    size = check_int(source, "image_size", d.get("image_size", 16), 4, L.max_image_size)
    check_int(source, "in_channels", d.get("in_channels", 1), 1, L.max_in_channels)
    base = check_int(source, "base_channels", d.get("base_channels", 32), 1, L.max_width)
    mult = check_int_list(source, "channel_mult", d.get("channel_mult", (1, 2, 2)), 1, L.max_width, L.max_levels)
    widest = base * max(mult)
    if widest > L.max_width:
        raise _fail(source, "base_channels", base, msg("config.too_wide", mult=max(mult), widest=widest,
                                                       limit=L.max_width))
    check_int(source, "num_res_blocks", d.get("num_res_blocks", 1), 1, L.max_res_blocks)
    check_int_list(source, "attention_resolutions", d.get("attention_resolutions", (8,)), 1, L.max_image_size,
                   L.max_levels, allow_empty=True)
    check_int(source, "num_heads", d.get("num_heads", 4), 1, L.max_heads)
    check_float(source, "dropout", d.get("dropout", 0.0), 0.0, 1.0, open_hi=True)
    check_int(source, "num_classes", d.get("num_classes", 0), 0, L.max_classes)
    check_int(source, "groups", d.get("groups", 8), 1, L.max_width)
    if not isinstance(d.get("learn_sigma", False), bool):
        raise _fail(source, "learn_sigma", d.get("learn_sigma"), msg("config.not_bool"))
    try:
        return UNetConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise CheckpointError("config.model_does_not_build", source=source, error=str(e)) from None


def check_diffusion_dict(d: Any, source: str, limits: Limits = LIMITS) -> DiffusionConfig:
    """The diffusion config, T and the betas checked before any schedule table is computed."""
    check_keys(source, "diffusion", d, [f.name for f in fields(DiffusionConfig)])
    schedule = d.get("schedule", "linear")
    if schedule not in (*SCHEDULES, "custom"):
        raise _fail(source, "schedule", schedule, msg("config.not_one_of", options=sorted(SCHEDULES) + ["custom"]))
    if d.get("objective", "eps") not in OBJECTIVES:
        raise _fail(source, "objective", d.get("objective"), msg("config.not_one_of", options=list(OBJECTIVES)))
    betas = d.get("betas")
    if schedule == "custom" or betas is not None:
        if not isinstance(betas, (list, tuple)) or not 2 <= len(betas) <= limits.max_T:
            raise _fail(source, "betas", betas, msg("config.betas", n=limits.max_T))
        for i, b in enumerate(betas):
            check_float(source, f"betas[{i}]", b, 0.0, 1.0)
    else:
        check_int(source, "T", d.get("T", 1000), 2, limits.max_T)
    try:
        return DiffusionConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise CheckpointError("config.diffusion_does_not_build", source=source, error=str(e)) from None


def header_shapes(path: str, prefix: str = "") -> dict[str, tuple[tuple[int, ...], str]]:
    """name (without prefix) -> (shape, dtype) for every tensor of a safetensors file, read from its header only."""
    out = {}
    with safe_open(str(path), framework="pt") as f:
        for k in f.keys():
            if k.startswith(prefix):
                sl = f.get_slice(k)
                out[k[len(prefix):]] = (tuple(sl.get_shape()), sl.get_dtype())
    return out


class SkipInPlace(TorchFunctionMode):
    """Skip in-place tensor ops (the weight initialisers): on the meta device `normal_` goes through torch's
    reference implementations, whose first use imports torch._dynamo (5-18 s); shapes do not need them."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
        if name.endswith("_") and not name.startswith("_") and torch.is_tensor(target):
            return target
        return func(*args, **kwargs)


def meta_shapes(build: Callable[[], nn.Module]) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of the module `build()` makes, built on the meta device (no memory is used)."""
    with torch.device("meta"), SkipInPlace():
        module = build()
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def check_shapes(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[tuple[int, ...], str]],
                 source: str, what: str | Message = msg("config.saved_architecture"), limits: Limits = LIMITS) -> int:
    """Refuse weights whose names, shapes or dtypes differ from what the config builds; returns the parameter count."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(expected) & set(found) if tuple(found[k][0]) != tuple(expected[k]))
    if missing or extra or wrong:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} tensor(s) of another shape, e.g. {k}: {list(found[k][0])} in the file, "
                         f"{list(expected[k])} in the config")
        if missing:
            parts.append(f"{len(missing)} missing, e.g. {missing[0]}")
        if extra:
            parts.append(f"{len(extra)} unexpected, e.g. {extra[0]}")
        raise CheckpointError("config.shapes", source=source, what=what, detail="; ".join(parts))
    bad_dtype = sorted(k for k, (_, dt) in found.items() if dt not in WEIGHT_DTYPES)
    if bad_dtype:
        raise CheckpointError("config.dtype", source=source, tensor=bad_dtype[0], dtype=found[bad_dtype[0]][1],
                              allowed=", ".join(WEIGHT_DTYPES))
    n = sum(math.prod(s) for s in expected.values())
    if n > limits.max_parameters:
        raise CheckpointError("config.too_many_parameters", source=source, n=n, limit=limits.max_parameters)
    return n


def check_finite(tensors: dict[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or ±inf, by the first such tensor's name: such a network samples a black (or
    NaN) grid without a word. Read after loading, one reduction per tensor (a few ms for 100 MB of weights)."""
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError("config.not_finite_tensor", source=source, tensor=name)


def unet_shapes(config: UNetConfig) -> dict[str, tuple[int, ...]]:
    return meta_shapes(lambda: UNet(config))


def estimate_bytes(shapes: dict[str, tuple[int, ...]], T: int, bytes_per_value: int = 4) -> int:
    """What a checkpoint will hold once loaded (float32 weights + diffusion tables), from shapes alone —
    for a cache bounded in bytes to decide before loading. `LoadedCheckpoint.nbytes` measures it after."""
    return sum(math.prod(s) for s in shapes.values()) * bytes_per_value + diffusion_bytes(T)


__all__ = ["Limits", "LIMITS", "check_int", "check_float", "check_int_list", "check_keys", "check_unet_dict",
           "check_diffusion_dict", "header_shapes", "meta_shapes", "check_shapes", "check_finite", "unet_shapes",
           "estimate_bytes", "module_bytes", "diffusion_bytes"]
