"""Sample quality against sampling steps for one checkpoint — the shape of the DDIM paper's Table 1:
FID (with the real-vs-real floor beside it), Inception Score, precision/recall and conditional accuracy for
DDPM over all T steps (σ² = β̃ "fixed_small" and β "fixed_large") and DDIM with S ∈ {10, 20, 50, 100, T} ×
η ∈ {0, 0.5, 1}; every row with its network calls and wall time.

    python -m bench.quality_vs_steps [--ckpt checkpoints/digits_tiny.safetensors] [--n 300]
    python -m bench.quality_vs_steps --quick     # n=64, DDIM S ∈ {10, 50} × η ∈ {0, 1}, no DDPM
    python -m bench.quality_vs_steps --solvers dpmpp_2m unipc --solver-calls 5 10 15 20 50 [--karras]
    python -m bench.quality_vs_steps --no-ddpm --etas 0 0.5 --steps 10 20 --solvers dpmpp_2m_sde \
        --stochastic edm_heun restart --stochastic-calls 9 15 19 --churn 0 40 --eps-scaling 1 1.005

Multistep solvers (DPM-Solver++(2M), UniPC; issue 11) add one row per number of network calls (default
5, 10, 15, 20, 50; none with a bare --solvers). The stochastic few-step samplers (EDM Heun with churn, Restart;
none by default) add one row per number of network calls (--stochastic-calls), EDM Heun one per --churn value, and
Restart its interval (--restart-interval, --restart-k, --restart-steps, --restart-ode). --eps-scaling values other
than 1 repeat every DDIM, solver and stochastic row with ε̂/λ (Ning et al. 2024). Every row's network_calls is the
exact count its sampler states, so rows at the same calls cost the same.

The sweep itself is diagnostics.sweep (the app's quick measurement runs the same one): every row starts
from the SAME x_T (drawn once from --seed) with the same balanced labels (class i % K for image i) and the
same per-step noise generator, so rows differ only by the sampler. Metrics come from the shipped feature
network (diagnostics.features) against the training split the checkpoint records, with its held-out split as
the real-vs-real floor at the same n and class mix. Digits' held-out split has ~360 images, so n above that
makes the floor use fewer images than the generated set (the JSON says so in "notes").

Results: bench/results/quality_vs_steps.json (read by the app's Compare tab; "by_checkpoint" is keyed by the
checkpoint's SHA-256 prefix and keeps the entries of other checkpoints from earlier runs), plus a
self-contained plotly HTML figure of FID against network calls per image, one line per sampler setting, and
a PNG when kaleido or matplotlib exists.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from bench import common
from ddpm.checkpoint import load_checkpoint
from ddpm.stochastic import RESTART_ODES, Churn, EpsScaling, RestartSpec
from diagnostics.intervals import MET, NOT_MET, NOT_RESOLVED, Interval, paired_fid_ratio, target_verdict
from diagnostics.sweep import QualitySweep, SweepSetting

NAME = "quality_vs_steps"
FULL_STEPS, FULL_ETAS = (10, 20, 50, 100, None), (0.0, 0.5, 1.0)     # None = T
QUICK_STEPS, QUICK_ETAS = (10, 50), (0.0, 1.0)
FULL_SOLVERS, FULL_SOLVER_CALLS = ("dpmpp_2m", "unipc"), (5, 10, 15, 20, 50)   # issue 11's rows
QUICK_SOLVERS, QUICK_SOLVER_CALLS = ("dpmpp_2m", "unipc"), (10,)
STOCHASTIC_CALLS = (9, 15, 19)               # odd: EDM's 2N − 1 network calls


@dataclass(frozen=True)
class StochasticRows:
    """The stochastic samplers' rows of a run (ddpm.stochastic): which samplers, at which numbers of network calls,
    EDM Heun's churn values and Restart's interval; eps_scalings other than 1 repeat the few-step rows with ε̂/λ."""
    samplers: tuple = ()                       # "edm_heun", "restart"
    calls: tuple = STOCHASTIC_CALLS
    churns: tuple = (0.0,)                     # S_churn per EDM Heun row (0: deterministic Heun)
    restart: RestartSpec = RestartSpec()
    eps_scalings: tuple = (1.0,)


def stochastic_settings(rows: StochasticRows, T: int, guidance: dict) -> list[SweepSetting]:
    out = []
    for name in rows.samplers:
        for c in sorted({min(int(c), 2 * T - 1) for c in rows.calls}):
            if name == "edm_heun":
                out += [SweepSetting(name, c, {"churn": Churn(float(sc)), **guidance}) for sc in rows.churns]
            elif c >= rows.restart.k * rows.restart.calls_per_restart + (3 if rows.restart.ode == "heun" else 2):
                # (a smaller budget leaves no main path: ddpm.stochastic.Restart refuses it)
                out.append(SweepSetting(name, c, {"restart": rows.restart, **guidance}))
    return out


def with_eps_scaling(settings: list[SweepSetting], scalings: Sequence[float]) -> list[SweepSetting]:
    """Each DDIM / solver / stochastic setting, then again with ε scaling λ = b for every b ≠ 1."""
    extra = [SweepSetting(s.sampler, s.steps, {**s.options, "eps_scaling": EpsScaling(float(b))})
             for b in scalings if float(b) != 1.0 for s in settings if s.sampler != "ddpm"]
    return settings + extra


def load_for_eval(ckpt: str):
    """(LoadedCheckpoint, sha256 prefix); the hash is taken around the load so a file replaced mid-way is noticed."""
    for _ in range(3):
        before = common.sha256_prefix(ckpt)
        lc = load_checkpoint(ckpt, max_bytes=None)   # a local file the user named: no upload size limit
        if common.sha256_prefix(ckpt) == before:
            return lc, before
    raise RuntimeError(f"{ckpt} keeps changing while it is read (a training run writing it?); copy it first")


def plan_rows(T: int, quick: bool, steps: Optional[Sequence[int]], etas: Optional[Sequence[float]],
              ddpm: Optional[bool], guidance_scale: float = 1.0, solvers: Optional[Sequence[str]] = None,
              solver_calls: Optional[Sequence[int]] = None, karras: bool = False,
              ddpm_variances: Sequence[str] = ("fixed_small", "fixed_large"),
              stochastic: StochasticRows = StochasticRows()) -> list[SweepSetting]:
    """The benchmark's settings: DDPM over all T steps (both variances) unless off, then DDIM per (S, η), then
    each multistep solver (dpmpp_2m, unipc, ...) per number of network calls (with Karras σ too if asked), then the
    stochastic samplers (`stochastic`), then all but DDPM again per ε scaling λ ≠ 1."""
    steps = list(steps or (QUICK_STEPS if quick else FULL_STEPS))
    etas = list(etas if etas is not None else (QUICK_ETAS if quick else FULL_ETAS))
    ddpm = (not quick) if ddpm is None else ddpm
    guidance = {} if guidance_scale == 1.0 else {"guidance_scale": guidance_scale}
    rows = []
    if ddpm:
        rows += [SweepSetting("ddpm", None, {"variance": v, **guidance}) for v in ddpm_variances]
    seen = set()
    for s in steps:
        s = T if s is None else min(int(s), T)
        for e in etas:
            if (s, e) not in seen:
                seen.add((s, e))
                rows.append(SweepSetting("ddim", s, {"eta": float(e), **guidance}))
    solvers = list(solvers if solvers is not None else (QUICK_SOLVERS if quick else FULL_SOLVERS))
    calls = sorted({min(int(c), T - 1) for c in (solver_calls or (QUICK_SOLVER_CALLS if quick else FULL_SOLVER_CALLS))})
    for name in solvers:
        for c in calls:
            rows.append(SweepSetting(name, c, dict(guidance)))
            if karras:
                rows.append(SweepSetting(name, c, {"karras": True, **guidance}))
    rows += stochastic_settings(stochastic, T, guidance)
    return with_eps_scaling(rows, stochastic.eps_scalings)


def write_figure(rows: list[dict], floor: Optional[float], title: str, html_path: Path) -> dict:
    """plotly HTML (self-contained) of FID against network calls per image, one line per series (sampler and
    its options, e.g. "DDIM η=0"), a single setting as a marker; a PNG when a renderer exists (kaleido, else
    matplotlib)."""
    out = {"figure_html": None, "figure_png": None, "png_note": None}
    import plotly.graph_objects as go
    series: dict[str, list[dict]] = {}
    for r in rows:
        series.setdefault(r["series"], []).append(r)
    series = {k: sorted(v, key=lambda r: r["network_calls"]) for k, v in series.items()}
    fig = go.Figure()
    for name, rs in series.items():
        fig.add_trace(go.Scatter(x=[r["network_calls"] for r in rs], y=[r["fid"] for r in rs], name=name,
                                 mode="lines+markers" if len(rs) > 1 else "markers",
                                 marker_symbol="circle" if len(rs) > 1 else "diamond",
                                 marker_size=7 if len(rs) > 1 else 11))
    if floor is not None:
        fig.add_hline(y=floor, line_dash="dot", annotation_text=f"real-vs-real floor {floor:.2f}")
    fig.update_layout(title=title, xaxis_title="network calls per image (log scale)", yaxis_title="FID",
                      template="plotly_white", legend_title="sampler")
    fig.update_xaxes(type="log")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(html_path), include_plotlyjs=True, full_html=True)
    out["figure_html"] = str(html_path)
    png = html_path.with_suffix(".png")
    try:
        import kaleido  # noqa: F401
        fig.write_image(str(png))
        out["figure_png"] = str(png)
        return out
    except Exception as e:
        kaleido_err = f"{type(e).__name__}: {e}"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        f, ax = plt.subplots(figsize=(6, 4))
        for name, rs in series.items():
            ax.plot([r["network_calls"] for r in rs], [r["fid"] for r in rs], "o-" if len(rs) > 1 else "D",
                    label=name)
        if floor is not None:
            ax.axhline(floor, ls=":", c="grey", label="real-vs-real floor")
        ax.set_xscale("log"); ax.set_xlabel("network calls per image"); ax.set_ylabel("FID"); ax.legend()
        ax.set_title(textwrap.fill(title, 64), fontsize=10)        # wrapped, so a long file name fits
        f.tight_layout(); f.savefig(png, dpi=120); plt.close(f)
        out["figure_png"] = str(png)
    except ImportError:
        out["png_note"] = (f"no PNG: kaleido is not usable ({kaleido_err[:80]}) and matplotlib is not installed; "
                           "the HTML figure is the only rendering")
    return out


def compare_with_ddpm(rows: list[dict], feats: list, sweep: QualitySweep, seed: int) -> Optional[dict]:
    """Each row's FID over the first DDPM row's (all T steps), with the paired bootstrap interval
    (diagnostics.intervals.paired_fid_ratio: every row starts from the same x_T and labels), stored in the row as
    "ratio_to_ddpm"; returns the baseline's description, None when the run has no DDPM row."""
    base = next((i for i, r in enumerate(rows) if r["sampler"] == "ddpm"), None)
    if base is None:
        return None
    ref_f = sweep.extractor.embed(sweep.reference.images)[0]
    labels = None if sweep.labels is None else sweep.labels.numpy()
    for i, r in enumerate(rows):
        if i != base:
            r["ratio_to_ddpm"] = paired_fid_ratio(ref_f, feats[i], feats[base], labels, r["fid"] / rows[base]["fid"],
                                                  seed=seed).as_dict()
    b = rows[base]
    return {"series": b["series"], "network_calls": b["network_calls"], "fid": b["fid"],
            "fid_floor_std": b["fid_floor_std"]}


