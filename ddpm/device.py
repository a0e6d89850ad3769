"""Device choice (CUDA, then Apple MPS, then CPU, unless the user names one) and the network's precision
(`--amp auto|off|bf16|fp16`: bf16 autocast where the processor computes it natively, fp32 elsewhere)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


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
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but MPS is not available; use --device cpu or auto")
    return dev


# ---- numeric precision of the network (autocast) -----------------------------------------------------------
AMP_CHOICES = ("auto", "off", "bf16", "fp16")

# Whether `auto` picks bf16 on a CPU with native bf16. Decided by bench/amp.py (bench/results/amp.json): bf16
# and fp32 gave the same quality within the real-vs-real floor, both for training (100 steps, same seed: FID
# 11.865 vs 11.883, floor 0.138, n=200) and for sampling the bundled model (FID 0.235 vs 0.236, floor 0.266,
# n=100). bf16 rounds the same way whether the CPU computes it natively or emulates it, so that comparison
# carries over to native CPUs; only the speed differs (1.4× training, 1.5× sampling on an AVX-512 BF16 EPYC:
# bench/results/speed.json). Without native bf16, auto stays fp32: emulated bf16 is many times slower.
CPU_AUTO_BF16 = True


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively: AVX-512 BF16 or AMX-BF16 on x86, the BF16 extension on Arm.
    Without it PyTorch emulates bf16 on fp32 units, which is slower than plain fp32."""
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


FP16_ON_CPU = ("fp16 is refused on a CPU: CPUs have no fast fp16 path here and fp16's narrow range needs loss "
               "scaling; use --amp bf16 (fast where the CPU has native bf16) or --amp off")


def resolve_precision(amp: str, device: torch.device | str) -> Precision:
    """`--amp` on a device -> the Precision to run in. auto: bf16 on CUDA with bf16 (else fp16), bf16 on a CPU
    with native bf16 (CPU_AUTO_BF16), else fp32; off: fp32; bf16 / fp16 as asked (fp16 on a CPU is refused)."""
    if amp not in AMP_CHOICES:
        raise ValueError(f"unknown amp {amp!r}; choose from {sorted(AMP_CHOICES)}")
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
        raise ValueError(FP16_ON_CPU)
    if amp == "bf16":
        warning = None if native else ("this CPU has no native bf16 (no AVX-512 BF16 / AMX): PyTorch emulates "
                                       "it, which is slower than fp32; --amp off or auto is faster here")
        return Precision("bf16", kind, "--amp bf16", warning)
    if native and CPU_AUTO_BF16:
        return Precision("bf16", kind, "auto: this CPU computes bf16 natively")
    return Precision("fp32", kind, "auto: fp32 (this CPU has no native bf16)" if not native else
                     "auto: fp32 (bf16 is not the CPU default)")
