"""The sampler doctor: which sampler a model needs at a given number of network calls, and why.

    r = sampler_doctor(ck, real, calls=10, n=200)      # ck: ddpm.load_checkpoint(...); real: its data set
    r.best, r.verdict, r.rows                           # every candidate's FID / floor with its 95% interval

Every candidate samples the same n images (the same x_T, labels and class counts) with the same number of network
calls: the deterministic path (DDIM, η = 0: the probability-flow ODE) against the stochastic ones (DDIM η = 0.5 and
1, SDE-DPM-Solver++(2M), Restart). Each gets FID against the model's training split beside the real-vs-real floor
with the bootstrap interval of their ratio (diagnostics.metrics.sample_quality), and the grey-pixel share against
real images (diagnostics.sampler_doctor.grey_pixels). The ODE and DDIM η = 1 also record the exposure-bias curve
δ_t (diagnostics.sampler_doctor.exposure_curve) along the path.

Verdict: every stochastic candidate's FID is divided by the ODE's, with a paired bootstrap interval (the same starts,
labels and reference, redrawn together: diagnostics.intervals.paired_fid_ratio). "warn" when some candidate's whole
interval lies below 1 (the deterministic path loses quality on this model: its score error is not contracted), with
the fix "sample with <best> at <calls> calls"; "ok" when every interval reaches 1 (any of them will do at this
cost); the doctor never decides inside the noise.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

from ddpm.guidance import as_guidance_interval
from ddpm.messages import Message, MessageError, msg
from ddpm.sampling import generate
from ddpm.stochastic import RestartSpec

from .extractors import CachedEmbeddings, load_extractor
from .splits import split_real_data
from .intervals import Interval, paired_fid_ratio
from .metrics import network_message, sample_quality
from .sampler_doctor import ExposureCurve, exposure_curve, grey_pixels, score_error_onset

ODE = "ddim η=0"
CANDIDATES: dict[str, dict] = {          # name -> generate() keywords; the first is the deterministic path
    ODE: dict(sampler="ddim", eta=0.0),
    "ddim η=0.5": dict(sampler="ddim", eta=0.5),
    "ddim η=1": dict(sampler="ddim", eta=1.0),
    "dpmpp_2m_sde": dict(sampler="dpmpp_2m_sde"),
    "restart": dict(sampler="restart", restart=RestartSpec()),    # K=1 × 2 Heun steps on [s=0.1, s=2]: 4 calls
}
CURVES = (ODE, "ddim η=1")
MIN_CALLS, MAX_CALLS = 4, 200
MIN_N = 50                              # below this the intervals are not computed (diagnostics.intervals)


@dataclass
class DoctorRow:
    sampler: str
    calls: int                          # network calls per image, as the sampler counted them
    fid: float
    fid_ratio: Optional[Interval]       # FID / real-vs-real floor with its 95% interval
    grey_excess: float                  # share of grey pixels, samples − real
    grey_excess_se: float
    seconds: float
    vs_ode: Optional[Interval] = None   # FID / the ODE's FID from the same starts, paired 95% interval (None: the ODE)


@dataclass
class DoctorResult:
    calls: int
    n: int
    seed: int
    guidance_scale: float
    floor: Optional[float]
    network: Message                    # the feature network FID is measured with (metrics.network_message)
    rows: list[DoctorRow]
    curves: dict[str, ExposureCurve]
    onset: Optional[int]                # t from which the ODE's path stays off the forward marginal (None: ends on it)
    best: str
    verdict: str                        # "ok" | "warn"
    summary: Message
    fix: Optional[Message]
    seconds: float
    notes: list[Message] = field(default_factory=list)
    guidance_interval: Optional[list] = None   # [s_lo, s_hi or None]: guidance only there (ddpm.guidance)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["summary"], d["network"] = self.summary.as_dict(), self.network.as_dict()
        d["fix"] = None if self.fix is None else self.fix.as_dict()
        d["notes"] = [m.as_dict() for m in self.notes]
        return d


def _check_request(calls: int, n: int) -> None:
    if not isinstance(calls, int) or not MIN_CALLS <= calls <= MAX_CALLS:
        raise MessageError("doctor.calls_range", lo=MIN_CALLS, hi=MAX_CALLS, calls=calls)
    if not isinstance(n, int) or n < MIN_N:
        raise MessageError("doctor.n_small", min_n=MIN_N, n=n)


def sampler_doctor(ck, real, *, calls: int = 10, n: int = 200, seed: int = 0, guidance_scale: float = 1.0,
                   feature_net=None, candidates: Optional[dict[str, dict]] = None,
                   callback: Optional[Callable[[int, int], None]] = None, guidance_interval=None) -> DoctorResult:
    """Compare the candidates at `calls` network calls on n samples (class-balanced for a conditional model) of
    the LoadedCheckpoint `ck` against `real`, its data set (ImageDataset), split as the model was trained;
    guidance_interval: every candidate's classifier-free guidance only there (ddpm.guidance)."""
    _check_request(calls, n)
    interval = as_guidance_interval(guidance_interval) if ck.num_classes and guidance_scale != 1.0 else None
    start = time.perf_counter()
    candidates = dict(candidates or CANDIDATES)
    if ODE not in candidates:
        raise MessageError("doctor.needs_ode", ode=ODE)
    splits = split_real_data(real, dict(ck.meta.get("data") or {}))
    if splits.heldout is None:
        raise MessageError("doctor.needs_heldout")
    extractor, why = load_extractor(feature_net, ck.meta.get("data"))
    if extractor is None:
        raise MessageError("doctor.no_feature_net", why=why)
    labels = list(range(ck.num_classes)) if ck.num_classes else None
    network = network_message(extractor)
    extractor = CachedEmbeddings(extractor, splits.reference.images, splits.heldout.images)
    rows, curves, notes, feats = [], {}, [], {}
    for i, (name, kw) in enumerate(candidates.items()):
        t0 = time.perf_counter()
        try:
            r = generate(ck.model, ck.diffusion, steps=calls, n=n, labels=labels, guidance_scale=guidance_scale,
                         seed=seed, trajectory_frames=calls if name in CURVES else 0, guidance_interval=interval, **kw)
        except ValueError as e:              # e.g. Restart's restarts do not fit a small call budget
            if name == ODE:
                raise
            notes.append(msg("doctor.candidate_skipped", sampler=name, why=getattr(e, "message", str(e))))
            continue
        q = sample_quality(r.images, r.labels, splits.reference, splits.heldout, extractor, seed=seed)
        feats[name] = (extractor.embed(r.images)[0], r.labels)
        g = grey_pixels(r.images, splits.heldout.images)
        rows.append(DoctorRow(name, r.network_calls, q.fid, q.fid_ratio, g.excess, g.excess_se,
                              time.perf_counter() - t0))
        if r.trajectory is not None:
            curves[name] = exposure_curve(r.trajectory.x_t, r.trajectory.timesteps, ck.diffusion.alphas_cumprod,
                                          splits.reference.images)
        if callback is not None:
            callback(i + 1, len(candidates))
    _paired_with_ode(rows, feats, extractor.embed(splits.reference.images)[0], seed)
    result = _decide(rows, curves, calls, n, seed, guidance_scale, q.fid_floor, network,
                     time.perf_counter() - start)
    result.notes = notes
    result.guidance_interval = None if interval is None else interval.as_list()
    return result