def few_call_targets(rows: list[dict], baseline: Optional[dict], budgets=((10, 1.3), (20, None))) -> list[dict]:
    """The few-step targets, each by the rule of diagnostics.intervals.target_verdict on the paired interval of
    FID / FID(DDPM over all T steps): at <= 10 calls the ratio at most 1.3; at <= 20 calls within the floor's
    noise, i.e. the ratio at most 1 + 2 sd / floor, the real-vs-real FID's own relative spread (sd: the floor's
    standard deviation over held-out draws). A budget is met when some row at that cost meets it, not met when every
    row misses it, else not resolved; the row named is the one deciding that (then the lowest upper end)."""
    base = next((r for r in rows if baseline and r["series"] == baseline["series"] and r["sampler"] == "ddpm"), None)
    if base is None:
        return []
    rank = {MET: 0, NOT_RESOLVED: 1, NOT_MET: 2}
    out = []
    for calls, bound in budgets:
        if bound is None:
            if not base["fid_floor_std"] or not base["fid_floor"]:
                continue
            bound = 1 + 2 * base["fid_floor_std"] / base["fid_floor"]
            what = "within the floor's noise (FID / DDPM's at most 1 + 2 sd / floor)"
        else:
            what = f"at most {bound:g}x DDPM over all T steps"
        judged = [(target_verdict(Interval(iv["estimate"], iv["low"], iv["high"]), bound), r, iv)
                  for r in rows if r["sampler"] != "ddpm" and r["network_calls"] <= calls
                  for iv in [r.get("ratio_to_ddpm") or {}] if iv.get("high") is not None]
        if not judged:
            continue
        verdict, best, iv = min(judged, key=lambda x: (rank[x[0]], x[2]["high"]))
        out.append({"calls": calls, "target": what, "bound": bound, "best": best["series"],
                    "best_calls": best["network_calls"], "ratio": iv, "verdict": verdict,
                    "rows_judged": len(judged)})
    return out


