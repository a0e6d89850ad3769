"""Sample quality: FID beside its real-vs-real floor, Inception Score, k-NN precision/recall and conditional
accuracy, all in the units of one feature network (diagnostics.features, diagnostics.metrics)."""
from __future__ import annotations

import math
import time
from typing import Optional

from torch import Tensor

from ..intervals import MIN_INTERVAL_N, NOT_MET, NOT_RESOLVED, target_verdict
from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from .result import CheckResult, Findings, skipped

KEY, TITLE = "sample_quality", "Sample quality (FID, IS, precision/recall)"
CAPTIONED = ("fid", "fid_floor", "inception_score", "precision", "recall", "conditional_accuracy")


def feature_net_mismatch(extractor, data: dict) -> Optional[str]:
    """Why this feature network cannot score this checkpoint's images (None if it can).

    data: the checkpoint's meta["data"] ({"name", "image_size", "channels"}).
    """
    name, size, ch = data.get("name"), data.get("image_size"), data.get("channels")
    fname = getattr(extractor, "name", "the feature network")
    if getattr(extractor, "generic", False):      # Inception-v3: any size (resized), 1 or 3 channels
        return None if ch is None or int(ch) in (1, 3) else f"{fname} takes 1- or 3-channel images, the model makes {ch}"
    fdata = getattr(extractor, "dataset", None)
    if name is not None and fdata is not None and str(fdata) != str(name):
        return (f"the feature network {fname} was trained on {fdata!r}, but this model's data set is {name!r}; "
                "its numbers would not mean anything here. Train one on this data with "
                "`python -m diagnostics.features --data <data> --out <file>` (or run the report with "
                "--train-features)")
    if size is not None and int(getattr(extractor, "image_size", size)) != int(size):
        return (f"the feature network {fname} takes {extractor.image_size}×{extractor.image_size} images, the model "
                f"makes {size}×{size}; run the report with --train-features (and a labelled --reference set) to "
                "train one at this size")
    if ch is not None and int(getattr(extractor, "in_channels", ch)) != int(ch):
        return f"the feature network {fname} takes {extractor.in_channels}-channel images, the model makes {ch}"
    return None


INCEPTION = "inception"     # feature_net name for torchvision's Inception-v3 (diagnostics.inception.load_inception)


def load_extractor(feature_net, data_meta: Optional[dict] = None) -> tuple[object, str]:
    """feature_net: a FeatureExtractor, a path, "inception" (torchvision's Inception-v3, where torchvision
    imports and its weights are cached or downloadable) or None for the shipped file of the checkpoint's data
    set (data_meta = meta["data"]: features_mnist for mnist, features_digits otherwise) -> (extractor, "") or
    (None, why it cannot be had)."""
    if feature_net is not None and not isinstance(feature_net, (str, bytes)) and not hasattr(feature_net, "__fspath__"):
        return feature_net, ""
    if feature_net == INCEPTION:
        try:
            from ..inception import load_inception
            return load_inception(), ""
        except RuntimeError as e:
            return None, f"Inception-v3 is not available here: {e}"
    try:
        from ..features import default_feature_net, load_feature_net
        extractor = load_feature_net(feature_net or default_feature_net((data_meta or {}).get("name")))
    except FileNotFoundError as e:
        return None, f"no feature network file: {e}"
    except ImportError as e:
        return None, f"the feature network module is not available ({e})"
    except ValueError as e:           # FeatureNetError: a damaged or foreign file
        return None, f"the feature network could not be loaded: {e}"
    return extractor, ""


