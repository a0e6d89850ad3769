"""Checkpoints: one safetensors file holding the weights (EMA and raw), the full config, and optionally
the optimizer and RNG state needed to resume a run exactly. `load_checkpoint` also takes what another
format module reads (a diffusers pipeline folder, its .zip, a Hub id: `ddpm.formats.diffusers`).

Loading never unpickles anything: safetensors is a JSON header plus raw tensor bytes. Writing is
atomic (temporary file in the same folder, fsync, rename), so a crash or a full disk never leaves a
half-written file and never destroys the previous checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .diffusion import DiffusionConfig, GaussianDiffusion, SamplingDefaults
from .formats import diffusers as diffusers_format
from .formats.base import CheckpointError, LoadedCheckpoint, quoted
from .messages import MessageError
from .formats.limits import LIMITS, check_diffusion_dict, check_finite, check_int, check_shapes, check_unet_dict, \
    header_shapes, unet_shapes
from .paths import resolve_checkpoint
from .unet import UNet, UNetConfig

FORMAT = "ddpm-workbench"
FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 512 * 1024 * 1024   # refuse larger uploads before reading them
_UMASK = os.umask(0o022)                 # read the process umask once (os.umask can only read by setting)
os.umask(_UMASK)


class FolderNotWritable(MessageError, PermissionError):
    """An output folder this process may not write to; the message names it and what to do."""


class CheckpointNotFound(MessageError, FileNotFoundError):
    """No file at the checkpoint path given."""


def atomic_write(path: str | os.PathLike, write_fn) -> None:
    """Call write_fn(tmp_path) then atomically rename tmp_path onto path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise FolderNotWritable("checkpoint.folder_not_writable", folder=str(path.parent))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write_fn(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)   # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, plain = {}, {"param_groups": state["param_groups"], "state": {}}
    for idx, s in state["state"].items():
        plain["state"][str(idx)] = {}
        for k, v in s.items():
            if torch.is_tensor(v):
                tensors[f"optim.{idx}.{k}"] = v.detach().cpu().contiguous()
                plain["state"][str(idx)][k] = "__tensor__"
            else:
                plain["state"][str(idx)][k] = v
    return tensors, plain


def _unflatten_optimizer(plain: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state = {}
    for idx, s in plain["state"].items():
        state[int(idx)] = {k: (tensors[f"optim.{idx}.{k}"] if v == "__tensor__" else v) for k, v in s.items()}
    return {"state": state, "param_groups": plain["param_groups"]}


def save_checkpoint(path: str | os.PathLike, *, model: torch.nn.Module, ema_model: Optional[torch.nn.Module],
                    diffusion_config: DiffusionConfig, class_names: list[str], step: int,
                    data: Optional[dict] = None, train: Optional[dict] = None, metrics: Optional[dict] = None,
                    train_state: Optional[dict] = None) -> None:
    """Write one self-contained checkpoint.

    train_state (for --resume) may hold "optimizer" (an optimizer state_dict), "rng" (name -> uint8
    tensor of a generator state), "tensors" (name -> tensor, e.g. the VLB loss history of importance-sampled t)
    and "extra" (JSON-able). Leave it out for a file to share.
    """
    unet_config: UNetConfig = model.config
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    if ema_model is not None:
        tensors.update({f"ema.{k}": v.detach().cpu().contiguous().clone() for k, v in ema_model.state_dict().items()})
    meta: dict[str, Any] = {
        "format": FORMAT, "version": FORMAT_VERSION, "step": int(step),
        "model": unet_config.to_dict(), "diffusion": diffusion_config.to_dict(),
        "class_names": list(class_names), "data": data or {}, "train": train or {}, "metrics": metrics or {},
    }
    if train_state is not None:
        opt_tensors, opt_plain = _flatten_optimizer(train_state["optimizer"])
        tensors.update(opt_tensors)
        for name, s in train_state.get("rng", {}).items():
            tensors[f"rng.{name}"] = s.detach().cpu().contiguous()
        for name, v in train_state.get("tensors", {}).items():
            tensors[f"state.{name}"] = v.detach().cpu().contiguous()
        meta["train_state"] = {"optimizer": opt_plain, "rng": sorted(train_state.get("rng", {})),
                               "extra": train_state.get("extra", {})}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"ddpm": json.dumps(meta)}))


