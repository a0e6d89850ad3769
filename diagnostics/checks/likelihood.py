"""The report's likelihood section: bits/dim (diagnostics.likelihood) on the training and held-out splits, their
gap, the parts of the bound and the per-timestep terms, with a verdict on the gap."""
from __future__ import annotations

import math

from ddpm import GaussianDiffusion

from typing import Optional

from ..likelihood import likelihood_on_splits
from ..text import Text, msg
from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from .result import CheckResult, skipped, title_of

KEY = "likelihood"
TITLE = title_of(KEY)


def likelihood_on_report_splits(model, diffusion: GaussianDiffusion, splits, *, n: int, stride: int, seed: int = 0,
                                thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: Optional[Text] = None) -> CheckResult:
    """check_likelihood as the report runs it: skipped with the reason when n = 0 (quick mode) or there is no data."""
    if not n:
        return skipped(KEY, TITLE, msg("likelihood.quick"))
    return check_likelihood(model, diffusion, splits, n=n, stride=stride, seed=seed, thresholds=thresholds,
                            real_reason=real_reason)


def check_likelihood(model, diffusion: GaussianDiffusion, splits, *, n: int = 256, stride: int = 10, seed: int = 0,
                     thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: Optional[Text] = None) -> CheckResult:
    """The report section: bits/dim on the training and held-out splits (a RealSplits), the gap and the per-t terms.

    Verdict: warn when held-out bits/dim exceed training bits/dim by more than thresholds.bpd_gap_warn (relative)
    and by more than three standard errors of the paired gap; fail when the bound is not finite."""
    th = thresholds
    if splits is None:
        return skipped(KEY, TITLE, msg("likelihood.needs_data_why", why=real_reason) if real_reason
                       else msg("likelihood.needs_data"))
    stride = min(stride, diffusion.T - 1)
    heldout = None if splits.heldout is None or splits.heldout_seen else splits.heldout
    r = likelihood_on_splits(model, diffusion, splits.reference, heldout, n=n, stride=stride, seed=seed)
    tr, he = r.train, r.heldout
    numbers = {"train_bpd": tr.bpd, "train_bpd_se": tr.standard_error}
    if he is not None:
        numbers.update({"heldout_bpd": he.bpd, "heldout_bpd_se": he.standard_error, "gap_bpd": r.gap,
                        "gap_se": r.gap_se, "gap_relative": r.gap / tr.bpd if tr.bpd > 0 else math.nan})
    numbers.update({"stride": r.stride, "interpolation_bound": max(tr.interpolation_bound,
                                                                   he.interpolation_bound if he else 0.0),
                    "n_per_split": tr.n, "conditional": r.conditional,
                    "parts": [{"part": msg("likelihood.part_prior"), "training": tr.prior, **({"held-out": he.prior} if he else {}),
                               "meaning": msg("likelihood.meaning_prior")},
                              {"part": msg("likelihood.part_kl"), "training": tr.kl, **({"held-out": he.kl} if he else {}),
                               "meaning": msg("likelihood.meaning_kl")},
                              {"part": msg("likelihood.part_decoder"), "training": tr.decoder, **({"held-out": he.decoder} if he else {}),
                               "meaning": msg("likelihood.meaning_decoder")},
                              {"part": msg("likelihood.part_bpd"), "training": tr.bpd, **({"held-out": he.bpd} if he else {}),
                               "meaning": msg("likelihood.meaning_bpd")}],
                    "per_t": {"t": tr.timesteps, "training": tr.terms, **({"heldout": he.terms} if he else {})}})
    cond = "likelihood.given_y" if r.conditional else "likelihood.no_y"
    what = dict(x=msg(cond), bpd=tr.bpd, se=tr.standard_error, n=tr.n)
    rule = msg("likelihood.rule", gap=th.bpd_gap_warn)
    notes = [msg("likelihood.note_stride", stride=r.stride, bound=numbers["interpolation_bound"], variance=r.variance),
             msg("likelihood.meaning_gap")]
    if r.stride > 1:
        notes.append(msg("likelihood.note_kl_stride", stride=r.stride, evaluated=len(tr.timesteps) - 1,
                         total=diffusion.T - 1, bound=tr.interpolation_bound))
    fix = None
    if not all(math.isfinite(v) for v in (tr.bpd, *(() if he is None else (he.bpd,)))):
        verdict, summary = "fail", msg("likelihood.nonfinite")
        fix = msg("likelihood.nonfinite_fix")
    elif he is None:
        verdict = "ok"
        summary = msg("likelihood.ok_no_heldout", **what)
        notes.append(msg("likelihood.note_no_heldout", why=msg("likelihood.trained_on_every" if splits.heldout_seen
                                                                else "likelihood.too_few")))
    else:
        rel = r.gap / tr.bpd if tr.bpd > 0 else math.inf
        judged = rel > th.bpd_gap_warn and r.gap > 3 * r.gap_se
        verdict = "warn" if judged else "ok"
        summary = msg("likelihood.gap", **what, held=he.bpd, held_se=he.standard_error, held_n=he.n, gap=r.gap,
                      gap_se=r.gap_se, rel=rel)
        if judged:
            fix = msg("likelihood.fix")
    return CheckResult(KEY, TITLE, verdict, summary, numbers, rule, fix, n=tr.n, notes=notes, seconds=r.seconds)
