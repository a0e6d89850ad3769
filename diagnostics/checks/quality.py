"""Sample quality: FID beside its real-vs-real floor, Inception Score, k-NN precision/recall and conditional
accuracy, all in the units of one feature network (diagnostics.features, diagnostics.metrics)."""
from __future__ import annotations

import math
import time
from typing import Optional

from torch import Tensor

from ..intervals import MIN_INTERVAL_N, NOT_MET, NOT_RESOLVED, target_verdict
from ..thresholds import DEFAULT_THRESHOLDS, Thresholds
from ..text import Message, msg, revive, sentences
from .result import CheckResult, Findings, skipped, title_of

KEY = "sample_quality"
TITLE = title_of(KEY)
CAPTIONED = ("fid", "fid_floor", "inception_score", "precision", "recall", "conditional_accuracy")


def feature_net_mismatch(extractor, data: dict) -> Optional[Message]:
    """Why this feature network cannot score this checkpoint's images (None if it can).

    data: the checkpoint's meta["data"] ({"name", "image_size", "channels"}).
    """
    name, size, ch = data.get("name"), data.get("image_size"), data.get("channels")
    fname = getattr(extractor, "name", "?")
    if getattr(extractor, "generic", False):      # Inception-v3: any size (resized), 1 or 3 channels
        return None if ch is None or int(ch) in (1, 3) else msg("quality.inception_channels", name=fname, ch=int(ch))
    fdata = getattr(extractor, "dataset", None)
    if name is not None and fdata is not None and str(fdata) != str(name):
        return msg("quality.net_other_data", name=fname, net_data=str(fdata), data=str(name))
    if size is not None and int(getattr(extractor, "image_size", size)) != int(size):
        return msg("quality.net_other_size", name=fname, net_size=int(extractor.image_size), size=int(size))
    if ch is not None and int(getattr(extractor, "in_channels", ch)) != int(ch):
        return msg("quality.net_other_channels", name=fname, net_ch=int(extractor.in_channels), ch=int(ch))
    return None