def read_metadata(path: str | os.PathLike, max_bytes: Optional[int] = DEFAULT_MAX_BYTES,
                  expected_format: str = FORMAT) -> dict:
    """The JSON config of a checkpoint, validated as ours, without reading any tensor. max_bytes=None: no limit."""
    path = Path(path)
    if (path.is_file() and path.suffix.lower() == ".zip") or (path.is_dir() and diffusers_format.recognises(path)):
        raise CheckpointError("checkpoint.zip_not_ours", name=path.name)
    if not path.exists():
        raise CheckpointNotFound("checkpoint.not_found", path=str(path))
    if path.is_dir():
        raise CheckpointError("checkpoint.folder", name=path.name)
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError("checkpoint.empty", name=path.name)
    if max_bytes is not None and size > max_bytes:
        raise CheckpointError("checkpoint.too_big", name=path.name, mb=size / 2**20, limit_mb=max_bytes / 2**20)
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors starts with its header length (u64, little-endian) then "{"; that length's first byte may
    # well be 0x80 (any header of 128 mod 256 bytes), so only a file that is not laid out so is a pickle
    header_len = int.from_bytes(head[:8], "little")
    laid_out_as_safetensors = len(head) == 9 and head[8:9] == b"{" and 8 + header_len <= size
    if not laid_out_as_safetensors and (head[:2] == b"PK" or head[:1] == b"\x80"):
        raise CheckpointError("checkpoint.pickle", name=path.name)
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("ddpm")
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise CheckpointError("checkpoint.not_safetensors", name=path.name, error=str(e)) from None
    if raw is None:
        raise CheckpointError("checkpoint.not_ours", name=path.name)
    try:
        meta = json.loads(raw)
    except ValueError:            # JSONDecodeError, or a number over Python's 4,300 digits
        raise CheckpointError("checkpoint.header_not_json", name=path.name) from None
    except RecursionError:        # json.loads recurses once per level: "[[[[…" 200,000 deep
        raise CheckpointError("checkpoint.header_too_deep", name=path.name) from None
    if not isinstance(meta, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(meta), "number")
        raise CheckpointError("checkpoint.header_kind", name=path.name, kind=kind)
    if meta.get("format") != expected_format:
        raise CheckpointError("checkpoint.wrong_format", name=path.name, found=quoted(meta.get("format"), 60),
                              expected=expected_format)
    version = meta.get("version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError("checkpoint.version_not_int", name=path.name, version=quoted(version, 60))
    if version > FORMAT_VERSION:
        raise CheckpointError("checkpoint.newer", name=path.name, version=version)
    for section in ("data", "train", "metrics"):          # (model and diffusion: check_keys, at load)
        if not isinstance(meta.get(section) or {}, dict):
            raise CheckpointError("checkpoint.section_not_object", name=path.name, section=section)
    return meta


def _read_tensors(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    try:
        with safe_open(str(path), framework="pt") as f:
            for k in f.keys():
                if k.startswith(prefix):
                    out[k[len(prefix):]] = f.get_tensor(k)
    except Exception as e:
        raise CheckpointError("checkpoint.weights_unreadable", name=path.name, error=str(e)) from None
    return out


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", weights: str = "ema",
                    max_bytes: Optional[int] = DEFAULT_MAX_BYTES) -> LoadedCheckpoint:
    """Rebuild model and diffusion from a checkpoint alone: our .safetensors file, or a diffusers pipeline /
    UNet2DModel folder, its .zip or a Hub id (`ddpm.formats.diffusers`, which holds one set of weights: `weights`
    does not apply). weights: "ema" (default; falls back to raw if the file has none) or "raw". max_bytes: refuse
    larger files (None: no limit, for trusted local files). A bundled model is named as "bundled:mnist" (or, where
    no such file or folder exists, "mnist"; see `ddpm.paths.resolve_checkpoint`), from any folder.

    Every config field is range-checked (`ddpm.formats.limits`) and the tensor shapes the file declares are
    compared with the config before any module or table is allocated."""
    if weights not in ("ema", "raw"):
        raise MessageError("checkpoint.bad_weights", value=quoted(weights))
    path = resolve_checkpoint(path)
    if diffusers_format.recognises(path):
        return diffusers_format.load(path, device=device, max_bytes=max_bytes)
    path = Path(path)
    meta = read_metadata(path, max_bytes)
    name = path.name
    unet_config = check_unet_dict(meta.get("model"), name)
    diffusion_config = check_diffusion_dict(meta.get("diffusion"), name)
    step = check_int(name, "step", meta.get("step", 0), 0, 10**12)
    class_names = meta.get("class_names") or []
    if not isinstance(class_names, list) or len(class_names) > LIMITS.max_classes:
        raise CheckpointError("checkpoint.class_names", name=name, limit=LIMITS.max_classes)
    try:
        declared = header_shapes(str(path))
    except Exception as e:
        raise CheckpointError("checkpoint.tensor_header", name=name, error=str(e)) from None
    prefix = "ema." if weights == "ema" and any(k.startswith("ema.") for k in declared) else "model."
    used = "ema" if prefix == "ema." else "raw"
    found = {k[len(prefix):]: v for k, v in declared.items() if k.startswith(prefix)}
    if not found:
        raise CheckpointError("checkpoint.no_weights", name=name, weights=weights)
    check_shapes(unet_shapes(unet_config), found, name)
    state = _read_tensors(path, prefix)
    check_finite(state, name)
    model = UNet(unet_config)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[0:3]
        raise CheckpointError("checkpoint.weights_mismatch", name=name, detail=" ".join(first)) from None
    class_names = [str(c) for c in class_names]
    if unet_config.num_classes and len(class_names) != unet_config.num_classes:
        class_names = [str(i) for i in range(unet_config.num_classes)]
    # a network that learns its variance samples DDPM with it unless the caller says otherwise
    defaults = SamplingDefaults(variance="learned_range") if unet_config.learn_sigma else SamplingDefaults()
    return LoadedCheckpoint(
        model=model.to(device).eval(), diffusion=GaussianDiffusion(diffusion_config, sampling_defaults=defaults),
        unet_config=unet_config, diffusion_config=diffusion_config, class_names=class_names,
        step=step, meta=meta, path=str(path), weights=used,
        has_train_state="train_state" in meta)


def load_train_state(path: str | os.PathLike, max_bytes: Optional[int] = None) -> dict:
    """Everything needed to resume: raw and EMA weights, optimizer state, RNG states, other tensors, extra.

    No size limit by default: a resumable file holds weights, EMA and two Adam moments, so a "base" run's
    is already over the upload limit meant for shared files."""
    path = Path(path)
    meta = read_metadata(path, max_bytes)
    if "train_state" not in meta:
        raise CheckpointError("checkpoint.no_train_state", name=path.name)
    ts = meta["train_state"]
    opt_tensors = _read_tensors(path, "optim.")
    rng = _read_tensors(path, "rng.")
    return {
        "meta": meta,
        "model": _read_tensors(path, "model."),
        "ema": _read_tensors(path, "ema."),
        "optimizer": _unflatten_optimizer(ts["optimizer"], {f"optim.{k}": v for k, v in opt_tensors.items()}),
        "rng": rng,
        "tensors": _read_tensors(path, "state."),
        "extra": ts.get("extra", {}),
    }


def export_checkpoint(src: str | os.PathLike, dst: str | os.PathLike, keep_raw: bool = False,
                      max_bytes: Optional[int] = None) -> None:
    """Copy a checkpoint without its training state (and without raw weights unless keep_raw): the file to share.
    No size limit by default (the source is a run's own resumable file, see load_train_state)."""
    src = Path(src)
    meta = read_metadata(src, max_bytes)
    meta.pop("train_state", None)
    # read only the weights to keep: the optimizer moments would double the memory for nothing
    tensors = {f"ema.{k}": v.contiguous() for k, v in _read_tensors(src, "ema.").items()}
    if keep_raw or not tensors:
        tensors.update({f"model.{k}": v.contiguous() for k, v in _read_tensors(src, "model.").items()})
    atomic_write(dst, lambda tmp: save_file(tensors, tmp, metadata={"ddpm": json.dumps(meta)}))
