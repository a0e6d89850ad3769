"""diffusers models in and out.

In: a `DDPMPipeline` / `DDIMPipeline` folder saved with `save_pretrained` (model_index.json, unet/, scheduler/),
a bare `UNet2DModel` folder with its scheduler_config.json beside it, a .zip of either, or a Hugging Face Hub id
(fetched with huggingface_hub, the library diffusers' own from_pretrained uses, JSON and safetensors only).
Everything is checked before a tensor is allocated: the pipeline kind, both configs against the limits of
`ddpm.formats.limits`, the weight shapes the safetensors header declares against the U-Net the config builds.
The network runs as diffusers' own UNet2DModel; the scheduler becomes our GaussianDiffusion and the model's
sampling defaults (`diffusers_config`). Pickled weights (diffusion_pytorch_model.bin) are never opened.

Out: `export_pipeline` writes our U-Net as a UNet2DModel (the presets mirror it block for block) and our schedule
as a DDPMScheduler, a folder `diffusers.DDPMPipeline.from_pretrained` loads with no code from this project.
"""
from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Optional

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from ..diffusion import GaussianDiffusion
from ..safezip import MAX_MEMBER_BYTES, UnsafeZipError, checked_members, extract_members, open_zip
from ..messages import MessageError, msg
from .base import CheckpointError, LoadedCheckpoint
from .diffusers_card import model_card
from .diffusers_config import PIPELINE_CLASSES, DiffusersUNetConfig, check_unet, check_variance_pair, refuse, \
    scheduler_to_diffusion
from .limits import check_finite, check_shapes, header_shapes, meta_shapes

WEIGHTS = "diffusion_pytorch_model.safetensors"
PICKLED_WEIGHTS = ("diffusion_pytorch_model.bin", "diffusion_pytorch_model.ckpt", "diffusion_pytorch_model.pt")
MARKER = "_ddpm_workbench"               # our note in model_index.json: class names, null class (ignored by diffusers)
MAX_JSON_BYTES = 4 * 2**20
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
NOT_HUB_SUFFIXES = (".safetensors", ".zip", ".pt", ".pth", ".bin", ".ckpt")
CONVERT_HINT = msg("diffusers.convert_hint")    # how to turn a pickled U-Net into safetensors, once


class OutputFolderNotEmpty(MessageError, FileExistsError):
    """An export's --out that already holds files: nothing is overwritten."""


def _diffusers():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import diffusers
    except Exception as e:    # ImportError, or a broken optional dependency inside diffusers
        raise CheckpointError("diffusers.no_package", kind=type(e).__name__, error=str(e)) from None
    return diffusers


def is_hub_id(path: str | os.PathLike) -> bool:
    s = str(path)
    return bool(HUB_ID.match(s)) and not s.lower().endswith(NOT_HUB_SUFFIXES) and not Path(s).exists()


def recognises(path: str | os.PathLike) -> bool:
    """A diffusers folder (model_index.json or a UNet config.json), a .zip, or a Hub id "owner/name"."""
    p = Path(path)
    if p.is_dir():
        return any((p / f).is_file() for f in ("model_index.json", "config.json", "unet/config.json"))
    if p.is_file():
        return p.suffix.lower() == ".zip"
    return is_hub_id(path)


class DiffusersUNet(nn.Module):
    """diffusers' UNet2DModel called as our U-Net is: model(x_t, t, y) -> (B, C, H, W), or (B, 2C, H, W) for a
    learned variance (out_channels = 2C, read by the learned_range scheduler)."""

    def __init__(self, unet: nn.Module, config: DiffusersUNetConfig):
        super().__init__()
        self.unet = unet
        self.config = config

    def forward(self, x: Tensor, t: Tensor, y: Optional[Tensor] = None) -> Tensor:
        cfg = self.config
        if cfg.diffusers.get("num_class_embeds") and y is None:
            if not cfg.has_null_class:
                raise MessageError("diffusers.needs_labels", last=cfg.num_classes - 1)
            y = torch.full_like(t, cfg.num_classes)
        return self.unet(x, t, class_labels=y, return_dict=False)[0]


