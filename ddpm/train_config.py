"""The training options, defined once: `TrainConfig`'s fields carry their help text and limits, and the CLI
parser (`python -m ddpm.train --help`), `TrainConfig.validate()` and the app's Train tab are all derived from them.

    TrainConfig.fields()            # [OptionSpec(name="data", type=str, default="digits", help=..., ...), ...]
    TrainConfig.option_spec("lr")   # OptionSpec(name="lr", type=float, default=0.002, low=0, high=1, ...)

Adding an option means adding one field here (with `option(...)`); the trainer reads it from the config.
"""
from __future__ import annotations

import argparse
from dataclasses import MISSING, asdict, dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any, Optional

from .data import DEFAULT_HOLDOUT
from .device import AMP_CHOICES
from .diffusion import OBJECTIVES, WEIGHTINGS
from .messages import Message, MessageError, msg
from .schedules import SCHEDULES
from .unet import PRESETS
from .vlb_loss import TRAIN_LOSSES


@dataclass(frozen=True)
class OptionSpec:
    """One training option: what a CLI flag, a validation rule and an app widget are made from."""
    name: str
    type: type                        # int | float | str | bool
    default: Any
    help: str                         # one line, shown by --help and as the app's info text
    low: Optional[float] = None       # smallest allowed value (None = unbounded)
    high: Optional[float] = None      # largest allowed value
    low_open: bool = False            # low itself is excluded: (low, ...
    high_open: bool = False           # high itself is excluded: ..., high)
    choices: Optional[tuple] = None   # the allowed values of a name (sorted)
    hint: Optional[Message] = None    # what is usual, added to a refusal

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> None:
        """Raise a MessageError (a ValueError) that says what is allowed."""
        if self.choices is not None:
            if value not in self.choices:
                raise MessageError("choice.unknown", kind=self.name, value=value, choices=sorted(self.choices))
            return
        if self.low is None and self.high is None:
            return
        too_low = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if too_low or too_high:
            if self.high is None:
                rule = msg("option.rule_above" if self.low_open else "option.rule_at_least", low=self.low)
            else:
                rule = msg("option.rule_in", low=self.low, high=self.high, left="(" if self.low_open else "[",
                           right=")" if self.high_open else "]")
            key = "option.out_of_range_hint" if self.hint else "option.out_of_range"
            raise MessageError(key, name=self.name, rule=rule, value=value, hint=self.hint or "")


def option(default: Any, help: str, *, low: Optional[float] = None, high: Optional[float] = None,
           low_open: bool = False, high_open: bool = False, choices=None, hint: Optional[Message] = None):
    """A dataclass field whose metadata holds its help text and limits (read back by TrainConfig.fields())."""
    meta = dict(help=help, low=low, high=high, low_open=low_open, high_open=high_open,
                choices=None if choices is None else tuple(sorted(choices)), hint=hint)
    return field(default=default, metadata=meta)


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