def _finite(x) -> Optional[float]:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def check_sample_quality(images: Tensor, labels: Optional[Tensor], reference, heldout, extractor, *, k: int = 3,
                         seed: int = 0, data: Optional[dict] = None, heldout_seen: bool = False,
                         thresholds: Thresholds = DEFAULT_THRESHOLDS) -> CheckResult:
    """FID (with its floor: held-out real vs reference at the same n and class counts), Inception Score, k-NN
    precision/recall and conditional accuracy, from diagnostics.metrics.sample_quality, each captioned with n,
    reference set and network.

    images: (N, C, H, W) in [-1, 1]; labels: (N,) the asked classes or None; reference / heldout: ImageDataset
    (the images the model trained on, and real images it never saw; heldout_seen: it trained on those too).
    """
    th = thresholds
    if extractor is None:
        return skipped(KEY, TITLE, "no feature network available")
    if reference is None:
        return skipped(KEY, TITLE, "needs the real data set as reference")
    reason = feature_net_mismatch(extractor, data or {})
    if reason:
        return skipped(KEY, TITLE, reason)
    start = time.perf_counter()
    from ..metrics import sample_quality          # imported here: the other checks never need it
    try:
        q = sample_quality(images, labels, reference, heldout, extractor, k=k, seed=seed)
    except ValueError as e:                       # e.g. NaN samples, too few images, class mismatch
        return skipped(KEY, TITLE, f"the metrics could not be computed: {e}")
    numbers = q.as_dict()
    numbers["captions"] = _captions(q)
    fid, floor, floor_std = _finite(q.fid), _finite(q.fid_floor), _finite(q.fid_floor_std)   # σ: None = unknown
    matched = _finite(q.fid_matched)             # the generated FID at the floor's n and class counts
    prec, rec, acc = _finite(q.precision), _finite(q.recall), _finite(q.conditional_accuracy)
    limited = q.n_floor < q.n_generated
    at_n = f" at n={q.n_floor}" if limited else ""

    found = Findings()
    unresolved = _fid_against_floor(q, matched, floor, floor_std, at_n, th, found)
    if prec is not None and prec < th.precision_warn:
        found.add("warn", f"precision {prec:.2f} < {th.precision_warn}: many samples lie off the data",
                  "low precision means off-manifold samples: train longer, keep clip_denoised=True")
    if rec is not None and rec < th.recall_warn:
        found.add("warn", f"recall {rec:.2f} < {th.recall_warn}: the samples cover little of the data",
                  "low recall means missing modes: check for mode collapse (see the diversity check) and sample "
                  "at temperature 1" + (" with a lower guidance scale" if labels is not None else ""))
    if acc is not None and acc < th.cond_accuracy_warn:
        found.add("warn", f"conditional accuracy {acc:.0%} < {th.cond_accuracy_warn:.0%}",
                  "weak conditioning: raise the classifier-free guidance scale (2–3), or train longer with "
                  "label dropout ≈ 0.1")
    rule = (f"warn if FID (at the floor's n and class counts) / the real-vs-real floor has its 95% interval above "
            f"{th.fid_floor_ratio_warn:g}× and FID > {th.fid_abs_ok:g} (below {MIN_INTERVAL_N} samples: FID > "
            f"{th.fid_floor_ratio_warn:g}× the floor and > the floor + 2σ), precision < {th.precision_warn}, recall < "
            f"{th.recall_warn} or conditional accuracy < {th.cond_accuracy_warn:.0%}")

    parts = []
    if fid is not None:
        text = f"FID {fid:.2f}"
        if floor is not None:
            spread = f" ± {floor_std:.2f}" if floor_std is not None else " (± not estimable at this n)"
            text += (f" ({matched:.2f} at n={q.n_floor}; floor {floor:.2f}{spread} at n={q.n_floor})" if limited
                     else f" (floor {floor:.2f}{spread} at the same n)")
        parts.append(text)
    if q.fid_ratio is not None:
        parts.append(f"FID/floor {q.fid_ratio.describe()}")
    if q.kid is not None:
        floor_kid = f" (floor {q.kid_floor.kid:.3g})" if q.kid_floor else ""
        parts.append(f"KID {q.kid.kid:.3g} ± {q.kid.std:.2g}{floor_kid}")
    if q.kid_excess is not None:
        parts.append(f"KID − floor {q.kid_excess.describe('{:.3g}')}")
    parts.append(f"IS {float(q.inception_score[0]):.2f}")
    if prec is not None and rec is not None:
        parts.append(f"precision {prec:.2f} / recall {rec:.2f}")
    if acc is not None:
        parts.append(f"conditional accuracy {acc:.0%}")
    ref = q.reference.split(" (")[0]
    net_id = q.network_id or getattr(extractor, "name", "")
    head = ", ".join(parts) + f" ({q.n_generated} samples vs the {ref}, features {net_id.split(' ')[0]})"
    if found.problems:
        summary = head + ": " + "; ".join(found.problems) + "."
        fix = found.fix_text() + " Compare FIDs only at the same n and feature network."
    else:
        summary, fix = head + ".", ""
    notes = [f"feature network: {q.network}", floor_note(q, labels is not None, heldout_seen)]
    if unresolved:
        notes.append(unresolved)
    if q.fid_ratio is not None and q.fid_ratio.known:
        notes.append(f"intervals: {q.fid_ratio.method}; KID − floor is the unbiased MMD² of all the samples against the "
                     "reference minus that of held-out sets with their class counts, so a class-balanced set of real "
                     "images scores 0 on it while its raw KID is below 0")
    if matched is not None and floor is not None and floor_std is not None and abs(matched - floor) <= 2 * floor_std:
        notes.append(f"at the floor: FID {matched:.2f} lies within 2σ ({2 * floor_std:.2f}) of the floor {floor:.2f}, "
                     "so at this n the samples cannot be told from unseen real images")
    elif matched is not None and floor is not None and floor_std is None:
        notes.append("the floor's spread across independent draws cannot be estimated at this n (too few held-out "
                     "images), so no FID here is called 'at the floor'")
    if matched is not None and floor is not None and floor_std and matched < floor - 2 * floor_std:
        notes.append(f"the samples score {floor - matched:.2f} below the floor, more than twice its spread: usually "
                     "chance at small n; whether they copy training images is the memorisation check's question")
    notes += list(q.notes)
    return CheckResult(KEY, TITLE, found.verdict, summary, numbers, rule, fix, n=q.n_generated, notes=notes,
                       seconds=time.perf_counter() - start)