def summarise(payload: dict, name: str) -> dict:
    """The payload's tables (every row; the few-call targets) and its conclusion, from its rows and targets alone,
    so that `--retable` rewrites them in a file without sampling again."""
    rows, n, quick = payload["rows"], payload["n"], payload.get("quick")
    payload["tables"] = [common.table(
        f"Quality vs sampling steps: {name}, n={n}{' [quick]' if quick else ''}",
        ["setting", "S", "net calls", "FID", "floor", "floor ±", "FID/floor (95%)", "FID/DDPM-T (95%)", "IS",
         "precision", "recall", "cond. acc", "seconds"],
        [[r["series"], r["steps"], r["network_calls"], r["fid"], r["fid_floor"], r["fid_floor_std"],
          common.interval_text(r.get("fid_ratio")), common.interval_text(r.get("ratio_to_ddpm")),
          r["inception_score"], r["precision"], r["recall"], r["conditional_accuracy"], r["seconds"]] for r in rows],
        notes=list(payload.get("notes") or []) + ([payload["png_note"]] if payload.get("png_note") else []))]
    targets = payload.get("targets") or []
    if targets:
        payload["tables"].append(common.table(
            f"Few-call targets against DDPM over all T steps ({payload['baseline']['series']}, FID "
            f"{payload['baseline']['fid']:.3f}), paired 95% intervals", ["budget", "target", "deciding row", "calls",
                                                                         "FID / DDPM-T (95%)", "verdict"],
            [[f"<= {t['calls']} calls", f"<= {t['bound']:.2f}x", t["best"], t["best_calls"],
              common.interval_text(t["ratio"]), t["verdict"]] for t in targets]))
        payload["conclusion"] = {"sentence": "; ".join(
            f"at <= {t['calls']} network calls the deciding row of {t['rows_judged']}, {t['best']} at "
            f"{t['best_calls']} calls, scores "
            f"{common.interval_text(t['ratio'])} times DDPM-{payload['T']}'s FID against a target of {t['bound']:.2f}: "
            f"{t['verdict']}" for t in targets)}
    return payload


