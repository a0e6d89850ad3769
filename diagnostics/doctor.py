"""The sampler doctor: which sampler a model needs at a given number of network calls, and why.

    r = sampler_doctor(ck, real, calls=10, n=200)      # ck: ddpm.load_checkpoint(...); real: its data set
    r.best, r.verdict, r.rows                           # every candidate's FID / floor with its 95% interval

Every candidate samples the same n images (the same x_T, labels and class counts) with the same number of network
calls: the deterministic path (DDIM, η = 0: the probability-flow ODE) against the stochastic ones (DDIM η = 0.5 and
1, SDE-DPM-Solver++(2M), Restart). Each gets FID against the model's training split beside the real-vs-real floor
with the bootstrap interval of their ratio (diagnostics.metrics.sample_quality), and the grey-pixel share against
real images (diagnostics.sampler_doctor.grey_pixels). The ODE and DDIM η = 1 also record the exposure-bias curve
δ_t (diagnostics.sampler_doctor.exposure_curve) along the path.

Verdict: "warn" when a stochastic sampler's whole interval lies below the ODE's (the deterministic path loses quality
on this model: its score error is not contracted), with the fix "sample with <best> at <calls> calls"; "ok" when
the intervals overlap (any of them will do at this cost); the doctor never decides on overlapping intervals.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Optional

import torch

from ddpm.messages import Message, msg
from ddpm.sampling import generate
from ddpm.stochastic import RestartSpec

from .checks.quality import load_extractor
from .checks.runner import split_real_data
from .intervals import Interval
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
    onset: Optional[int]                # t from which the ODE's path stays off the forward marginal (None: it ends on it)
    best: str
    verdict: str                        # "ok" | "warn"
    summary: Message
    fix: Optional[Message]
    seconds: float
    notes: list[Message] = field(default_factory=list)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["summary"], d["network"] = self.summary.as_dict(), self.network.as_dict()
        d["fix"] = None if self.fix is None else self.fix.as_dict()
        d["notes"] = [m.as_dict() for m in self.notes]
        return d


class _RealEmbeddings:
    """The feature network, remembering its embeddings of the real sets every candidate is compared with, so the
    training and held-out splits are embedded once per doctor run instead of once per sampler."""

    def __init__(self, extractor, *real):
        self._net, self._kept = extractor, {id(x): None for x in real}

    def __getattr__(self, name):
        return getattr(self._net, name)

    def embed(self, images):
        if id(images) not in self._kept:
            return self._net.embed(images)
        if self._kept[id(images)] is None:
            self._kept[id(images)] = self._net.embed(images)
        return self._kept[id(images)]


def _check_request(calls: int, n: int) -> None:
    if not isinstance(calls, int) or not MIN_CALLS <= calls <= MAX_CALLS:
        raise ValueError(f"calls must be an integer in [{MIN_CALLS}, {MAX_CALLS}] (got {calls!r}): the doctor "
                         "compares samplers at one number of network calls per image")
    if not isinstance(n, int) or n < MIN_N:
        raise ValueError(f"n must be an integer of at least {MIN_N} (got {n!r}): below that the FID intervals the "
                         "verdict rests on are not computed")


def sampler_doctor(ck, real, *, calls: int = 10, n: int = 200, seed: int = 0, guidance_scale: float = 1.0,
                   feature_net=None, candidates: Optional[dict[str, dict]] = None,
                   callback: Optional[Callable[[int, int], None]] = None) -> DoctorResult:
    """Compare the candidates at `calls` network calls on n samples (class-balanced for a conditional model) of
    the LoadedCheckpoint `ck` against `real`, its data set (ImageDataset), split as the model was trained."""
    _check_request(calls, n)
    start = time.perf_counter()
    candidates = dict(candidates or CANDIDATES)
    if ODE not in candidates:
        raise ValueError(f"the candidates must include the deterministic path {ODE!r} to compare against")
    splits = split_real_data(real, dict(ck.meta.get("data") or {}))
    if splits.heldout is None:
        raise ValueError("the doctor needs real images the model never saw for its floor; this data set holds none "
                         "out (train with --holdout 0.2)")
    extractor, why = load_extractor(feature_net, ck.meta.get("data"))
    if extractor is None:
        raise ValueError(f"no feature network fits this model's data: {why}")
    labels = list(range(ck.num_classes)) if ck.num_classes else None
    network = network_message(extractor)
    extractor = _RealEmbeddings(extractor, splits.reference.images, splits.heldout.images)
    rows, curves, notes = [], {}, []
    for i, (name, kw) in enumerate(candidates.items()):
        t0 = time.perf_counter()
        try:
            r = generate(ck.model, ck.diffusion, steps=calls, n=n, labels=labels, guidance_scale=guidance_scale,
                         seed=seed, trajectory_frames=calls if name in CURVES else 0, **kw)
        except ValueError as e:              # e.g. Restart's restarts do not fit a small call budget
            if name == ODE:
                raise
            notes.append(msg("doctor.candidate_skipped", sampler=name, why=getattr(e, "message", str(e))))
            continue
        q = sample_quality(r.images, r.labels, splits.reference, splits.heldout, extractor, seed=seed)
        g = grey_pixels(r.images, splits.heldout.images)
        rows.append(DoctorRow(name, r.network_calls, q.fid, q.fid_ratio, g.excess, g.excess_se,
                              time.perf_counter() - t0))
        if r.trajectory is not None:
            curves[name] = exposure_curve(r.trajectory.x_t, r.trajectory.timesteps, ck.diffusion.alphas_cumprod,
                                          splits.reference.images)
        if callback is not None:
            callback(i + 1, len(candidates))
    result = _decide(rows, curves, calls, n, seed, guidance_scale, q.fid_floor, network,
                     time.perf_counter() - start)
    result.notes = notes
    return result


def _decide(rows: list[DoctorRow], curves: dict[str, ExposureCurve], calls: int, n: int, seed: int, w: float,
            floor: Optional[float], network: str, seconds: float) -> DoctorResult:
    ode = next(r for r in rows if r.sampler == ODE)
    known = [r for r in rows if r.fid_ratio is not None and r.fid_ratio.known]
    best = min(known or rows, key=lambda r: r.fid_ratio.estimate if r.fid_ratio is not None and r.fid_ratio.known
               else r.fid)
    onset = score_error_onset(curves[ODE]) if ODE in curves else None
    better = (best is not ode and best.fid_ratio is not None and ode.fid_ratio is not None and best.fid_ratio.known
              and ode.fid_ratio.known and best.fid_ratio.high < ode.fid_ratio.low)
    if better:
        summary = msg("doctor.stochastic_wins", best=best.sampler, ode=ODE, calls=calls,
                      best_ratio=best.fid_ratio.estimate, ode_ratio=ode.fid_ratio.estimate,
                      where=msg("doctor.onset", t=onset) if onset is not None else msg("doctor.no_onset"))
        fix = msg("doctor.fix_sample_with", best=best.sampler, calls=calls)
        verdict = "warn"
    else:
        summary = msg("doctor.no_difference", ode=ODE, calls=calls, best=best.sampler)
        fix, verdict = None, "ok"
    return DoctorResult(calls, n, seed, w, floor, network, rows, curves, onset, best.sampler, verdict, summary, fix,
                        seconds)


# ------------------------------------------------------------------------------------------------------ CLI
def add_cli(sub) -> None:
    """The `doctor` subcommand of `python -m diagnostics`."""
    p = sub.add_parser("doctor", help="which sampler this model needs at a given number of network calls: every "
                                      "candidate's FID / floor with its interval, grey pixels, the exposure-bias curve")
    p.add_argument("checkpoint", help="a checkpoint (.safetensors, a bundled name such as mnist, or a diffusers "
                                      "pipeline folder / .zip)")
    p.add_argument("--calls", type=int, default=10, help=f"network calls per image, {MIN_CALLS}–{MAX_CALLS} "
                                                          "(default 10)")
    p.add_argument("--n", type=int, default=200, help=f"samples per candidate, at least {MIN_N} (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guidance-scale", type=float, default=1.0, help="classifier-free guidance scale (1 = off)")
    p.add_argument("--reference", default=None, help="the real images, for a model that records no data set (a "
                                                     "folder / .zip or a data set name)")
    p.add_argument("--json", default=None, help="also write every number here")
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")


def cli(args) -> str:
    """Run the `doctor` subcommand; returns the text to print (ValueError / CheckpointError for bad input)."""
    import json
    from pathlib import Path

    from ddpm import load_checkpoint
    from ddpm.checkpoint import atomic_write
    from ddpm.messages import render

    from .report import load_real_data
    from .reference import load_reference

    ck = load_checkpoint(args.checkpoint)
    if args.reference is not None:
        real, _ = load_reference(args.reference, ck)
    else:
        real, why = load_real_data(ck)
        if real is None:
            raise ValueError(f"{render(why, args.lang)}; give the real images with --reference")
    r = sampler_doctor(ck, real, calls=args.calls, n=args.n, seed=args.seed, guidance_scale=args.guidance_scale)
    head = [render(msg(k), args.lang) for k in ("doctor.cli_sampler", "doctor.cli_calls", "doctor.cli_ratio",
                                                 "doctor.cli_grey")]
    lines = [f"{head[0]:<14} {head[1]:>5} {'FID':>8}  {head[2]:<28} {head[3]:>20}"]
    for row in r.rows:
        ratio = (f"{row.fid_ratio.estimate:.2f}× ({row.fid_ratio.low:.2f}–{row.fid_ratio.high:.2f}×)"
                 if row.fid_ratio is not None and row.fid_ratio.known else "—")
        lines.append(f"{row.sampler:<14} {row.calls:>5} {row.fid:>8.3f}  {ratio:<28} "
                     f"{row.grey_excess:>+12.3f} ± {row.grey_excess_se:.3f}")
    floor = f"{r.floor:.3f}" if r.floor is not None else "—"
    lines += ["", render(msg("doctor.cli_footer", n=r.n, seed=r.seed, floor=floor, network=r.network), args.lang),
              render(msg("doctor.cli_verdict", verdict=msg(f"verdict.{r.verdict}"), summary=r.summary), args.lang)]
    if r.fix is not None:
        lines.append(render(msg("doctor.cli_fix", fix=r.fix), args.lang))
    lines += [render(m, args.lang) for m in r.notes]
    if args.json:
        payload = json.dumps(r.as_dict(), indent=1, default=str)
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(payload, encoding="utf-8"))
        lines.append(f"JSON: {args.json}")
    return "\n".join(lines)
