"""What every checkpoint format returns and raises: `LoadedCheckpoint` and `CheckpointError`; and `clip`, how
any message (the core's, the app's) quotes a value someone sent."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional

from torch import nn

from ..diffusion import DiffusionConfig, GaussianDiffusion, SamplingDefaults
from ..messages import Message, MessageError, msg


class CheckpointError(MessageError):
    """A file that cannot be used as a checkpoint; the message says why and what to do. Raised with a message key
    and its values (ddpm/locales), or a Message; English text alone (a few raises still do) becomes the message
    "error.untranslated", shown as that English in every language."""

    def __init__(self, key: str | Message, **values):
        if isinstance(key, str) and not values and (" " in key or ":" in key):
            key, values = "error.untranslated", {"detail": key}
        super().__init__(key, **values)


QUOTE_LIMIT = 200     # characters of a value someone sent that a message quotes back


def clip(value: Any, limit: int = QUOTE_LIMIT) -> Any:
    """A value as a message may quote it: the value itself when its text (a string's own, anything else's repr)
    is at most `limit` characters, else that text's first `limit` characters and "…". So `f"{clip(v)!r}"` shows
    a short value exactly as before, and a 10 MB one as 200 characters, in the reply and in the log."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…"
    try:
        text = repr(value)
    except (RecursionError, ValueError):      # a deeply nested structure, an int over Python's 4,300 digits
        return f"({type(value).__name__})…"
    return value if len(text) <= limit else text[:limit] + "…"


def quoted(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """repr(value) for a message, at most about `limit` characters (see `clip`)."""
    shown = clip(value, limit)
    return repr(shown) if shown is value or isinstance(value, str) else shown


@dataclass
class LoadedCheckpoint:
    model: nn.Module                 # in eval mode, callable as model(x_t, t, y); EMA weights unless weights="raw"
    diffusion: GaussianDiffusion     # carries the model's sampling defaults (diffusion.sampling_defaults)
    unet_config: Any                 # ddpm.UNetConfig, or DiffusersUNetConfig for a diffusers UNet2DModel
    diffusion_config: DiffusionConfig
    class_names: list[str]
    step: int
    meta: dict                       # the whole JSON config saved with the weights (data, train, metrics)
    path: str
    weights: str                     # "ema" or "raw"
    has_train_state: bool = False
    source: str = "ddpm-workbench"   # where it came from: "ddpm-workbench" or e.g. "diffusers DDPMPipeline folder"

    @property
    def num_classes(self) -> int:
        return self.unet_config.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.unet_config
        return (c.in_channels, c.image_size, c.image_size)

    @property
    def sampling_defaults(self) -> SamplingDefaults:
        """Spacing, clipping and variance the samplers use for this model unless the caller overrides them."""
        return self.diffusion.sampling_defaults

    @cached_property
    def recommended(self):
        """The model's recommended sampling setting (ddpm.recommended.SamplingSetting): what the file records, the
        bundled model's card, or DDIM-50 η = 0 w = 1; the CLI and the app start from it."""
        from ..recommended import recommended_setting
        return recommended_setting(self)

    @property
    def guidance_unavailable(self) -> Optional[str]:
        """None when classifier-free guidance works on this model, else why not (for the UI and the API)."""
        return guidance_unavailable(self.model)

    @property
    def guidance_unavailable_message(self) -> Optional[Message]:
        """guidance_unavailable as a Message, for a reader in another language."""
        return guidance_unavailable_message(self.model)

    @property
    def nbytes(self) -> int:
        """Memory the loaded checkpoint holds: parameters and buffers plus the diffusion's tables."""
        return module_bytes(self.model) + diffusion_bytes(self.diffusion_config.T)


def guidance_unavailable(model: nn.Module) -> Optional[str]:
    """Classifier-free guidance needs a class-conditional model with a null ("no class") label: None, or why not."""
    why = guidance_unavailable_message(model)
    return None if why is None else str(why)


def guidance_unavailable_message(model: nn.Module) -> Optional[Message]:
    """guidance_unavailable as a Message (rendered in the reader's language)."""
    cfg = getattr(model, "config", None)
    if not getattr(cfg, "num_classes", 0):
        return msg("guidance.unconditional")
    if not getattr(cfg, "has_null_class", True):
        return msg("guidance.no_null_label", k=cfg.num_classes)
    return None


def module_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


DIFFUSION_BYTES_PER_STEP = 700   # 14 float64 + 14 float32 tables and a StepCoefficients of Python floats per t (measured)


def diffusion_bytes(T: int) -> int:
    """What GaussianDiffusion holds for T steps (tests/test_checkpoint_limits.py measures it against the RSS)."""
    return int(T) * DIFFUSION_BYTES_PER_STEP