def _finite(x) -> Optional[float]:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def check_sample_quality(images: Tensor, labels: Optional[Tensor], reference, heldout, extractor, *, k: int = 3,
                         seed: int = 0, data: Optional[dict] = None, heldout_seen: bool = False,
                         thresholds: Thresholds = DEFAULT_THRESHOLDS, trained_on: Optional[str] = None) -> CheckResult:
    """FID (with its floor: held-out real vs reference at the same n and class counts), Inception Score, k-NN
    precision/recall and conditional accuracy, from diagnostics.metrics.sample_quality, each captioned with n,
    reference set and network.

    images: (N, C, H, W) in [-1, 1]; labels: (N,) the asked classes or None; reference / heldout: ImageDataset
    (the images the model trained on, and real images it never saw; heldout_seen: it trained on those too).
    trained_on: None when the checkpoint records its split; for a reference set (RealSplits.trained_on) "unknown",
    "all" or "none", which the roles of the two cuts and the floor's note then say.
    """
    th = thresholds
    if extractor is None:
        return skipped(KEY, TITLE, msg("quality.no_net"))
    if reference is None:
        return skipped(KEY, TITLE, msg("quality.needs_data"))
    reason = feature_net_mismatch(extractor, data or {})
    if reason:
        return skipped(KEY, TITLE, reason)
    start = time.perf_counter()
    from ..metrics import sample_quality          # imported here: the other checks never need it
    try:
        q = sample_quality(images, labels, reference, heldout, extractor, k=k, seed=seed, **_roles(trained_on))
    except ValueError as e:                       # e.g. NaN samples, too few images, class mismatch
        return skipped(KEY, TITLE, msg("quality.not_computed", error=str(e)))
    numbers = revive(q.as_dict())                # the descriptions as Messages, shown in the report's language
    texts, _ = numbers.pop("texts"), numbers.pop("notes")      # the notes are the check's own
    numbers.update(reference=texts["reference"], floor_reference=texts.get("floor_reference"),
                   network=texts["network"], captions=_captions(q))
    fid, floor, floor_std = _finite(q.fid), _finite(q.fid_floor), _finite(q.fid_floor_std)   # σ: None = unknown
    matched = _finite(q.fid_matched)             # the generated FID at the floor's n and class counts
    prec, rec, acc = _finite(q.precision), _finite(q.recall), _finite(q.conditional_accuracy)
    limited = q.n_floor < q.n_generated
    at_n = q.n_floor if limited else None

    found = Findings()
    unresolved = _fid_against_floor(q, matched, floor, floor_std, at_n, th, found)
    if prec is not None and prec < th.precision_warn:
        found.add("warn", msg("quality.low_precision", p=prec, limit=th.precision_warn), msg("quality.precision_fix"))
    if rec is not None and rec < th.recall_warn:
        found.add("warn", msg("quality.low_recall", r=rec, limit=th.recall_warn),
                  msg("quality.recall_fix_guided" if labels is not None else "quality.recall_fix"))
    if acc is not None and acc < th.cond_accuracy_warn:
        found.add("warn", msg("quality.low_accuracy", acc=acc, limit=th.cond_accuracy_warn), msg("quality.accuracy_fix"))
    rule = msg("quality.rule", ratio=th.fid_floor_ratio_warn, fid=th.fid_abs_ok, min_n=MIN_INTERVAL_N,
               precision=th.precision_warn, recall=th.recall_warn, acc=th.cond_accuracy_warn)
    head = msg("quality.head", parts=_summary_parts(q, fid, floor, floor_std, matched, prec, rec, acc),
               n=q.n_generated, ref=q.texts.get("split", q.reference.split(" (")[0]),
               net=q.texts.get("network_id") or q.network_id or getattr(extractor, "name", ""))   # name and hash
    if found.problems:
        summary = msg("common.problems", what=head, problems=found.problems)
        fix = sentences([found.fix_message(), msg("quality.compare_fix")])
    else:
        summary, fix = msg("quality.ok", head=head), None
    notes = [msg("quality.note_network", network=q.texts.get("network", q.network)),
             floor_note(q, labels is not None, heldout_seen, trained_on == "unknown")]
    if unresolved:
        notes.append(unresolved)
    if q.fid_ratio is not None and q.fid_ratio.known:
        notes.append(msg("quality.note_intervals", method=q.fid_ratio.method))
    if matched is not None and floor is not None and floor_std is not None and abs(matched - floor) <= 2 * floor_std:
        notes.append(msg("quality.note_at_floor", fid=matched, two_sigma=2 * floor_std, floor=floor))
    elif matched is not None and floor is not None and floor_std is None:
        notes.append(msg("quality.note_no_spread"))
    if matched is not None and floor is not None and floor_std and matched < floor - 2 * floor_std:
        notes.append(msg("quality.note_below_floor", below=floor - matched))
    notes += list(q.notes)
    return CheckResult(KEY, TITLE, found.verdict, summary, numbers, rule, fix, n=q.n_generated, notes=notes,
                       seconds=time.perf_counter() - start)


def _summary_parts(q, fid, floor, floor_std, matched, prec, rec, acc) -> list[Message]:
    """FID beside its floor, FID/floor and KID − floor with their intervals, KID, IS, precision/recall, accuracy."""
    parts = []
    if fid is not None:
        if floor is None:
            parts.append(msg("quality.part_fid", fid=fid))
        else:
            spread = msg("quality.spread", std=floor_std) if floor_std is not None else msg("quality.spread_unknown")
            parts.append(msg("quality.part_fid_limited", fid=fid, matched=matched, n=q.n_floor, floor=floor,
                             spread=spread) if q.n_floor < q.n_generated else
                         msg("quality.part_fid_floor", fid=fid, floor=floor, spread=spread))
    if q.fid_ratio is not None:
        parts.append(msg("quality.fid_ratio", ratio=q.fid_ratio.message()))
    if q.kid is not None:
        parts.append(msg("quality.part_kid_floor", kid=q.kid.kid, std=q.kid.std, floor=q.kid_floor.kid) if q.kid_floor
                     else msg("quality.part_kid", kid=q.kid.kid, std=q.kid.std))
    if q.kid_excess is not None:
        parts.append(msg("quality.kid_excess", excess=q.kid_excess.message(".3g")))
    parts.append(msg("quality.part_is", m=float(q.inception_score[0])))
    if prec is not None and rec is not None:
        parts.append(msg("quality.part_pr", p=prec, r=rec))
    if acc is not None:
        parts.append(msg("quality.part_acc", acc=acc))
    return parts


