"""Training recipes at the same CPU wall-clock budget: the baseline (linear schedule, ε objective, simple
loss) and one-factor changes — cosine schedule, v objective, min-SNR weighting — each trained from scratch
for --budget-seconds of training-loop time, then evaluated with its EMA and its raw weights (both are in the
same run's checkpoint): FID with the real-vs-real floor, conditional accuracy, and the steps each reached.

    python -m bench.recipes [--budget-seconds 150]
    python -m bench.recipes --quick          # 20 s per recipe, n=64, DDIM-20

The budget is enforced by a train() callback (every 2 steps: log_every=2) that raises ddpm.train.StopTraining
once the training loop's elapsed time reaches the budget; the trainer then saves and returns cleanly. Data
loading, model construction and the final save are outside the budget. sample_every=0 (no grids during the
run). All recipes share the seed, batch, learning rate and the evaluation's x_T and labels. The learning-rate
schedule's horizon is --max-steps (default 100000), far beyond what a budget reaches, so every recipe trains
at its (post-warmup) peak learning rate: a fair comparison at equal time, not a tuned one.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from bench import common
from ddpm.checkpoint import load_checkpoint
from ddpm.train import StopTraining, TrainConfig, train
from diagnostics.features import load_feature_net
from diagnostics.sweep import QualitySweep, SweepSetting

NAME = "recipes"
DEFAULT_BUDGET_SECONDS = 150.0   # training-loop seconds per recipe: the README table was measured at this budget
BASELINE = dict(schedule="linear", objective="eps", weighting="simple")
RECIPES = {
    "baseline": {},
    "cosine": dict(schedule="cosine"),
    "v": dict(objective="v"),
    "min_snr": dict(weighting="min_snr"),
}


def train_for(budget: float, cfg: TrainConfig) -> tuple:
    """train(cfg) stopped after `budget` seconds of training loop; returns (TrainResult, loop seconds)."""
    seen = {"elapsed": 0.0}

    def cb(p):
        seen["elapsed"] = p.elapsed
        if p.elapsed >= budget:
            raise StopTraining

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        res = train(cfg, cb)
    finally:   # train() swaps in its own SIGINT/SIGTERM handlers; make sure the caller's are back whatever happens
        for s, h in saved.items():
            signal.signal(s, h)
    return res, seen["elapsed"]


def run(quick: bool = False, budget_seconds: Optional[float] = None, recipes: Optional[Sequence[str]] = None,
        preset: str = "tiny", base_channels: int = 0, batch_size: int = 128, lr: float = 2e-3,
        warmup_steps: Optional[int] = None, max_steps: int = 100_000, n: Optional[int] = None,
        eval_steps: Optional[int] = None, eval_eta: float = 0.0, seed: int = 0, log_every: int = 2,
        device: str = "auto", work_dir: Optional[str] = None, out_json: Optional[str] = None,
        command: Optional[str] = None, write: bool = True) -> dict:
    started = time.perf_counter()
    budget = float(budget_seconds or (20 if quick else DEFAULT_BUDGET_SECONDS))
    names = list(recipes or RECIPES)
    n = n or (64 if quick else 300)
    eval_steps = eval_steps or (20 if quick else 50)
    warmup_steps = warmup_steps if warmup_steps is not None else (10 if quick else 100)
    work = Path(work_dir) if work_dir else common.SCRATCH_DIR / ("recipes_quick" if quick else "recipes")
    dev = common.resolve_device(device)
    payload = common.envelope(NAME, quick, command, dev)
    extractor = load_feature_net()
    evaluation = SweepSetting("ddim", eval_steps, {"eta": eval_eta})
    sweep_notes: list[str] = []

    runs, rows = [], []
    for name in names:
        factors = {**BASELINE, **RECIPES[name]}
        cfg = TrainConfig(data="digits", image_size=16, preset=preset, base_channels=base_channels,
                          steps=max_steps, batch_size=batch_size, lr=lr, warmup_steps=warmup_steps, seed=seed,
                          log_every=log_every, sample_every=0, save_every=0, out=str(work / name),
                          device=str(dev), **factors)
        common.log(f"[recipes] {name} ({factors}): training for {budget:.0f}s")
        res, loop_s = train_for(budget, cfg)
        run_info = {"recipe": name, **factors, "steps_reached": res.step, "train_loop_seconds": loop_s,
                    "train_total_seconds": res.seconds, "final_loss": res.final_loss,
                    "steps_per_s": res.step / loop_s if loop_s else None, "checkpoint": res.checkpoint,
                    # 1-min load average after the run: a busy machine gives a recipe fewer steps than its rivals
                    "loadavg_1min_after": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}
        runs.append(run_info)
        common.log(f"[recipes] {name}: {res.step} steps in {loop_s:.1f}s, loss {res.final_loss:.4f}")
        for weights in ("ema", "raw"):
            lc = load_checkpoint(res.checkpoint, weights=weights, max_bytes=None)
            sweep = QualitySweep(lc, n=n, seed=seed, feature_net=extractor)   # same x_T and labels for every run
            sweep_notes = sweep_notes or sweep.notes
            r = sweep.row(evaluation).as_dict()
            r.update(recipe=name, weights=lc.weights, steps_reached=res.step, train_loop_seconds=loop_s, **factors)
            rows.append(r)
            common.log(f"[recipes]   {weights}: FID {r['fid']:.2f} (floor {r['fid_floor']:.2f}), "
                       f"cond. acc {r['conditional_accuracy']:.3f}")

    best = min(rows, key=lambda r: r["fid"])
    best_acc = max(rows, key=lambda r: r["conditional_accuracy"] if r["conditional_accuracy"] is not None else -1)
    ema_gain = {}
    for name in names:
        e = next(r for r in rows if r["recipe"] == name and r["weights"] == "ema")
        w = next(r for r in rows if r["recipe"] == name and r["weights"] == "raw")
        ema_gain[name] = w["fid"] - e["fid"]
    winner = {"recipe": best["recipe"], "weights": best["weights"], "fid": best["fid"], "fid_floor": best["fid_floor"],
              "conditional_accuracy": best["conditional_accuracy"],
              "by_conditional_accuracy": {"recipe": best_acc["recipe"], "weights": best_acc["weights"],
                                          "conditional_accuracy": best_acc["conditional_accuracy"]}}
    sentence = (f"winner at {budget:.0f}s per recipe: {best['recipe']} ({best['weights']} weights), FID "
                f"{best['fid']:.2f} vs floor {best['fid_floor']:.2f}, conditional accuracy "
                f"{best['conditional_accuracy']:.3f}; by conditional accuracy: {best_acc['recipe']} "
                f"({best_acc['weights']}, {best_acc['conditional_accuracy']:.3f})")
    notes = list(sweep_notes) + [
        f"one seed ({seed}) per recipe and one x_T for every evaluation: FID gaps of the order of the spread between "
        "EMA and raw weights of one run are within noise; repeat with other --seed values before concluding",
        f"evaluation: DDIM-{eval_steps} eta={eval_eta:g}, n={n}, labels i % K, guidance scale 1"]
    payload.update(
        budget_seconds=budget, budget_enforced_by="train() callback raising ddpm.train.StopTraining every "
        f"{log_every} steps once TrainProgress.elapsed >= budget", recipes={k: {**BASELINE, **RECIPES[k]} for k in names},
        train_config=dict(preset=preset, base_channels=base_channels, batch_size=batch_size, lr=lr,
                          warmup_steps=warmup_steps, lr_schedule_horizon_steps=max_steps, seed=seed, device=str(dev),
                          sample_every=0, ema_decay=TrainConfig.ema_decay, holdout=TrainConfig.holdout),
        evaluation=dict(sampler="ddim", steps=eval_steps, eta=eval_eta, n=n, seed=seed,
                        reference=rows[0]["reference"] if rows else None, network=rows[0]["network"] if rows else None),
        runs=runs, rows=rows, winner=winner, winner_sentence=sentence, ema_fid_gain=ema_gain, notes=notes)
    payload["tables"] = [common.table(
        f"Recipes at {budget:.0f}s of CPU training each{' [quick]' if quick else ''} ({preset}, batch {batch_size})",
        ["recipe", "schedule", "objective", "weighting", "weights", "steps", "FID", "floor", "cond. acc",
         "precision", "recall"],
        [[r["recipe"], r["schedule"], r["objective"], r["weighting"], r["weights"], r["steps_reached"], r["fid"],
          r["fid_floor"], r["conditional_accuracy"], r["precision"], r["recall"]] for r in rows],
        notes=[sentence] + notes)]
    return common.finish_and_write(payload, started, common.results_path(NAME, quick, out_json), write)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.recipes", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="20 s per recipe, n=64, DDIM-20")
    p.add_argument("--budget-seconds", type=float, help=f"training-loop seconds per recipe (default {DEFAULT_BUDGET_SECONDS:g}; quick 20)")
    p.add_argument("--recipes", nargs="+", choices=list(RECIPES))
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup-steps", type=int, help="default 100 (quick 10)")
    p.add_argument("--max-steps", type=int, default=100_000, help="the lr schedule's horizon")
    p.add_argument("--n", type=int, help="images per evaluation (default 300; quick 64)")
    p.add_argument("--eval-steps", type=int, help="DDIM steps of the evaluation (default 50; quick 20)")
    p.add_argument("--eval-eta", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    common.add_threads_arg(p)
    p.add_argument("--out-json")
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    res = run(a.quick, a.budget_seconds, a.recipes, a.preset, 0, a.batch_size, a.lr, a.warmup_steps, a.max_steps,
              a.n, a.eval_steps, a.eval_eta, a.seed, device=a.device, out_json=a.out_json,
              command=common.cli_command("bench.recipes", argv))
    for t in res["tables"]:
        common.print_table(t)
    print(res["winner_sentence"])
    print(f"wrote {res['json']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
