"""What every check returns: a `CheckResult` (verdict, one sentence, the numbers, the rule, the fix), the order
of verdicts, and the small helpers the checks share to build one. Every sentence is a Message (diagnostics.text):
a key of diagnostics/locales/*.toml and its values, rendered in the report's language only where it is shown."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import torch
from torch import Tensor

from ddpm.messages import MessageError
from ..text import Message, Text, known, msg, say, sentences, to_plain

VERDICTS = ("ok", "warn", "fail", "skip")
SEVERITY = {"ok": 0, "skip": 0, "warn": 1, "fail": 2}   # a skipped check neither passes nor fails the report
StageFn = Callable[[str, float], None]                   # (stage, overall fraction done in [0, 1])


@dataclass
class CheckResult:
    key: str                      # stable identifier, e.g. "schedule"
    title: str                    # e.g. "Noise schedule" (English, for readers of report.json; shown as check.<key>.title)
    verdict: str                  # ok | warn | fail | skip
    summary: Text                 # one sentence, a Message
    numbers: dict[str, Any] = field(default_factory=dict)   # scalars, lists, tables (lists of dicts), Messages
    threshold: Optional[Text] = None   # the rule that decided the verdict, in words
    fix: Optional[Text] = None    # what to do, in plain words; None when ok
    n: Optional[int] = None       # images the numbers are computed on, where that applies
    notes: list[Text] = field(default_factory=list)
    seconds: float = 0.0          # time the check took

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise MessageError("result.verdict", verdicts=VERDICTS, verdict=self.verdict)

    def as_dict(self) -> dict:
        """Every field, JSON-ready (figures are not stored: diagnostics.plots draws them from the numbers when
        rendering): summary, threshold, fix and notes as their English text, as report.json's readers expect, and
        under "messages" as {"key", "values"}, from which `from_dict` and the renderer write any language."""
        return {"key": self.key, "title": self.title, "verdict": self.verdict, "summary": say(self.summary),
                "numbers": to_plain(copy.deepcopy(self.numbers)), "threshold": say(self.threshold),
                "fix": say(self.fix), "n": self.n, "notes": [say(x) for x in self.notes], "seconds": self.seconds,
                "messages": {"summary": to_plain(self.summary), "threshold": to_plain(self.threshold),
                             "fix": to_plain(self.fix), "notes": to_plain(self.notes)}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "CheckResult":
        """A result back from as_dict(); one written before messages were stored keeps its English text (str)."""
        from ..text import revive
        texts = revive(d.get("messages") or {})
        pick = lambda name, default: texts.get(name, d.get(name, default))      # noqa: E731
        return cls(d["key"], d["title"], d["verdict"], pick("summary", ""), revive(d.get("numbers") or {}),
                   pick("threshold", None) or None, pick("fix", None) or None, d.get("n"),
                   list(pick("notes", []) or []), d.get("seconds", 0.0))

    @property
    def messages_only(self) -> bool:
        """Whether every sentence is a Message (so it renders in any language), not English text."""
        return all(isinstance(x, Message) for x in [self.summary, self.threshold, self.fix, *self.notes]
                   if x is not None and x != "")


def worst_verdict(verdicts: Sequence[str]) -> str:
    """fail > warn > ok; skips are ignored unless everything was skipped."""
    judged = [v for v in verdicts if v != "skip"]
    if not judged:
        return "skip" if verdicts else "ok"
    return max(judged, key=lambda v: SEVERITY[v])


def overall_summary(results: Sequence[CheckResult]) -> Message:
    """The worst verdict in words, naming the checks that did not run: a skipped check neither passes nor fails,
    so "ok" over a report that skipped some reads "ok, 2 of 9 checks skipped: Sample quality, Memorisation"."""
    verdict = worst_verdict([r.verdict for r in results])
    skipped_results = [r for r in results if r.verdict == "skip"]
    if not skipped_results:
        return msg(f"verdict.{verdict}")
    if verdict == "skip":
        return msg("report.all_skipped", n=len(results))
    titles = [msg(f"check.{r.key}.title") if known(f"check.{r.key}.title") else r.title for r in skipped_results]
    return msg("report.skipped", verdict=msg(f"verdict.{verdict}"), k=len(skipped_results), n=len(results),
               titles=titles if any(isinstance(t, Message) for t in titles) else "; ".join(titles))


@dataclass
class Findings:
    """The problems one check found, each raising the verdict to at least its own, with what to do about it."""
    verdict: str = "ok"
    problems: list[Message] = field(default_factory=list)
    fixes: list[Message] = field(default_factory=list)

    def add(self, verdict: str, problem: Message, fix: Optional[Message] = None) -> None:
        self.verdict = worst_verdict([self.verdict, verdict])
        self.problems.append(problem)
        if fix is not None:
            self.fixes.append(fix)

    def fix_message(self) -> Optional[Message]:
        """The fixes as sentences, each once, in the order found (None when there are none)."""
        return sentences(self.fixes)


def to_float(x) -> float:
    """A 0-d tensor or a number as a Python float."""
    return float(x.item() if torch.is_tensor(x) else x)


def histograms(bins: int, **series: Tensor) -> dict[str, list]:
    """Counts of each 1-D series over the same `bins` bins from 0 to the largest value of any:
    {"bin_edges": bins + 1 floats, name: bins counts, ...}."""
    hi = max([to_float(v.max()) for v in series.values()] + [1e-6])
    counts = {name: torch.histc(v, bins, 0, hi).tolist() for name, v in series.items()}
    return {"bin_edges": torch.linspace(0, hi, bins + 1).tolist(), **counts}


def skipped(key: str, title: str, reason: Message) -> CheckResult:
    return CheckResult(key, title, "skip", reason, threshold=msg("common.not_run"), notes=[reason])


def nonfinite_samples(key: str, title: str, images: Tensor) -> Optional[CheckResult]:
    """A failed result when some of images (N, C, H, W) hold NaN/Inf, else None."""
    bad = int((~torch.isfinite(images.detach().float()).flatten(1).all(1)).sum())
    if not bad:
        return None
    return CheckResult(key, title, "fail", msg("common.nonfinite_samples", bad=bad, n=len(images)),
                       {"nonfinite_samples": bad}, msg("common.nonfinite_rule"), msg("common.nonfinite_fix"),
                       n=len(images))


def title_of(key: str) -> str:
    """A check's English title (check.<key>.title), as report.json stores it."""
    return say(Message(f"check.{key}.title"))