@dataclass
class TrainConfig:
    data: str = option("digits", "digits | mnist | mnist_full | fashion_mnist | cifar10 | a folder or .zip (of class "
                                  "folders: conditional; flat: unconditional) | a save_to_disk folder | hf:NAME:SPLIT")
    image_column: str = option("", "Hugging Face data: the image column (empty = detected)")
    label_column: str = option("", "Hugging Face data: the label column (empty = detected, 'none' = no labels)")
    image_size: int = option(16, "images are resized to this (digits are 8×8 natively)", low=4)
    preset: str = option("tiny", "U-Net size: tiny | small | base | large", choices=PRESETS)
    base_channels: int = option(0, "0 = the preset's", low=0)
    dropout: float = option(0.0, "dropout in residual blocks (Ho et al. 2020: 0.1 on CIFAR-10; against fitting a small "
                                 "training set)", low=0, high=1, high_open=True)
    hflip: bool = option(False, "mirror each training image left-right with probability 1/2 (Ho et al. 2020 on "
                                "CIFAR-10); only for data whose meaning survives a mirror: not digits or text")
    conditional: bool = option(True, "class-conditional (with a null label for guidance) or unconditional")
    schedule: str = option("linear", "noise schedule", choices=SCHEDULES)
    T: int = option(1000, "diffusion steps", low=2)
    objective: str = option("eps", "eps | x0 | v", choices=OBJECTIVES)
    loss: str = option("mse", "mse | l1 (L_simple) | vlb (the variational bound alone, t importance-sampled; "
                              "weighting does not apply)", choices=TRAIN_LOSSES)
    weighting: str = option("min_snr", "simple | snr | min_snr | importance (min_snr won bench/recipes.py)",
                            choices=WEIGHTINGS)
    learn_sigma: bool = option(False, "learn the reverse variance (Improved DDPM): the network also outputs v, "
                                      "trained by L_simple + 0.001·L_vlb; DDPM sampling then uses it")
    min_snr_gamma: float = option(5.0, "γ of min-SNR weighting", low=0, low_open=True)
    steps: int = option(2000, "optimizer steps", low=1)
    batch_size: int = option(128, "global batch (split over torchrun processes)", low=1)
    lr: float = option(2e-3, "peak learning rate", low=0, high=1, low_open=True, high_open=True,
                       hint=msg("option.usual", value="1e-4..2e-3"))
    weight_decay: float = option(0.0, "AdamW weight decay", low=0)
    warmup_steps: int = option(100, "linear warmup, then cosine decay", low=0)
    min_lr_ratio: float = option(0.1, "the cosine decays to lr · min_lr_ratio", low=0, high=1)
    grad_clip: float = option(1.0, "max gradient norm (0 = off)", low=0)
    ema_decay: float = option(0.999, "EMA of the weights (0 = off)", low=0, high=1, high_open=True,
                              hint=msg("option.usual", value="0.999"))
    label_dropout: float = option(0.1, "share of labels replaced by the null label (classifier-free guidance)",
                                  low=0, high=1, high_open=True, hint=msg("option.usual", value="0.1"))
    amp: str = option("auto", "network precision: auto (bf16/fp16 on CUDA, bf16 on a CPU with native bf16, else "
                              "fp32) | off (fp32) | bf16 | fp16 (CUDA only)", choices=AMP_CHOICES)
    compile: bool = option(False, "torch.compile the model")
    seed: int = option(0, "seed of the weights, batches and noise")
    log_every: int = option(25, "a loss line (metrics.jsonl) every N steps", low=1)
    sample_every: int = option(500, "a sample grid every N steps (0 = only at the end)", low=0)
    save_every: int = option(500, "a resumable checkpoint every N steps (0 = only at the end)", low=0)
    out: str = option("runs/digits", "output folder")
    device: str = option("auto", "auto | cpu | cuda | cuda:N | mps")
    resume: str = option("", '"" | "auto" (out/last.safetensors) | a checkpoint path')
    holdout: float = option(DEFAULT_HOLDOUT, "share of each class kept out of training (the metrics' held-out split)",
                            low=0, high=1, high_open=True, hint=msg("option.holdout_zero"))

    @classmethod
    def fields(cls) -> list[OptionSpec]:
        """Every option with its type, default, help and limits, in declaration order."""
        specs = []
        for f in dataclass_fields(cls):
            typ = f.type if isinstance(f.type, type) else _TYPES[str(f.type)]
            default = f.default if f.default is not MISSING else f.default_factory()
            specs.append(OptionSpec(f.name, typ, default, **f.metadata))
        return specs

    @classmethod
    def option_spec(cls, name: str) -> OptionSpec:
        for spec in cls.fields():
            if spec.name == name:
                return spec
        raise KeyError(f"no training option {name!r}; see `python -m ddpm.train --help`")

    def validate(self) -> None:
        for spec in self.fields():
            spec.check(getattr(self, spec.name))

    def to_dict(self) -> dict:
        return asdict(self)


def add_config_args(parser: argparse.ArgumentParser, cls=TrainConfig) -> None:
    """One flag per option (`--batch-size`), with the option's help; argparse's formatter adds the default."""
    for spec in cls.fields():
        help_ = spec.help.replace("%", "%%")
        if spec.type is bool:
            parser.add_argument(spec.flag, action=argparse.BooleanOptionalAction, default=spec.default, help=help_)
        else:
            # names are checked by validate(), which lists the choices sorted (argparse would list them unsorted)
            parser.add_argument(spec.flag, type=spec.type, default=spec.default, help=help_)


def config_from_args(args: argparse.Namespace, cls=TrainConfig) -> TrainConfig:
    return cls(**{spec.name: getattr(args, spec.name) for spec in cls.fields()})
