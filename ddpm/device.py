"""Device choice (CUDA, then Apple MPS, then CPU, unless the user names one) and the network's precision
(`--amp auto|off|bf16|fp16`; on a CPU, `auto` trains in bf16 where the processor computes it natively and samples in
fp32 everywhere, so that sampled images are the same on every CPU)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import torch

from .messages import Message, MessageError, msg


def pick_device(name: str | None = "auto") -> torch.device:
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise MessageError("device.unknown", name=name) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MessageError("device.no_cuda")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise MessageError("device.no_mps")
    return dev


# ---- numeric precision of the network (autocast) -----------------------------------------------------------
AMP_CHOICES = ("auto", "off", "bf16", "fp16")
USES = ("train", "sample")            # what the network runs for; `auto` is decided per use

# What `auto` picks on a CPU that computes bf16 natively, per use. Decided by bench/amp.py, measured on such a CPU
# (bench/results/amp_native_bf16.json) beside one that emulates it (bench/results/amp.json):
# - train: bf16. It trains faster there and the trained model's quality equals fp32's within the real-vs-real floor;
#   the checkpoint records the precision it was trained in.
# - sample: fp32. bf16 samples only somewhat faster, and its images differ from fp32's by up to a few hundredths
#   (a DDIM-20 image by 6e-2), so parity with diffusers, export round trips, the report, the Compare tab's
#   differences and a seed reproduced on another machine would depend on the CPU. Sampling in bf16 is asked for.
# Without native bf16, auto is fp32 for both: emulated bf16 is many times slower.
CPU_AUTO_BF16 = {"train": True, "sample": False}

# The switch that makes one CPU behave as the other kind: DDPM_CPU_BF16=native|emulated (unset or detect: ask the
# CPU). Tests run the precision-sensitive cases both ways; a user can see what auto does on the other kind.
CPU_BF16_ENV = "DDPM_CPU_BF16"
CPU_BF16_VALUES = ("detect", "native", "emulated")


def cpu_bf16_override() -> Optional[bool]:
    """DDPM_CPU_BF16 read: True (native), False (emulated) or None (detect). An unknown value is refused."""
    value = os.environ.get(CPU_BF16_ENV, "").strip().lower()
    if value in ("", "detect"):
        return None
    if value not in CPU_BF16_VALUES:
        raise MessageError("device.bf16_env", env=CPU_BF16_ENV, value=os.environ[CPU_BF16_ENV],
                           values=", ".join(CPU_BF16_VALUES))
    return value == "native"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively: AVX-512 BF16 or AMX-BF16 on x86, the BF16 extension on Arm.
    Without it PyTorch emulates bf16 on fp32 units, which is slower than plain fp32. DDPM_CPU_BF16=native|emulated
    overrides the answer (only the decision: the arithmetic is the CPU's own)."""
    forced = cpu_bf16_override()
    if forced is not None:
        return forced
    caps = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    if caps.get("avx512_bf16") or caps.get("amx_bf16"):
        return True
    try:   # Arm (and x86 where torch's query is missing): the kernel's CPU flags
        with open("/proc/cpuinfo") as f:
            flags = {w for line in f if line.lower().startswith(("flags", "features")) for w in line.split()}
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


@dataclass(frozen=True)
class Precision:
    """The precision the network runs in. Everything around it (loss, EMA, optimizer state, schedule tables,
    sampler arithmetic) stays in fp32/float64: `run` casts the network's output back to fp32."""
    name: str                          # fp32 | bf16 | fp16
    device_type: str                   # cpu | cuda | mps
    reason: str                        # why this precision (what `auto` saw)
    warning: Optional[str] = None      # said to the user before the work starts (e.g. emulated bf16 is slow)
    notice: Optional[Message] = None   # the warning as a Message, for a reader in another language

    @property
    def dtype(self) -> Optional[torch.dtype]:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self):
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def run(self, fn, *args, **kwargs):
        """fn(*args) with its matrix products in this precision; the result in fp32."""
        if self.dtype is None:
            return fn(*args, **kwargs)
        with self.autocast():
            return fn(*args, **kwargs).float()




def resolve_precision(amp: str, device: torch.device | str, use: str = "sample") -> Precision:
    """`--amp` on a device, for a use ("train" or "sample") -> the Precision to run in.

    auto: bf16 on CUDA with bf16 (else fp16); on a CPU with native bf16, CPU_AUTO_BF16[use] (bf16 to train, fp32 to
    sample); fp32 elsewhere. off: fp32. bf16 / fp16 as asked (fp16 on a CPU is refused; bf16 on a CPU that emulates
    it carries a warning)."""
    if amp not in AMP_CHOICES:
        raise MessageError("choice.unknown", kind="amp", value=amp, choices=sorted(AMP_CHOICES))
    if use not in USES:
        raise MessageError("choice.unknown", kind="use", value=use, choices=list(USES))
    kind = torch.device(device).type
    if amp == "off":
        return Precision("fp32", kind, "--amp off")
    if kind == "cuda":
        if amp == "auto":
            name = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            return Precision(name, kind, f"auto: {name} on this GPU")
        return Precision(amp, kind, f"--amp {amp}")
    if kind != "cpu":
        if amp == "auto":
            return Precision("fp32", kind, f"auto: fp32 on {kind}")
        return Precision(amp, kind, f"--amp {amp}")
    native = cpu_has_native_bf16()
    if amp == "fp16":
        raise MessageError("precision.fp16_on_cpu")
    if amp == "bf16":
        notice = None if native else msg("precision.emulated_bf16")
        return Precision("bf16", kind, "--amp bf16", notice and str(notice), notice)
    if not native:
        return Precision("fp32", kind, "auto: fp32 (this CPU has no native bf16)")
    if CPU_AUTO_BF16[use]:
        return Precision("bf16", kind, "auto: bf16 to train (this CPU computes bf16 natively)")
    return Precision("fp32", kind, "auto: fp32 to sample (the same images on every CPU; --amp bf16 to ask for bf16)")