def _captions(q) -> dict[str, Message]:
    """What each number is: n, reference set and network; the intervals and KID with theirs."""
    captions = {metric: q.caption(metric) for metric in CAPTIONED}
    if q.fid_ratio is not None:
        captions["fid_ratio"] = msg("quality.fid_ratio", ratio=q.fid_ratio.message())
    if q.kid_excess is not None:
        captions["kid_excess"] = msg("quality.kid_excess", excess=q.kid_excess.message(".3g"))
    if q.kid is not None:
        captions["kid"] = q.kid.message()
        captions["fid_curve"] = q.fid_curve.message()
    return captions


def _fid_against_floor(q, matched, floor, floor_std, at_n: Optional[int], th: Thresholds,
                       found: Findings) -> Optional[Message]:
    """FID / floor against the warning line, by its interval (diagnostics.intervals: beyond the line only when the
    whole interval is); without one (n < 50), beyond 2σ of the floor, σ its spread across independent draws. Adds the
    finding; returns the note to show when the interval holds the line (not resolved), else None."""
    if floor is None or matched is None:
        return None
    fix = msg("quality.fid_fix")
    where = msg("quality.at_n", n=at_n) if at_n is not None else ""
    ratio = q.fid_ratio if q.fid_ratio is not None and q.fid_ratio.known else None
    if ratio is None:
        if (floor_std is None or matched > floor + 2 * floor_std) and \
                matched > max(th.fid_abs_ok, th.fid_floor_ratio_warn * floor):
            found.add("warn", msg("quality.fid_high", where=where, fid=matched, ratio=matched / max(floor, 1e-9),
                                  floor=floor), fix)
        return None
    if matched <= th.fid_abs_ok:
        return None
    verdict = target_verdict(ratio, th.fid_floor_ratio_warn)
    if verdict == NOT_MET:
        found.add("warn", msg("quality.fid_high_interval", where=where, fid=matched, ratio=ratio.estimate, floor=floor,
                              low=ratio.low, high=ratio.high), fix)
    elif verdict == NOT_RESOLVED:
        return msg("quality.note_unresolved", ratio=ratio.estimate, low=ratio.low, high=ratio.high,
                   line=th.fid_floor_ratio_warn, n=q.n_generated)
    return None


def _roles(trained_on: Optional[str]) -> dict:
    """The names of a reference set's two cuts where they are not the model's recorded training / held-out split."""
    if trained_on not in ("unknown", "none"):
        return {}
    return {"reference_role": msg("quality.reference_cut_assumed" if trained_on == "unknown"
                                  else "quality.reference_cut_unseen"),
            "heldout_role": msg("quality.reference_heldout_cut")}


def floor_note(q, conditional: bool, heldout_seen: bool = False, assumed: bool = False) -> Message:
    """What the real-vs-real floor is, in words, for the report (assumed: whether the model saw the held-out images
    is not known, a reference set's cut)."""
    if q.fid_floor is None:
        return msg("quality.floor_none")
    drawn = msg("quality.drawn_classes" if conditional else "quality.drawn_random")
    draws = msg("quality.floor_draws", draws=q.floor_draws) if q.floor_draws > 1 else ""
    return msg("quality.floor_note", n=q.n_floor, drawn=drawn, draws=draws,
               seen=msg("quality.floor_seen" if heldout_seen else "quality.floor_assumed" if assumed
                        else "quality.floor_unseen"))