# ------------------------------------------------------------------------------------------------- files
def _read_json(path: Path, source: str) -> Any:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise CheckpointError("diffusers.json_too_big", source=source, file=path.name, mb=MAX_JSON_BYTES // 2**20)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError("diffusers.json_invalid", source=source, file=path.name, error=str(e)) from None
    except (RecursionError, ValueError):      # "[[[[…" thousands deep; a number of more than 4,300 digits
        raise CheckpointError("diffusers.json_too_deep", source=source, file=path.name) from None


def _check_pipeline(index: Any, source: str) -> dict:
    """model_index.json: a DDPM/DDIM pipeline of a UNet2DModel and a scheduler, nothing latent or text-driven."""
    if not isinstance(index, dict):
        raise CheckpointError("diffusers.not_object", source=source, file="model_index.json")
    parts = {k for k in index if not k.startswith("_")}
    latent = sorted(parts & {"vae", "vqvae"})
    if latent:
        raise refuse(source, latent[0], index[latent[0]], msg("diffusers.why_latent"))
    text = sorted(parts & {"text_encoder", "tokenizer", "bert"})
    if text:
        raise refuse(source, text[0], index[text[0]], msg("diffusers.why_text_pipeline"))
    if index.get("_class_name") not in PIPELINE_CLASSES:
        why = msg("diffusers.why_pipeline_class", classes=", ".join(PIPELINE_CLASSES))
        raise refuse(source, "_class_name", index.get("_class_name"), why)
    if "unet" not in parts or "scheduler" not in parts:
        raise CheckpointError("diffusers.no_parts", source=source)
    return index


def _layout(root: Path, source: str) -> tuple[Path, Path, dict]:
    """(unet folder, scheduler_config.json, model_index) of a pipeline folder or a bare UNet2DModel folder."""
    if (root / "model_index.json").is_file():
        index = _check_pipeline(_read_json(root / "model_index.json", source), source)
        unet_dir, sched = root / "unet", root / "scheduler" / "scheduler_config.json"
    else:
        index = {}
        unet_dir = root if (root / "config.json").is_file() else root / "unet"
        candidates = [unet_dir / "scheduler_config.json", unet_dir / "scheduler" / "scheduler_config.json",
                      root / "scheduler" / "scheduler_config.json"]
        sched = next((c for c in candidates if c.is_file()), candidates[0])
    if not (unet_dir / "config.json").is_file():
        raise CheckpointError("diffusers.no_unet_config", source=source)
    if not sched.is_file():
        raise CheckpointError("diffusers.no_scheduler", source=source)
    if not (unet_dir / WEIGHTS).is_file():
        pickled = [n for n in PICKLED_WEIGHTS if (unet_dir / n).exists()]
        if pickled:
            raise CheckpointError("diffusers.pickled", source=source, file=pickled[0], hint=CONVERT_HINT)
        raise CheckpointError("diffusers.no_weights", source=source, file=WEIGHTS, folder=unet_dir.name,
                              hint=CONVERT_HINT)
    return unet_dir, sched, index


def _zip_root(folder: Path) -> Path:
    """The extracted folder, or the one folder wrapping it."""
    if any((folder / f).is_file() for f in ("model_index.json", "config.json", "unet/config.json")):
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    return subs[0] if len(subs) == 1 else folder


def _download(repo_id: str) -> Path:
    """A Hub repo's JSON and safetensors files (never a pickle), or a CheckpointError that says why not."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    advice = msg("diffusers.hub_advice", repo=repo_id)
    if offline:
        raise CheckpointError("diffusers.hub_offline", repo=repo_id, advice=advice)
    try:
        from huggingface_hub import snapshot_download
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors"]))
    except Exception as e:  # offline, unknown repo, gated repo, network error: each says so in its name
        raise CheckpointError("diffusers.hub_failed", repo=repo_id, kind=type(e).__name__,
                              error=(str(e).splitlines() or [""])[0][:200], advice=advice) from None


# ------------------------------------------------------------------------------------------------- load
def load(path: str | os.PathLike, device: str | torch.device = "cpu",
         max_bytes: Optional[int] = None) -> LoadedCheckpoint:
    """A diffusers pipeline / UNet2DModel folder, its .zip or a Hub id as a LoadedCheckpoint."""
    p = Path(path)
    if p.is_dir():
        return _load_folder(p, str(path), p.name, "folder", device, max_bytes)
    if p.is_file():
        return _load_zip(p, device, max_bytes)
    return _load_folder(_download(str(path)), str(path), str(path), "Hub repo", device, max_bytes)


def _load_zip(p: Path, device, max_bytes: Optional[int]) -> LoadedCheckpoint:
    if max_bytes is not None and p.stat().st_size > max_bytes:
        raise CheckpointError("checkpoint.too_big", name=p.name, mb=p.stat().st_size / 2**20, limit_mb=max_bytes / 2**20)
    if not zipfile.is_zipfile(p):
        raise CheckpointError("diffusers.not_zip", name=p.name)
    limit = min(max_bytes or MAX_MEMBER_BYTES, MAX_MEMBER_BYTES)     # safezip's caps hold for every zip
    try:
        opened = open_zip(p)                                  # the member count and directory size, first
    except UnsafeZipError as e:
        raise CheckpointError(e.message) from None
    with tempfile.TemporaryDirectory(prefix="ddpm-diffusers-") as tmp, opened as zf:
        try:
            members = checked_members(zf, p.name, limit)     # sizes, ratios and the total, before a byte is read
        except UnsafeZipError as e:
            raise CheckpointError(e.message) from None
        # unpack configs and safetensors only; a pickle is noted by name (so the message can say so), never read
        keep = [(parts, info) for parts, info in members if parts[-1].endswith((".json", ".safetensors"))]
        for parts, info in keep:                             # a config's cap, from the central directory too
            if parts[-1].endswith(".json") and info.file_size > MAX_JSON_BYTES:
                raise CheckpointError("diffusers.json_too_big", source=p.name, file=info.filename,
                                      mb=MAX_JSON_BYTES // 2**20)
        for parts, _ in members:
            if parts[-1] in PICKLED_WEIGHTS:
                (Path(tmp).joinpath(*parts)).parent.mkdir(parents=True, exist_ok=True)
                Path(tmp).joinpath(*parts).touch()
        try:
            extract_members(zf, keep, Path(tmp), limit, p.name)
        except UnsafeZipError as e:
            raise CheckpointError(e.message) from None
        return _load_folder(_zip_root(Path(tmp)), str(p), p.name, ".zip", device, max_bytes)


def _build_unet(kwargs: dict, source: str):
    UNet2DModel = _diffusers().UNet2DModel
    known = set(inspect.signature(UNet2DModel.__init__).parameters) - {"self"}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        why = msg("diffusers.why_unknown_setting", version=_diffusers().__version__)
        raise refuse(source, unknown[0], kwargs[unknown[0]], why)
    return lambda: UNet2DModel(**kwargs)


def _load_folder(root: Path, path: str, source: str, kind: str, device, max_bytes: Optional[int]) -> LoadedCheckpoint:
    unet_dir, sched_path, index = _layout(root, source)
    ours = index.get(MARKER) if isinstance(index.get(MARKER), dict) else {}
    unet_cfg = _read_json(unet_dir / "config.json", source)
    sched_cfg = _read_json(sched_path, source)
    kwargs, desc = check_unet(unet_cfg, source, null_class=bool(ours.get("null_class")))
    dcfg, defaults = scheduler_to_diffusion(sched_cfg, source)
    if isinstance(ours.get("eps_from_clipped"), bool):          # our export: sampled as the original is
        defaults = dataclasses.replace(defaults, eps_from_clipped=ours["eps_from_clipped"],
                                       convention="diffusers" if ours.get("convention") == "diffusers" else "workbench")
    check_variance_pair(desc, defaults, source)
    weights = unet_dir / WEIGHTS
    if max_bytes is not None and weights.stat().st_size > max_bytes:
        raise CheckpointError("diffusers.too_big", source=source, file=WEIGHTS, mb=weights.stat().st_size / 2**20,
                              limit_mb=max_bytes / 2**20)
    try:
        declared = header_shapes(str(weights))
    except Exception as e:
        raise CheckpointError("diffusers.not_safetensors", source=source, file=WEIGHTS, error=str(e)) from None
    build = _build_unet(kwargs, source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = meta_shapes(build)
        except (TypeError, ValueError, AttributeError, KeyError) as e:
            raise CheckpointError("diffusers.does_not_build", source=source, error=str(e)) from None
        check_shapes(expected, declared, source, msg("config.diffusers_architecture"))
        unet = build()
    state = load_file(str(weights))
    check_finite(state, source)
    unet.load_state_dict(state)
    unet = unet.float().to(device).eval()
    names = ours.get("class_names")
    if not (isinstance(names, list) and len(names) == desc.num_classes):
        names = [str(i) for i in range(desc.num_classes)]
    meta = {"format": "diffusers", "pipeline": index, "unet": unet_cfg, "scheduler": sched_cfg,
            "data": ours.get("data") or {}, "step": ours.get("step", 0)}
    label = index.get("_class_name") or "UNet2DModel"
    return LoadedCheckpoint(
        model=DiffusersUNet(unet, desc).eval(), diffusion=GaussianDiffusion(dcfg, sampling_defaults=defaults),
        unet_config=desc, diffusion_config=dcfg, class_names=[str(n) for n in names],
        step=int(ours.get("step", 0)) if isinstance(ours.get("step", 0), int) else 0, meta=meta, path=path,
        weights="as saved", source=f"diffusers {label} {kind}")


# ------------------------------------------------------------------------------------------------- export
def unet2d_config(cfg) -> dict:
    """Our UNetConfig as UNet2DModel keyword arguments, block for block; ValueError saying why when it cannot be."""
    from ..unet import attention_heads
    levels = len(cfg.channel_mult)
    widths = [cfg.base_channels * m for m in cfg.channel_mult]
    attn = [(cfg.image_size >> i) in cfg.attention_resolutions for i in range(levels)]
    attended = [w for w, a in zip(widths, attn) if a] + [widths[-1]]          # + the middle block's attention
    head_dims = sorted({w // attention_heads(w, cfg.num_heads) for w in attended})
    if len(head_dims) > 1:
        raise MessageError("diffusers.head_dims", dims=head_dims)
    return dict(
        sample_size=cfg.image_size, in_channels=cfg.in_channels, out_channels=cfg.out_channels,
        block_out_channels=widths, layers_per_block=cfg.num_res_blocks,
        down_block_types=["AttnDownBlock2D" if a else "DownBlock2D" for a in attn],
        up_block_types=["AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)],
        attention_head_dim=head_dims[0], norm_num_groups=cfg.groups, norm_eps=1e-5, dropout=cfg.dropout,
        act_fn="silu", time_embedding_type="positional", flip_sin_to_cos=True, freq_shift=0, downsample_padding=1,
        num_class_embeds=cfg.num_classes + 1 if cfg.conditional else None)   # + the null label, last


_RENAMES = [(re.compile(a), b) for a, b in (
    (r"^time_mlp\.0\.", "time_embedding.linear_1."), (r"^time_mlp\.2\.", "time_embedding.linear_2."),
    (r"^label_emb\.", "class_embedding."), (r"^stem\.", "conv_in."),
    (r"^(down|up)\.(\d+)\.blocks\.(\d+)\.", r"\1_blocks.\2.resnets.\3."),
    (r"^(down|up)\.(\d+)\.attns\.(\d+)\.", r"\1_blocks.\2.attentions.\3."),
    (r"^downsample\.(\d+)\.", r"down_blocks.\1.downsamplers.0.conv."),
    (r"^upsample\.(\d+)\.", r"up_blocks.\1.upsamplers.0.conv."),
    (r"^mid1\.", "mid_block.resnets.0."), (r"^mid2\.", "mid_block.resnets.1."),
    (r"^mid_attn\.", "mid_block.attentions.0."), (r"^out_norm\.", "conv_norm_out."), (r"^out_conv\.", "conv_out."),
    (r"resnets\.(\d+)\.emb\.", r"resnets.\1.time_emb_proj."), (r"resnets\.(\d+)\.skip\.", r"resnets.\1.conv_shortcut."),
    (r"attentions\.(\d+)\.norm\.", r"attentions.\1.group_norm."), (r"attentions\.(\d+)\.proj\.", r"attentions.\1.to_out.0."),
)]


def unet2d_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Our U-Net's weights under UNet2DModel's names: 1×1 attention convolutions become linear layers, the fused
    qkv projection splits into to_q / to_k / to_v (heads stay contiguous blocks of channels in both)."""
    out = {}
    for key, value in state.items():
        for pattern, repl in _RENAMES:
            key = pattern.sub(repl, key)
        if ".attentions." in key and value.dim() == 4:
            value = value[:, :, 0, 0]
        if ".attentions." in key and ".qkv." in key:
            for name, part in zip(("to_q", "to_k", "to_v"), value.chunk(3, dim=0)):
                out[key.replace("qkv", name)] = part.contiguous()
        else:
            out[key] = value.contiguous()
    return out


def export_pipeline(ck: LoadedCheckpoint, out: str | os.PathLike) -> Path:
    """Write `ck` as a DDPMPipeline folder (model_index.json, unet/, scheduler/) that diffusers loads alone."""
    from .diffusers_config import diffusion_to_scheduler
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputFolderNotEmpty("diffusers.out_exists", out=str(out))
    d = _diffusers()
    if isinstance(ck.model, DiffusersUNet):
        unet = ck.model.unet
    else:
        try:
            kwargs = unet2d_config(ck.unet_config)
        except ValueError as e:
            raise CheckpointError("diffusers.cannot_export", name=Path(ck.path).name,
                                  error=getattr(e, "message", str(e))) from None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unet = d.UNet2DModel(**kwargs)
        unet.load_state_dict(unet2d_state_dict({k: v.detach().cpu() for k, v in ck.model.state_dict().items()}))
    sched = diffusion_to_scheduler(ck.diffusion_config, ck.diffusion.float64["betas"], ck.sampling_defaults)
    scheduler = d.DDPMScheduler(**{k: v for k, v in sched.items() if not k.startswith("_")})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d.DDPMPipeline(unet=unet.cpu().eval(), scheduler=scheduler).save_pretrained(tmp, safe_serialization=True)
        index = json.loads((tmp / "model_index.json").read_text())
        index[MARKER] = {"class_names": list(ck.class_names), "null_class": bool(ck.num_classes) and
                         getattr(ck.unet_config, "has_null_class", False), "step": int(ck.step),
                         "data": ck.meta.get("data") or {}, "source": ck.source,
                         "eps_from_clipped": ck.sampling_defaults.eps_from_clipped,
                         "convention": ck.sampling_defaults.convention}
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2))
        (tmp / "README.md").write_text(model_card(ck, out), encoding="utf-8")    # how diffusers samples it
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