def retable(path: str) -> dict:
    """Rewrite a result file's tables and conclusion from its rows and targets (no sampling)."""
    payload = json.loads(Path(path).read_text())
    payload["targets"] = few_call_targets(payload["rows"], payload.get("baseline"))
    summarise(payload, f"{Path(payload['checkpoint']['path']).name} (sha256 {payload['checkpoint']['sha256']}, "
                       f"step {payload['checkpoint']['step']})")
    common.write_json(payload, path)
    return payload


def run(quick: bool = False, ckpt: Optional[str] = None, n: Optional[int] = None, seed: int = 0,
        steps: Optional[Sequence[int]] = None, etas: Optional[Sequence[float]] = None, ddpm: Optional[bool] = None,
        guidance_scale: float = 1.0, max_batch: int = 512, figure: bool = True, out_json: Optional[str] = None,
        command: Optional[str] = None, write: bool = True, solvers: Optional[Sequence[str]] = None,
        solver_calls: Optional[Sequence[int]] = None, karras: bool = False,
        ddpm_variances: Sequence[str] = ("fixed_small", "fixed_large"),
        stochastic: StochasticRows = StochasticRows()) -> dict:
    started = time.perf_counter()
    ckpt = ckpt or common.default_checkpoint()
    n = n or (64 if quick else 300)
    payload = common.envelope(NAME, quick, command, "cpu")
    lc, sha = load_for_eval(ckpt)
    sweep = QualitySweep(lc, n=n, seed=seed, max_batch=max_batch)
    T = lc.diffusion.T
    ck_info = {"path": str(ckpt), "sha256": sha, "step": lc.step, "weights": lc.weights}
    settings = plan_rows(T, quick, steps, etas, ddpm, guidance_scale, solvers, solver_calls, karras, ddpm_variances,
                         stochastic)

    rows, feats = [], []
    for setting in settings:
        common.log(f"[quality_vs_steps] {setting.series}, S={setting.steps or T} (n={n})")
        samples = sweep.sample(setting)
        r = sweep.score(setting, samples).as_dict()
        feats.append(sweep.extractor.embed(samples.images)[0])
        r["checkpoint"] = ck_info
        r.update({k: v.as_dict() if hasattr(v, "as_dict") else vars(v).copy()      # churn, restart, eps_scaling
                  for k, v in setting.options.items() if hasattr(v, "__dataclass_fields__")})
        rows.append(r)
        spread = "" if r["fid_floor_std"] is None else f" ± {r['fid_floor_std']:.2f}"
        floor = "no floor" if r["fid_floor"] is None else f"floor {r['fid_floor']:.2f}{spread}"
        common.log(f"  FID {r['fid']:.2f} ({floor}), cond. acc {r['conditional_accuracy']}, "
                   f"{r['network_calls']} calls, {r['seconds']:.1f}s")
    floor = rows[0]["fid_floor"] if rows else None
    baseline = compare_with_ddpm(rows, feats, sweep, seed) if rows else None
    path = common.results_path(NAME, quick, out_json)
    notes = list(sweep.notes)
    payload.update(
        checkpoint=ck_info, n=n, seed=seed, T=T, guidance_scale=guidance_scale,
        labels=f"balanced: image i gets class i % {sweep.num_classes}" if sweep.num_classes else "unconditional",
        x_T_sha256=hashlib.sha256(sweep.x_T.numpy().tobytes()).hexdigest()[:16],
        same_x_T_for_every_row=True,
        reference=rows[0]["reference"] if rows else None, network=rows[0]["network"] if rows else None,
        fid_floor=floor, floor_n=rows[0]["n_floor"] if rows else None,
        heldout_size=len(sweep.heldout) if sweep.heldout is not None else 0, notes=notes, rows=rows,
        baseline=baseline, targets=few_call_targets(rows, baseline))
    # keep other checkpoints' entries from an earlier file (the Compare tab reads them by SHA prefix)
    by = {}
    if write and path.exists():
        try:
            by = dict(json.loads(path.read_text()).get("by_checkpoint") or {})
        except (OSError, ValueError):
            by = {}
    by[sha] = {"checkpoint": ck_info, "date": payload["date"], "n": n, "seed": seed, "quick": quick,
               "fid_floor": floor, "reference": payload["reference"], "network": payload["network"], "rows": rows}
    payload["by_checkpoint"] = by
    if figure and rows:
        payload.update(write_figure(rows, floor, f"FID vs network calls — {Path(ckpt).name} ({sha}), n={n}",
                                    path.with_suffix(".html")))
    summarise(payload, f"{Path(ckpt).name} (sha256 {sha}, step {lc.step})")
    return common.finish_and_write(payload, started, path, write)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.quality_vs_steps", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="n=64, DDIM S in {10, 50} x eta in {0, 1}, no DDPM")
    p.add_argument("--ckpt", default=common.default_checkpoint(), help="default: %(default)s")
    p.add_argument("--n", type=int, help="images per row (default 300; quick 64)")
    p.add_argument("--seed", type=int, default=0, help="x_T, labels and step noise (the same for every row)")
    p.add_argument("--steps", type=int, nargs="+", help="DDIM step counts (default 10 20 50 100 T)")
    p.add_argument("--etas", type=float, nargs="+", help="DDIM etas (default 0 0.5 1)")
    p.add_argument("--ddpm", action=argparse.BooleanOptionalAction, default=None,
                   help="include DDPM over all T steps (default: on; off in quick)")
    p.add_argument("--stochastic", nargs="*", default=[], choices=["edm_heun", "restart"],
                   help="stochastic few-step samplers to add rows for (default: none)")
    p.add_argument("--stochastic-calls", type=int, nargs="+", default=list(STOCHASTIC_CALLS),
                   help="network calls per stochastic row")
    p.add_argument("--churn", type=float, nargs="+", default=[0.0], help="EDM Heun rows' S_churn values")
    p.add_argument("--restart-interval", type=int, nargs=2, default=None, metavar=("T_MIN", "T_MAX"),
                   help="Restart's interval (default: the levels nearest s = sigma/alpha = 0.1 and 2)")
    p.add_argument("--restart-k", type=int, default=1, help="Restart's K")
    p.add_argument("--restart-steps", type=int, default=2, help="ODE steps per restart")
    p.add_argument("--restart-ode", default="heun", choices=list(RESTART_ODES))
    p.add_argument("--eps-scaling", type=float, nargs="+", default=[1.0],
                   help="epsilon-scaling factors: each value other than 1 repeats every non-DDPM row")
    p.add_argument("--solvers", nargs="*", choices=["dpmpp_2m", "dpmpp_2m_sde", "unipc"],
                   help="multistep solvers to add rows for (default: dpmpp_2m unipc; none: --solvers with no name)")
    p.add_argument("--solver-calls", type=int, nargs="+", help="network calls per solver row (default 5 10 15 20 50; "
                                                                "quick 10)")
    p.add_argument("--karras", action="store_true", help="also a Karras-σ row per solver and number of calls")
    p.add_argument("--ddpm-variances", nargs="+", default=["fixed_small", "fixed_large"],
                   choices=["fixed_small", "fixed_large"], help="DDPM rows' reverse variances")
    p.add_argument("--guidance-scale", type=float, default=1.0)
    p.add_argument("--max-batch", type=int, default=512, help="images per forward pass")
    common.add_threads_arg(p)
    p.add_argument("--out-json")
    p.add_argument("--retable", metavar="JSON", help="only rewrite this result file's tables and conclusion from its "
                                                    "rows (no sampling)")
    a = p.parse_args(argv)
    if a.retable:
        for t in retable(a.retable)["tables"]:
            common.print_table(t)
        return 0
    common.set_threads(a.threads)
    res = run(a.quick, a.ckpt, a.n, a.seed, a.steps, a.etas, a.ddpm, a.guidance_scale, a.max_batch, True,
              a.out_json, common.cli_command("bench.quality_vs_steps", argv), solvers=a.solvers,
              solver_calls=a.solver_calls, karras=a.karras, ddpm_variances=a.ddpm_variances,
              stochastic=StochasticRows(tuple(a.stochastic), tuple(a.stochastic_calls), tuple(a.churn),
                                        RestartSpec(*(a.restart_interval or (None, None)), a.restart_k,
                                                    a.restart_steps, a.restart_ode), tuple(a.eps_scaling)))
    for t in res["tables"]:
        common.print_table(t)
    print(f"wrote {res['json']}" + (f" and {res['figure_html']}" if res.get("figure_html") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
