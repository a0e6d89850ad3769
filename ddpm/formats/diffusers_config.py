"""diffusers configs ↔ ours: a scheduler config becomes a DiffusionConfig plus the model's sampling defaults,
a UNet2DModel config is range-checked (the same limits as our checkpoints) and described as a
`DiffusersUNetConfig`; anything that does not map is refused with the field and its value.

| diffusers scheduler field | here |
|---|---|
| num_train_timesteps, beta_schedule (linear, scaled_linear, squaredcos_cap_v2, sigmoid), beta_start/end, trained_betas | the betas, computed as diffusers computes them (float32), as a custom schedule |
| prediction_type epsilon / sample / v_prediction | objective eps / x0 / v |
| variance_type fixed_small(_log) / fixed_large(_log) | DDPM variance default fixed_small / fixed_large |
| variance_type learned_range (with a UNet2DModel of out_channels = 2 · in_channels) | learned_range: the U-Net's second half is v of Improved DDPM eq. 15 |
| clip_sample, clip_sample_range | clip_denoised default, clip range |
| timestep_spacing leading / trailing / linspace | the spacing default of DDIM, the solvers and EDM Heun / Restart (convention "diffusers": as each diffusers scheduler's from_config) |
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..diffusion import DiffusionConfig, SamplingDefaults
from ..messages import Message, msg
from .base import CheckpointError
from .limits import LIMITS, check_float, check_int, check_int_list

SCHEDULER_CLASSES = ("DDPMScheduler", "DDIMScheduler", "PNDMScheduler")
PIPELINE_CLASSES = ("DDPMPipeline", "DDIMPipeline", "PNDMPipeline")
PREDICTION_TYPES = {"epsilon": "eps", "sample": "x0", "v_prediction": "v"}
VARIANCE_TYPES = {"fixed_small": "fixed_small", "fixed_small_log": "fixed_small",
                  "fixed_large": "fixed_large", "fixed_large_log": "fixed_large", "learned_range": "learned_range"}
SPACINGS = ("leading", "trailing", "linspace")
DOWN_BLOCKS = ("DownBlock2D", "AttnDownBlock2D", "ResnetDownsampleBlock2D", "AttnDownsampleBlock2D")
UP_BLOCKS = ("UpBlock2D", "AttnUpBlock2D", "ResnetUpsampleBlock2D", "AttnUpsampleBlock2D")


def refuse(source: str, fld: str, value: Any, why: Message) -> CheckpointError:
    """`{source}: {fld}={value} {why}`: a diffusers config field refused, `why` a message ("is not supported ...")."""
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return CheckpointError("diffusers.refused", source=source, field=fld, shown=shown, why=why)


# ---------------------------------------------------------------------------------------------- scheduler
def diffusers_betas(cfg: dict, T: int, source: str) -> torch.Tensor:  # (T,) float32, as diffusers computes them
    """β of a diffusers scheduler config: trained_betas, or beta_schedule from beta_start to beta_end."""
    if cfg.get("trained_betas") is not None:
        tb = cfg["trained_betas"]
        if not isinstance(tb, (list, tuple)) or len(tb) != T:
            raise refuse(source, "trained_betas", tb, msg("diffusers.why_trained_betas", T=T))
        return torch.tensor([check_float(source, f"trained_betas[{i}]", b, 0.0, 1.0) for i, b in enumerate(tb)],
                            dtype=torch.float32)
    start = check_float(source, "beta_start", cfg.get("beta_start", 0.0001), 0.0, 1.0)
    end = check_float(source, "beta_end", cfg.get("beta_end", 0.02), 0.0, 1.0)
    schedule = cfg.get("beta_schedule", "linear")
    if schedule == "linear":
        return torch.linspace(start, end, T, dtype=torch.float32)
    if schedule == "scaled_linear":
        return torch.linspace(start ** 0.5, end ** 0.5, T, dtype=torch.float32) ** 2
    if schedule == "sigmoid":
        return torch.sigmoid(torch.linspace(-6, 6, T)) * (end - start) + start
    if schedule == "squaredcos_cap_v2":   # Nichol & Dhariwal's cosine, β capped at 0.999 (diffusers' betas_for_alpha_bar)
        f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return torch.tensor([min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)], dtype=torch.float32)
    raise refuse(source, "beta_schedule", schedule, msg("diffusers.why_beta_schedule"))


def scheduler_to_diffusion(cfg: Any, source: str) -> tuple[DiffusionConfig, SamplingDefaults]:
    """A diffusers scheduler config -> (DiffusionConfig with the scheduler's betas, the sampling defaults)."""
    if not isinstance(cfg, dict):
        raise CheckpointError("diffusers.not_object", source=source, file="scheduler_config.json")
    cls = cfg.get("_class_name", "DDPMScheduler")
    if cls not in SCHEDULER_CLASSES:
        why = msg("diffusers.why_scheduler_class", classes=", ".join(SCHEDULER_CLASSES))
        raise refuse(source, "_class_name", cls, why)
    T = check_int(source, "num_train_timesteps", cfg.get("num_train_timesteps", 1000), 2, LIMITS.max_T)
    for fld, bad, why in (("thresholding", True, msg("diffusers.why_thresholding")),
                          ("rescale_betas_zero_snr", True, msg("diffusers.why_set_false")),
                          ("set_alpha_to_one", False, msg("diffusers.why_alpha_to_one"))):
        if cfg.get(fld, not bad) == bad:
            raise refuse(source, fld, bad, why)
    if cfg.get("steps_offset", 0) not in (0, None):
        raise refuse(source, "steps_offset", cfg["steps_offset"], msg("diffusers.why_steps_offset"))
    pred = cfg.get("prediction_type", "epsilon")
    if pred not in PREDICTION_TYPES:
        raise refuse(source, "prediction_type", pred, msg("diffusers.why_unmapped", supported=sorted(PREDICTION_TYPES)))
    var = cfg.get("variance_type", "fixed_small") or "fixed_small"
    if var not in VARIANCE_TYPES:
        raise refuse(source, "variance_type", var, msg("diffusers.why_variance_type"))
    spacing = cfg.get("timestep_spacing", "leading")
    if spacing not in SPACINGS:
        raise refuse(source, "timestep_spacing", spacing, msg("diffusers.why_unmapped", supported=list(SPACINGS)))
    clip = cfg.get("clip_sample", True)
    if not isinstance(clip, bool):
        raise refuse(source, "clip_sample", clip, msg("config.not_bool"))
    clip_range = check_float(source, "clip_sample_range", cfg.get("clip_sample_range", 1.0), 1e-3, 1e3)
    betas = diffusers_betas(cfg, T, source)
    if not ((betas > 0) & (betas < 1)).all():
        raise refuse(source, "beta_start", cfg.get("beta_start"), msg("diffusers.why_betas_range"))
    dcfg = DiffusionConfig(schedule="custom", T=T, objective=PREDICTION_TYPES[pred], betas=tuple(betas.tolist()))
    return dcfg, SamplingDefaults(spacing=spacing, clip_denoised=clip, clip_range=clip_range,
                                  variance=VARIANCE_TYPES[var], eps_from_clipped=False, convention="diffusers")


def check_variance_pair(desc: DiffusersUNetConfig, defaults: SamplingDefaults, source: str) -> None:
    """A U-Net with 2C outputs needs the learned_range scheduler that reads them, and that scheduler needs them."""
    learned = defaults.variance == "learned_range"
    if desc.learn_sigma and not learned:
        why = msg("diffusers.why_needs_learned_range", variance=defaults.variance)
        raise refuse(source, "out_channels", 2 * desc.in_channels, why)
    if learned and not desc.learn_sigma:
        why = msg("diffusers.why_needs_2c", c2=2 * desc.in_channels, c=desc.in_channels)
        raise refuse(source, "variance_type", "learned_range", why)


def diffusion_to_scheduler(dcfg: DiffusionConfig, betas: torch.Tensor, defaults: SamplingDefaults) -> dict:
    """Our schedule as a DDPMScheduler config: the exact betas as trained_betas (every schedule of ours, including
    the rescaled linear one and the cosine clipped to [1e-4, 0.9999], is then reproduced as it is)."""
    return {
        "_class_name": "DDPMScheduler", "num_train_timesteps": int(dcfg.T), "trained_betas": betas.tolist(),
        "beta_schedule": "linear", "beta_start": float(betas[0]), "beta_end": float(betas[-1]),
        "prediction_type": {v: k for k, v in PREDICTION_TYPES.items()}[dcfg.objective],
        "variance_type": defaults.variance, "clip_sample": defaults.clip_denoised,
        "clip_sample_range": defaults.clip_range, "timestep_spacing": defaults.spacing, "steps_offset": 0,
        "thresholding": False,
    }


# ------------------------------------------------------------------------------------------------- U-Net
@dataclass(frozen=True)
class DiffusersUNetConfig:
    """A UNet2DModel described with the fields the rest of the product reads from our UNetConfig."""
    image_size: int
    in_channels: int
    base_channels: int
    channel_mult: tuple
    num_res_blocks: int
    attention_resolutions: tuple
    num_heads: int
    num_classes: int                # real classes (num_class_embeds, less the null label when it has one)
    has_null_class: bool            # True only where the saved model declares its last class embedding null
    groups: int
    dropout: float = 0.0
    learn_sigma: bool = False       # out_channels = 2 · in_channels: [model output, v] (a learned_range scheduler)
    diffusers: dict = field(default_factory=dict, compare=False)   # the UNet2DModel config as saved

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channel_mult"], d["attention_resolutions"] = list(self.channel_mult), list(self.attention_resolutions)
        return d


UNET_REFUSED = {   # field -> (accepted values, why others are refused)
    "time_embedding_type": (("positional",), msg("diffusers.why_time_embedding")),
    "class_embed_type": ((None,), msg("diffusers.why_class_embed")),
    "center_input_sample": ((False,), msg("diffusers.why_center_input")),
}


def check_unet(cfg: Any, source: str, null_class: bool = False) -> tuple[dict, DiffusersUNetConfig]:
    """Range-check a UNet2DModel config.json before anything is built -> (constructor kwargs, description)."""
    if not isinstance(cfg, dict):
        raise CheckpointError("diffusers.not_object", source=source, file="unet config.json")
    cls = cfg.get("_class_name", "UNet2DModel")
    if cls == "UNet2DConditionModel":
        raise refuse(source, "_class_name", cls, msg("diffusers.why_text_unet"))
    if cls != "UNet2DModel":
        raise refuse(source, "_class_name", cls, msg("diffusers.why_not_unet2d"))
    for fld, (ok, why) in UNET_REFUSED.items():
        if cfg.get(fld, ok[0]) not in ok:
            raise refuse(source, fld, cfg[fld], msg("diffusers.why_not_supported", why=why))
    L = LIMITS
    size = cfg.get("sample_size")
    if isinstance(size, (list, tuple)):
        if len(size) != 2 or size[0] != size[1]:
            raise refuse(source, "sample_size", size, msg("diffusers.why_not_square"))
        size = size[0]
    size = check_int(source, "sample_size", size, 4, L.max_image_size)
    c_in = check_int(source, "in_channels", cfg.get("in_channels", 3), 1, L.max_in_channels)
    c_out = check_int(source, "out_channels", cfg.get("out_channels", 3), 1, 2 * L.max_in_channels)
    if c_out not in (c_in, 2 * c_in):
        raise refuse(source, "out_channels", c_out, msg("diffusers.why_out_channels", c=c_in))
    widths = check_int_list(source, "block_out_channels", cfg.get("block_out_channels", (224, 448, 672, 896)), 1,
                            L.max_width, L.max_levels)
    layers = check_int(source, "layers_per_block", cfg.get("layers_per_block", 2), 1, L.max_res_blocks)
    down = cfg.get("down_block_types", ())
    up = cfg.get("up_block_types", ())
    for fld, types, allowed in (("down_block_types", down, DOWN_BLOCKS), ("up_block_types", up, UP_BLOCKS)):
        if not isinstance(types, (list, tuple)) or len(types) != len(widths) or any(t not in allowed for t in types):
            raise refuse(source, fld, types, msg("diffusers.why_blocks", n=len(widths), allowed=list(allowed)))
    groups = check_int(source, "norm_num_groups", cfg.get("norm_num_groups", 32), 1, L.max_width)
    if cfg.get("attn_norm_num_groups") is not None:
        check_int(source, "attn_norm_num_groups", cfg["attn_norm_num_groups"], 1, L.max_width)
    head_dim = cfg.get("attention_head_dim", 8)
    head_dim = widths[-1] if head_dim is None else check_int(source, "attention_head_dim", head_dim, 1, L.max_width)
    if cfg.get("time_embedding_dim") is not None:
        check_int(source, "time_embedding_dim", cfg["time_embedding_dim"], 1, 4 * L.max_width)
    embeds = cfg.get("num_class_embeds")
    embeds = 0 if embeds is None else check_int(source, "num_class_embeds", embeds, 1, L.max_classes + 1)
    dropout = check_float(source, "dropout", cfg.get("dropout", 0.0), 0.0, 1.0, open_hi=True)
    kwargs = {k: v for k, v in cfg.items() if not k.startswith("_")}
    has_null = bool(null_class and embeds >= 2)
    desc = DiffusersUNetConfig(
        image_size=size, in_channels=c_in, base_channels=widths[0],
        channel_mult=tuple(max(1, w // widths[0]) for w in widths), num_res_blocks=layers,
        attention_resolutions=tuple(size >> i for i, t in enumerate(down) if t.startswith("Attn")),
        num_heads=max(1, widths[0] // head_dim), num_classes=embeds - 1 if has_null else embeds,
        has_null_class=has_null, groups=groups, dropout=dropout, learn_sigma=c_out == 2 * c_in, diffusers=dict(cfg))
    return kwargs, desc
