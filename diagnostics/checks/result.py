"""What every check returns: a `CheckResult` (verdict, one sentence, the numbers, the rule, the fix), the order
of verdicts, and the small helpers the checks share to build one."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

VERDICTS = ("ok", "warn", "fail", "skip")
SEVERITY = {"ok": 0, "skip": 0, "warn": 1, "fail": 2}   # a skipped check neither passes nor fails the report
StageFn = Callable[[str, float], None]                   # (stage, overall fraction done in [0, 1])


@dataclass
class CheckResult:
    key: str                      # stable identifier, e.g. "schedule"
    title: str                    # e.g. "Noise schedule"
    verdict: str                  # ok | warn | fail | skip
    summary: str                  # one sentence
    numbers: dict[str, Any] = field(default_factory=dict)   # scalars, lists, and tables (lists of dicts)
    threshold: str = ""           # the rule that decided the verdict, in words
    fix: str = ""                 # what to do, in plain words; "" when ok
    n: Optional[int] = None       # images the numbers are computed on, where that applies
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0          # time the check took

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS} (got {self.verdict!r})")

    def as_dict(self) -> dict:
        """Every field (figures are not stored: diagnostics.plots draws them from the numbers when rendering)."""
        return {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}


def worst_verdict(verdicts: Sequence[str]) -> str:
    """fail > warn > ok; skips are ignored unless everything was skipped."""
    judged = [v for v in verdicts if v != "skip"]
    if not judged:
        return "skip" if verdicts else "ok"
    return max(judged, key=lambda v: SEVERITY[v])


def overall_summary(results: Sequence[CheckResult]) -> str:
    """The worst verdict in words, naming the checks that did not run: a skipped check neither passes nor fails,
    so "ok" over a report that skipped some reads "ok, 2 of 9 checks skipped: Sample quality, Memorisation"."""
    verdict = worst_verdict([r.verdict for r in results])
    skipped_titles = [r.title for r in results if r.verdict == "skip"]
    if not skipped_titles:
        return verdict
    if verdict == "skip":
        return f"skip: all {len(results)} checks were skipped"
    return f"{verdict}, {len(skipped_titles)} of {len(results)} checks skipped: {', '.join(skipped_titles)}"


@dataclass
class Findings:
    """The problems one check found, each raising the verdict to at least its own, with what to do about it."""
    verdict: str = "ok"
    problems: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    def add(self, verdict: str, problem: str, fix: str = "") -> None:
        self.verdict = worst_verdict([self.verdict, verdict])
        self.problems.append(problem)
        if fix:
            self.fixes.append(fix)

    def fix_text(self) -> str:
        """The fixes as sentences, each once, in the order found."""
        return " ".join(sentence(f) for f in dict.fromkeys(self.fixes))


def sentence(s: str) -> str:
    """'use the EMA weights' -> 'Use the EMA weights.'"""
    s = s.strip()
    s = s[:1].upper() + s[1:]
    return s if s.endswith(".") else s + "."


def to_float(x) -> float:
    """A 0-d tensor or a number as a Python float."""
    return float(x.item() if torch.is_tensor(x) else x)


def histograms(bins: int, **series: Tensor) -> dict[str, list]:
    """Counts of each 1-D series over the same `bins` bins from 0 to the largest value of any:
    {"bin_edges": bins + 1 floats, name: bins counts, ...}."""
    hi = max([to_float(v.max()) for v in series.values()] + [1e-6])
    counts = {name: torch.histc(v, bins, 0, hi).tolist() for name, v in series.items()}
    return {"bin_edges": torch.linspace(0, hi, bins + 1).tolist(), **counts}


def skipped(key: str, title: str, reason: str) -> CheckResult:
    return CheckResult(key, title, "skip", reason, threshold="not run", notes=[reason])


def nonfinite_samples(key: str, title: str, images: Tensor) -> Optional[CheckResult]:
    """A failed result when some of images (N, C, H, W) hold NaN/Inf, else None."""
    bad = int((~torch.isfinite(images.detach().float()).flatten(1).all(1)).sum())
    if not bad:
        return None
    return CheckResult(key, title, "fail", f"{bad} of {len(images)} samples contain NaN/Inf: the sampler diverged.",
                       {"nonfinite_samples": bad}, "fail if any sample holds NaN/Inf",
                       "See the model-basics and x̂_0 checks: retrain from an earlier checkpoint with a lower learning "
                       "rate, and sample with clip_denoised=True.", n=len(images))
