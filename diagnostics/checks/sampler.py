"""Which sampler the model needs: the sampler doctor (diagnostics.doctor) as a report check.

At one number of network calls (10 by default) the deterministic path (DDIM η = 0, the probability-flow ODE) and
the stochastic ones (DDIM η = 0.5 and 1, SDE-DPM-Solver++(2M), Restart) each draw the same n samples; each gets FID
over the real-vs-real floor with its 95% interval, and the ODE's exposure-bias curve δ_t says from which t its path
leaves the forward process's marginal. Verdict: warn when a stochastic sampler's FID over the ODE's, with its
paired 95% interval (same starts), lies wholly below 1 (the ODE does not contract the model's score error: sample
with that sampler at that cost), ok when every such interval reaches 1 (the doctor never decides inside the
noise). Run in full mode; quick mode skips it (it costs five samplers' worth of sampling) and says how to run it
alone (`python -m diagnostics doctor`).
"""
from __future__ import annotations

from typing import Optional

from ddpm.messages import MessageError

from ..text import Text, msg
from .result import CheckResult, skipped

KEY = "sampler"
TITLE = "Sampler (ODE against stochastic samplers at equal network calls)"


def check_sampler(ck, real, *, calls: int, n: int, seed: int = 0, guidance_scale: float = 1.0, feature_net=None,
                  real_reason: Optional[Text] = None, guidance_interval=None) -> CheckResult:
    """The doctor's comparison on the LoadedCheckpoint `ck` against `real` (its whole data set, split as trained),
    n samples per candidate at `calls` network calls; a skip, with the reason, when it cannot be measured."""
    from ..doctor import MIN_N, sampler_doctor
    if real is None:
        return skipped(KEY, TITLE, msg("check.sampler.needs_data_why", why=real_reason) if real_reason
                       else msg("check.sampler.needs_data"))
    if n < MIN_N:
        return skipped(KEY, TITLE, msg("check.sampler.too_few", n=n, need=MIN_N))
    try:
        r = sampler_doctor(ck, real, calls=calls, n=n, seed=seed, guidance_scale=guidance_scale,
                           feature_net=feature_net, guidance_interval=guidance_interval)
    except (MessageError, ValueError) as e:
        return skipped(KEY, TITLE, getattr(e, "message", None) or msg("check.sampler.cannot", why=str(e)))
    rows = [{"sampler": row.sampler, "calls": row.calls, "fid": row.fid,
             "fid_ratio": None if row.fid_ratio is None else row.fid_ratio.estimate,
             "fid_ratio_low": None if row.fid_ratio is None else row.fid_ratio.low,
             "fid_ratio_high": None if row.fid_ratio is None else row.fid_ratio.high,
             "vs_ode": None if row.vs_ode is None else row.vs_ode.estimate,
             "vs_ode_low": None if row.vs_ode is None else row.vs_ode.low,
             "vs_ode_high": None if row.vs_ode is None else row.vs_ode.high,
             "grey_excess": row.grey_excess, "grey_excess_se": row.grey_excess_se} for row in r.rows]
    curves = {name: {"t": c.timesteps, "delta": c.delta} for name, c in r.curves.items()}
    numbers = {"calls": r.calls, "n_per_sampler": r.n, "floor": r.floor, "network": r.network, "best": r.best,
               "score_error_onset_t": r.onset, "samplers": rows, "exposure": curves}
    return CheckResult(KEY, TITLE, r.verdict, r.summary, numbers, msg("check.sampler.rule"), r.fix, n=r.n,
                       notes=[msg("check.sampler.note_cost", calls=r.calls, n=r.n, seconds=r.seconds), *r.notes],
                       seconds=r.seconds)
