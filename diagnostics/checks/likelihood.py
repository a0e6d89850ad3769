"""The report's likelihood section: bits/dim (diagnostics.likelihood) on the training and held-out splits, their
gap, the parts of the bound and the per-timestep terms, with a verdict on the gap."""
from __future__ import annotations

import math

from ddpm import GaussianDiffusion

from ..likelihood import MEANING, likelihood_on_splits
from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from .result import CheckResult, skipped

KEY, TITLE = "likelihood", "Likelihood (bits/dim from the variational bound)"


def likelihood_on_report_splits(model, diffusion: GaussianDiffusion, splits, *, n: int, stride: int, seed: int = 0,
                                thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: str = "") -> CheckResult:
    """check_likelihood as the report runs it: skipped with the reason when n = 0 (quick mode) or there is no data."""
    if not n:
        return skipped(KEY, TITLE, "not computed in quick mode (≈ 2·(stride + T/stride) network passes per image): "
                                   "run the full report, add --likelihood, or run `python -m diagnostics likelihood "
                                   "CKPT`")
    return check_likelihood(model, diffusion, splits, n=n, stride=stride, seed=seed, thresholds=thresholds,
                            real_reason=real_reason)


def check_likelihood(model, diffusion: GaussianDiffusion, splits, *, n: int = 256, stride: int = 10, seed: int = 0,
                     thresholds: Thresholds = DEFAULT_THRESHOLDS, real_reason: str = "") -> CheckResult:
    """The report section: bits/dim on the training and held-out splits (a RealSplits), the gap and the per-t terms.

    Verdict: warn when held-out bits/dim exceed training bits/dim by more than thresholds.bpd_gap_warn (relative)
    and by more than three standard errors of the paired gap; fail when the bound is not finite."""
    th = thresholds
    if splits is None:
        return skipped(KEY, TITLE, f"needs the real data set{': ' + real_reason if real_reason else ''}")
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
                    "parts": [{"part": "prior L_T", "training": tr.prior, **({"held-out": he.prior} if he else {}),
                               "meaning": MEANING["prior"]},
                              {"part": "Σ KL L_{t−1}", "training": tr.kl, **({"held-out": he.kl} if he else {}),
                               "meaning": MEANING["kl"]},
                              {"part": "decoder L_0", "training": tr.decoder, **({"held-out": he.decoder} if he else {}),
                               "meaning": MEANING["decoder"]},
                              {"part": "bits/dim (total)", "training": tr.bpd, **({"held-out": he.bpd} if he else {}),
                               "meaning": MEANING["bpd"]}],
                    "per_t": {"t": tr.timesteps, "training": tr.terms, **({"heldout": he.terms} if he else {})}})
    what = (f"−log₂ p(x{' | y' if r.conditional else ''}) ≤ {tr.bpd:.3f} ± {tr.standard_error:.3f} bits/dim on "
            f"{tr.n} training images")
    rule = (f"warn if held-out bits/dim exceed training bits/dim by more than {th.bpd_gap_warn:.0%} and by more "
            f"than 3 standard errors of the paired gap; fail if the bound is not finite")
    notes = [f"every {r.stride}-th timestep evaluated (±{numbers['interpolation_bound']:.2g} bits/dim from the stride "
             "if the mean term is monotone between evaluated timesteps); 8-bit data, discretised Gaussian decoder, "
             f"{r.variance} reverse variance, x̂_0 clipped to [−1, 1]", MEANING["gap"]] + r.notes
    fix = ""
    if not all(math.isfinite(v) for v in (tr.bpd, *(() if he is None else (he.bpd,)))):
        verdict, summary = "fail", "The bound is not finite: the network outputs NaN/Inf on noised real images."
        fix = "See the model-basics check: the weights hold NaN/Inf or the run diverged; use an earlier checkpoint."
    elif he is None:
        verdict = "ok"
        summary = what + "; no unseen held-out split to compare with."
        notes.append("no held-out split the model never saw: " + ("it trained on every image" if splits.heldout_seen
                                                                  else "too few images to hold any out"))
    else:
        rel = r.gap / tr.bpd if tr.bpd > 0 else math.inf
        judged = rel > th.bpd_gap_warn and r.gap > 3 * r.gap_se
        verdict = "warn" if judged else "ok"
        summary = (f"{what}, {he.bpd:.3f} ± {he.standard_error:.3f} on {he.n} held-out images: gap "
                   f"{r.gap:+.3f} ± {r.gap_se:.3f} ({rel:+.1%}).")
        if judged:
            fix = ("The model gives its training images clearly more probability than new ones: it is fitting the "
                   "training set itself. See the generalisation check for where (which noise levels); stop earlier "
                   "(an earlier checkpoint), train on more data or with augmentation, or add dropout.")
    res = CheckResult(KEY, TITLE, verdict, summary, numbers, rule, fix, n=tr.n, notes=notes, seconds=r.seconds)
    return res