def _captions(q) -> dict[str, str]:
    """What each number is: n, reference set and network; the intervals and KID with theirs."""
    captions = {metric: q.label(metric) for metric in CAPTIONED}
    if q.fid_ratio is not None:
        captions["fid_ratio"] = f"FID/floor {q.fid_ratio.describe()}"
    if q.kid_excess is not None:
        captions["kid_excess"] = f"KID − floor {q.kid_excess.describe('{:.3g}')}"
    if q.kid is not None:
        captions["kid"] = q.kid.describe()
        captions["fid_curve"] = q.fid_curve.describe()
    return captions


def _fid_against_floor(q, matched, floor, floor_std, at_n: str, th: Thresholds, found: Findings) -> Optional[str]:
    """FID / floor against the warning line, by its interval (diagnostics.intervals: beyond the line only when the
    whole interval is); without one (n < 50), beyond 2σ of the floor, σ its spread across independent draws. Adds the
    finding; returns the note to show when the interval holds the line (not resolved), else None."""
    if floor is None or matched is None:
        return None
    fix = "train longer and sample with the EMA weights (and all T steps, or more DDIM steps)"
    ratio = q.fid_ratio if q.fid_ratio is not None and q.fid_ratio.known else None
    if ratio is None:
        if (floor_std is None or matched > floor + 2 * floor_std) and \
                matched > max(th.fid_abs_ok, th.fid_floor_ratio_warn * floor):
            found.add("warn", f"FID{at_n} {matched:.2f} is {matched / max(floor, 1e-9):.1f}× its floor {floor:.2f}",
                      fix)
        return None
    if matched <= th.fid_abs_ok:
        return None
    verdict = target_verdict(ratio, th.fid_floor_ratio_warn)
    if verdict == NOT_MET:
        found.add("warn", f"FID{at_n} {matched:.2f} is {ratio.estimate:.1f}× its floor {floor:.2f} (95% interval "
                          f"{ratio.low:.1f}–{ratio.high:.1f}×)", fix)
    elif verdict == NOT_RESOLVED:
        return (f"FID / floor {ratio.estimate:.2f}× has a 95% interval {ratio.low:.2f}–{ratio.high:.2f}× that holds "
                f"the warning line {th.fid_floor_ratio_warn:g}×: not resolved at n={q.n_generated}; more samples "
                "narrow it")
    return None


def floor_note(q, conditional: bool, heldout_seen: bool = False) -> str:
    """What the real-vs-real floor is, in words, for the report."""
    if q.fid_floor is None:
        return ("no real-vs-real floor (no held-out split): FID has no target here, and FID and IS are biased at "
                "small n, so compare them only at the same n")
    drawn = ("with as many images of each class as the samples were asked for" if conditional
             else "at random, as an unconditional model's classes fall")
    spread = f", mean of {q.floor_draws} draws" if q.floor_draws > 1 else ""
    note = (f"the real-vs-real floor is the FID of {q.n_floor} real held-out images against the same reference "
            f"(drawn {drawn}{spread}): what a perfect generator scores at this n. FID is biased upwards at small n, "
            "so the floor, not 0, is the target. Its ± is its spread across independent sets of unseen images, "
            "estimated from disjoint held-out subsets (scaled by √(m/n) from halves of m when the split holds "
            "fewer than 2n), not the spread of overlapping draws")
    if heldout_seen:
        return note + (". This model was trained on the held-out images too, so they are not unseen data for it: an "
                       "FID at or below the floor shows that the samples match the training data, not that the "
                       "model generalises")
    return note + (". The held-out images were never seen by the diffusion model or the feature network, so a model "
                   "can approach the floor but, apart from noise, not go below it")
