"""A model's recommended sampling setting: the sampler, steps, η and guidance scale that the CLI, the Python API
and the app start from, so that the same model gives the same images wherever it is sampled.

    from ddpm import load_checkpoint, generate
    ck = load_checkpoint("mnist")
    s = ck.recommended                      # SamplingSetting('ddim', 50, 0.5, 1.25, 'bundled', …)
    res = generate(ck.model, ck.diffusion, n=16, labels=[3] * 16, **s.generate_kwargs())
    python -m ddpm.recommend mnist                                    # print it, and where it comes from
    python -m ddpm.recommend my.safetensors --sampler ddim --steps 20 --eta 0.5 --guidance-scale 1.5 \
        --why "docs/my_report/report.json"                            # record it in the file (ddpm.recommend)

Where it comes from, first match wins (`SamplingSetting.source`):
1. "checkpoint": the file records it (meta "recommended_sampling", written by `ddpm.recommend.record_setting` /
   the CLI above);
2. "bundled": the file is one of the bundled models (by its SHA-256), whose setting is the one its model card's
   report measured (checkpoints/README.md). The bundled files themselves are not rewritten: every measurement of
   them quotes their hash;
3. "default": DDIM over 50 steps, η = 0, guidance 1 — what a model no one has measured starts from.
A model without classifier-free guidance (unconditional, or no null label) gets guidance 1 whatever is recorded.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Optional

from .messages import MessageError, msg, render
from .guidance import as_guidance_interval

META_KEY = "recommended_sampling"
SAMPLERS_WITH_STEPS = ("ddpm", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "unipc", "edm_heun", "restart")
MAX_STEPS, MAX_GUIDANCE = 10_000, 10.0


@dataclass(frozen=True)
class SamplingSetting:
    sampler: str = "ddim"
    steps: Optional[int] = 50           # None: the sampler's own (all T steps for DDPM)
    eta: float = 0.0                    # DDIM's η (other samplers ignore it)
    guidance_scale: float = 1.0         # classifier-free guidance w (1: the conditional model alone)
    source: str = "default"             # "checkpoint" | "bundled" | "default"
    why: str = ""                       # where it was measured (a report, a benchmark), as recorded
    guidance_interval: Optional[tuple] = None   # (s_lo, s_hi): w only where s_lo < σ/α ≤ s_hi (None: every step;
                                                # s_hi None: open), ddpm.guidance.GuidanceInterval

    def generate_kwargs(self) -> dict:
        """The keywords of ddpm.generate this setting fixes."""
        kw = {"sampler": self.sampler, "steps": self.steps, "guidance_scale": self.guidance_scale}
        if self.sampler == "ddim":
            kw["eta"] = self.eta
        if self.guidance_interval is not None:
            kw["guidance_interval"] = self.guidance_interval
        return kw

    def describe(self, lang: str = "en") -> str:
        """'DDIM, 50 steps, η = 0.5, guidance w = 1.25 (the model's card: …)', in the reader's language."""
        return render(msg("recommended.describe", sampler=self.sampler, steps=self.steps or "T",
                          eta=f"{self.eta:g}" if self.sampler == "ddim" else "—",
                          w=guidance_text(self.guidance_scale, self.guidance_interval),
                          source=msg(f"recommended.source_{self.source}", why=self.why)), lang)

    def as_meta(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d


DEFAULT = SamplingSetting()


def guidance_text(w: float, interval=None):
    """'2', or a Message rendering as '4 on s ∈ (0.28, 5.42]' in the reader's language."""
    if interval is None or w == 1.0:
        return f"{w:g}"
    return msg("recommended.guidance_interval", w=f"{w:g}", interval=str(as_guidance_interval(interval)))


# The bundled models by SHA-256 (first 16 hex digits, as every measurement quotes them) and the setting their
# model card's report measured (checkpoints/README.md).
BUNDLED = {
    "499d4776df9d9b79": SamplingSetting("ddim", 50, 0.5, 1.25, "bundled",
                                        "checkpoints/README.md, docs/report_mnist/report.json"),
    "17395282a177d592": SamplingSetting("ddim", 100, 0.0, 1.0, "bundled",
                                        "checkpoints/README.md, docs/report/report.json"),
    "bc3113eb6924a07a": SamplingSetting("ddim", 50, 1.0, 3.0, "bundled",
                                        "checkpoints/README.md, docs/report_emoji/report.json, "
                                        "bench/results/guidance_emoji_interval.json", guidance_interval=(0.28, 5.42)),
}


def check_setting(d: dict, name: str = "setting") -> SamplingSetting:
    """A SamplingSetting from a dict (a file's meta, the CLI), every field range-checked; MessageError if not."""
    if not isinstance(d, dict):
        raise MessageError("recommended.bad", name=name, field="recommended_sampling", value=type(d).__name__,
                           valid="a table of sampler, steps, eta, guidance_scale")
    sampler, steps = d.get("sampler", "ddim"), d.get("steps", 50)
    eta, w, why = d.get("eta", 0.0), d.get("guidance_scale", 1.0), d.get("why", "")
    if sampler not in SAMPLERS_WITH_STEPS:
        raise MessageError("recommended.bad", name=name, field="sampler", value=repr(sampler),
                           valid=", ".join(SAMPLERS_WITH_STEPS))
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS):
        raise MessageError("recommended.bad", name=name, field="steps", value=repr(steps),
                           valid=f"an integer in [1, {MAX_STEPS}], or none for the sampler's own")
    for field, value, lo, hi in (("eta", eta, 0.0, 1.0), ("guidance_scale", w, 0.0, MAX_GUIDANCE)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not lo <= value <= hi:
            raise MessageError("recommended.bad", name=name, field=field, value=repr(value), valid=f"[{lo:g}, {hi:g}]")
    if not isinstance(why, str) or len(why) > 500:
        raise MessageError("recommended.bad", name=name, field="why", value="(not text, or over 500 characters)",
                           valid="a short text: where the setting was measured")
    return SamplingSetting(sampler, steps, float(eta), float(w), "checkpoint", why,
                           _interval_field(d.get("guidance_interval"), name))


def _interval_field(value, name: str) -> Optional[tuple]:
    """A recorded guidance interval as (s_lo, s_hi or None), or None; MessageError naming the field if unusable."""
    if value is None:
        return None
    try:
        iv = as_guidance_interval(value)
    except ValueError:
        raise MessageError("recommended.bad", name=name, field="guidance_interval", value=repr(value)[:80],
                           valid="[s_lo, s_hi] with 0 <= s_lo < s_hi (s_hi null: open), or null") from None
    return tuple(iv.as_list())


def _file_sha16(path: str) -> Optional[str]:
    p = Path(path)
    if not p.is_file():
        return None
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def recommended_setting(ck) -> SamplingSetting:
    """The setting a LoadedCheckpoint is sampled with unless the caller says otherwise (module docstring)."""
    recorded = (ck.meta or {}).get(META_KEY)
    if recorded is not None:
        s = check_setting(recorded, Path(ck.path).name)
    else:
        s = BUNDLED.get(_file_sha16(ck.path) or "", DEFAULT)
    if s.guidance_scale != 1.0 and ck.guidance_unavailable is not None:
        s = replace(s, guidance_scale=1.0, guidance_interval=None)
    return s