def _paired_with_ode(rows: list[DoctorRow], feats: dict, ref_f, seed: int) -> None:
    """Each stochastic row's FID over the ODE's, with the paired bootstrap interval (diagnostics.intervals): every
    candidate started from the same x_T with the same labels, so the noise the sets share cancels."""
    ode = next(r for r in rows if r.sampler == ODE)
    ode_f, labels = feats[ODE]
    for r in rows:
        if r is not ode:
            y = None if labels is None else labels.numpy()
            r.vs_ode = paired_fid_ratio(ref_f, feats[r.sampler][0], ode_f, y, r.fid / max(ode.fid, 1e-12), seed=seed)


def _decide(rows: list[DoctorRow], curves: dict[str, ExposureCurve], calls: int, n: int, seed: int, w: float,
            floor: Optional[float], network: str, seconds: float) -> DoctorResult:
    ode = next(r for r in rows if r.sampler == ODE)
    paired = [r for r in rows if r.vs_ode is not None and r.vs_ode.known]
    # the candidate most surely below the ODE: the lowest upper end of FID / FID(ODE); without intervals, the lowest FID
    best = min(paired, key=lambda r: r.vs_ode.high) if paired else min(rows, key=lambda r: r.fid)
    onset = score_error_onset(curves[ODE]) if ODE in curves else None
    if best is not ode and best.vs_ode is not None and best.vs_ode.known and best.vs_ode.high < 1.0:
        summary = msg("doctor.stochastic_wins", best=best.sampler, ode=ODE, calls=calls,
                      best_ratio=best.fid_ratio.estimate if best.fid_ratio is not None else best.fid,
                      ode_ratio=ode.fid_ratio.estimate if ode.fid_ratio is not None else ode.fid,
                      paired=best.vs_ode.message(), where=msg("doctor.onset", t=onset) if onset is not None
                      else msg("doctor.no_onset"))
        fix = msg("doctor.fix_sample_with", best=best.sampler, calls=calls)
        verdict = "warn"
    else:
        summary = msg("doctor.no_difference", ode=ODE, calls=calls, best=best.sampler,
                      paired=best.vs_ode.message() if best.vs_ode is not None else msg("doctor.no_pair"))
        fix, verdict = None, "ok"
    return DoctorResult(calls, n, seed, w, floor, network, rows, curves, onset, best.sampler, verdict, summary, fix,
                        seconds)
