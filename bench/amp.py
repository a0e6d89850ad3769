"""fp32 against bf16 (and channels-last) on this machine, measured in one run: the evidence behind `--amp auto`.

    python -m bench.amp                 # bench/results/amp.json
    python -m bench.amp --quick         # a smoke run (tests/test_bench.py)

1. Training: the digits model trained the same number of steps from the same seed (same batches, same t and ε)
   with `--amp off` and `--amp bf16`: steps/s, the final loss (mean of the last log window), and the quality of
   each model's EMA weights, both sampled in fp32 from the same x_T (so only the training precision differs):
   FID with its real-vs-real floor at the same n, and conditional accuracy.
2. Sampling: the bundled model sampled with `generate(..., amp="off")` and `amp="bf16"` from the very same x_T,
   labels and step noise: images/s, the largest pixel difference between the two sets, FID and accuracy of each.
3. Memory layout: training steps/s and forward images/s of the tiny U-Net in eager (contiguous) and channels-last
   format, in fp32 and bf16 (bench.speed's timing functions), to decide whether channels-last pays here.
4. The app's paths, end to end: a Train-tab run (demo.jobs: `python -m ddpm.train` in its own process, from start to
   its finished checkpoint, wall time) and a Sample-tab request (demo.tabs.sample.sample: load, check, sample, grid)
   in each precision, so the figures are those a user of the app feels.

`auto` is decided per use from these numbers (ddpm.device.CPU_AUTO_BF16); the JSON names the CPU they were taken on
(machine.native_bf16). Run it on both kinds of CPU: bench/results/amp.json is the CPU without native bf16,
bench/results/amp_native_bf16.json the CPU with it (`--out-json`).

"Quality equal" is judged per pair: |ΔFID| no larger than the FID floor at that n (the real-vs-real FID of two
real sets of the same size, i.e. what sampling noise alone gives), and |Δ accuracy| within two binomial
standard errors.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Optional

import torch

from bench import common, speed
from ddpm.checkpoint import load_checkpoint
from ddpm.device import USES, cpu_has_native_bf16, resolve_precision
from ddpm.train import TrainConfig, train
from diagnostics.sweep import QualitySweep, SweepSetting

NAME = "amp"
PRECISIONS = ("off", "bf16")          # --amp values compared; "off" is fp32
LAYOUTS = ("eager", "channels_last", "bf16", "channels_last+bf16")


def _label(amp: str) -> str:
    return "fp32" if amp == "off" else amp


def quality_equal(a: dict, b: dict) -> bool:
    """|ΔFID| ≤ the floor at that n, and |Δ cond. accuracy| ≤ 2 binomial standard errors."""
    fid_ok = abs(a["fid"] - b["fid"]) <= max(a["fid_floor"], b["fid_floor"])
    acc_a, acc_b = a.get("conditional_accuracy"), b.get("conditional_accuracy")
    if acc_a is None or acc_b is None:
        return fid_ok
    p = (acc_a + acc_b) / 2
    se = math.sqrt(max(p * (1 - p), 1e-12) * 2 / a["n"])
    return fid_ok and abs(acc_a - acc_b) <= 2 * se


def _quality(row) -> dict:
    """A SweepRow's numbers, its k-NN precision/recall renamed so that "precision" stays the numeric format."""
    q = row.as_dict()
    q["knn_precision"], q["knn_recall"] = q.pop("precision"), q.pop("recall")
    for k in ("series", "label", "sampler", "steps", "options", "seconds"):
        q.pop(k, None)
    return q


def train_pair(steps: int, batch: int, base_channels: int, seed: int, n: int, eval_steps: int, work: Path) -> list:
    rows = []
    for amp in PRECISIONS:
        stamps = []
        log_every = max(1, steps // 4)
        cfg = TrainConfig(data="digits", image_size=16, preset="tiny", base_channels=base_channels, batch_size=batch,
                          steps=steps, log_every=log_every, warmup_steps=max(1, min(100, steps // 10)),
                          sample_every=0, save_every=0, amp=amp, seed=seed, out=str(work / f"train_{amp}"))
        common.log(f"[amp] training {steps} steps in {_label(amp)} (batch {batch}, base {base_channels})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")       # the emulated-bf16 warning: this benchmark measures exactly that
            res = train(cfg, lambda p: stamps.append((p.step, time.perf_counter())))
        (s0, t0), (s1, t1) = stamps[0], stamps[-1]   # from the first log line on: past the first, slower steps
        sweep = QualitySweep(load_checkpoint(res.model), n=n, seed=seed)
        q = _quality(sweep.row(SweepSetting("ddim", eval_steps, {"eta": 0.0})))     # sampled in fp32
        rows.append({"precision": _label(amp), "amp": amp, "steps": res.step, "batch_size": batch,
                     "steps_per_s": (s1 - s0) / (t1 - t0) if s1 > s0 else None, "final_loss": res.final_loss,
                     "loss_window_steps": log_every, "parameters": res.parameters,
                     "eval": f"EMA weights, DDIM-{eval_steps} in fp32, n={n}", **q})
        common.log(f"[amp]   {rows[-1]['steps_per_s']:.3f} steps/s, loss {res.final_loss:.4f}, FID {q['fid']:.3f} "
                   f"(floor {q['fid_floor']:.3f}), acc {q['conditional_accuracy']}")
    return rows


def sample_pair(ckpt: str, n: int, steps: int, seed: int) -> list:
    sweep = QualitySweep(load_checkpoint(ckpt), n=n, seed=seed)   # one x_T, labels and step-noise seed for both
    rows, images = [], {}
    for amp in PRECISIONS:
        common.log(f"[amp] sampling n={n} DDIM-{steps} in {_label(amp)}")
        setting = SweepSetting("ddim", steps, {"eta": 0.0, "amp": amp})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sweep.sample(setting)
        images[amp] = res.images
        q = _quality(sweep.score(setting, res))
        rows.append({"precision": _label(amp), "amp": amp, "sampler": f"DDIM-{steps}, eta 0", "n": n,
                     "seconds": res.seconds, "images_per_s": n / res.seconds,
                     "max_abs_pixel_diff_vs_fp32": (res.images - images["off"]).abs().max().item(), **q})
        common.log(f"[amp]   {rows[-1]['images_per_s']:.2f} img/s, FID {q['fid']:.3f} (floor {q['fid_floor']:.3f}), "
                   f"max |Δpixel| {rows[-1]['max_abs_pixel_diff_vs_fp32']:.4f}")
    return rows


def app_rows(train_steps: int, sample_n: int, sample_steps: int, work: Path) -> list:
    """The Train tab's run (its job manager: the trainer in its own process, wall time from start to the finished
    checkpoint) and the Sample tab's request (load, checks, sampling, the grid), in fp32 and bf16."""
    from demo import checkpoints
    from demo.jobs import TrainingJobs, TrainRequest
    from demo.tabs import sample as sample_tab
    rows = []
    for amp in PRECISIONS:
        jobs = TrainingJobs(work / f"app_runs_{amp}")
        common.log(f"[amp] Train tab: {train_steps} steps in {_label(amp)} (the app's defaults otherwise)")
        t0 = time.perf_counter()
        jobs.start(TrainRequest(steps=train_steps, sample_every=0, amp=amp))
        status = jobs.wait(timeout=3600)
        train_s = time.perf_counter() - t0
        if status.state != "finished":
            raise RuntimeError(f"the Train tab's run ended {status.state}: {status.to_dict()}")
        sample_tab.sample(checkpoint=checkpoints.BUNDLED, n=2, steps=2, amp=amp)          # warm the model cache
        t0 = time.perf_counter()
        sample_tab.sample(checkpoint=checkpoints.BUNDLED, n=sample_n, steps=sample_steps, amp=amp)
        sample_s = time.perf_counter() - t0
        rows.append({"precision": _label(amp), "amp": amp, "train_steps": train_steps, "train_wall_s": train_s,
                     "train_steps_per_s_end_to_end": train_steps / train_s, "sample_n": sample_n,
                     "sample_steps": sample_steps, "sample_request_s": sample_s, "sample_images_per_s": sample_n / sample_s})
        common.log(f"[amp]   Train tab {train_s:.1f} s, Sample tab {sample_s:.2f} s for {sample_n} images")
    return rows


def layout_rows(train_batch: int, forward_batch: int, repeats: int) -> list:
    dev = torch.device("cpu")
    rows = []
    for variant in LAYOUTS:
        common.log(f"[amp] layout {variant}: training batch {train_batch}, forward batch {forward_batch}")
        tr = speed.time_train("ours", variant, dev, train_batch, 1, repeats)
        fw = speed.time_forward("ours", variant, dev, forward_batch, 1, repeats)
        rows.append({"variant": variant, "channels_last": variant.startswith("channels_last"),
                     "precision": "bf16" if variant.endswith("bf16") else "fp32", "train_batch": train_batch,
                     "train_steps_per_s": 1 / tr["seconds"], "forward_batch": forward_batch,
                     "forward_images_per_s": forward_batch / fw["seconds"], "timed_repeats": repeats})
    base = {r["precision"]: r for r in rows if not r["channels_last"]}
    for r in rows:
        r["train_vs_contiguous"] = r["train_steps_per_s"] / base[r["precision"]]["train_steps_per_s"]
        r["forward_vs_contiguous"] = r["forward_images_per_s"] / base[r["precision"]]["forward_images_per_s"]
    return rows


def run(quick: bool = False, ckpt: Optional[str] = None, train_steps: Optional[int] = None,
        train_batch: Optional[int] = None, base_channels: int = 16, train_n: Optional[int] = None,
        sample_n: Optional[int] = None, sample_steps: Optional[int] = None, layout_repeats: Optional[int] = None,
        seed: int = 0, out_json: Optional[str] = None, command: Optional[str] = None, write: bool = True,
        app_train_steps: Optional[int] = None) -> dict:
    started = time.perf_counter()
    ckpt = ckpt or common.default_checkpoint()
    train_steps = train_steps or (3 if quick else 100)
    train_batch = train_batch or (16 if quick else 64)
    train_n = train_n or (20 if quick else 200)
    sample_n = sample_n or (10 if quick else 100)
    sample_steps = sample_steps or (2 if quick else 10)
    layout_repeats = layout_repeats or (1 if quick else 3)
    app_train_steps = app_train_steps or (3 if quick else 60)
    payload = common.envelope(NAME, quick, command, "cpu")
    payload["machine"]["native_bf16"] = cpu_has_native_bf16()
    with tempfile.TemporaryDirectory(prefix="bench_amp_") as work:
        training = train_pair(train_steps, train_batch, base_channels, seed, train_n, 5 if quick else 20, Path(work))
        app = app_rows(app_train_steps, 4 if quick else 16, 2 if quick else 50, Path(work))
    sampling = sample_pair(ckpt, sample_n, sample_steps, seed)
    layouts = layout_rows(8 if quick else 64, 8 if quick else 64, layout_repeats)

    t32, t16 = training
    s32, s16 = sampling
    train_ratio = (t16["steps_per_s"] / t32["steps_per_s"]) if t16["steps_per_s"] and t32["steps_per_s"] else None
    sample_ratio = s16["images_per_s"] / s32["images_per_s"]
    cl = {r["precision"]: r for r in layouts if r["channels_last"]}
    a32, a16 = app
    conclusion = {
        "native_bf16": cpu_has_native_bf16(),
        "auto": {use: resolve_precision("auto", "cpu", use).name for use in USES},
        "auto_reason": {use: resolve_precision("auto", "cpu", use).reason for use in USES},
        "bf16_train_speed_vs_fp32": train_ratio, "bf16_sample_speed_vs_fp32": sample_ratio,
        "bf16_train_tab_speed_vs_fp32": a32["train_wall_s"] / a16["train_wall_s"],
        "bf16_sample_tab_speed_vs_fp32": a32["sample_request_s"] / a16["sample_request_s"],
        "max_abs_pixel_diff_bf16_vs_fp32": s16["max_abs_pixel_diff_vs_fp32"],
        "training_quality_equal": quality_equal(t32, t16), "sampling_quality_equal": quality_equal(s32, s16),
        "channels_last_train_vs_contiguous_fp32": cl["fp32"]["train_vs_contiguous"],
        "channels_last_forward_vs_contiguous_fp32": cl["fp32"]["forward_vs_contiguous"],
    }
    conclusion["sentence"] = (
        f"on this CPU ({'native' if conclusion['native_bf16'] else 'no native'} bf16) bf16 trains at "
        f"{train_ratio:.2f}× and samples at {sample_ratio:.2f}× the fp32 speed; quality "
        f"{'equal' if conclusion['training_quality_equal'] else 'NOT equal'} within the floor for training and "
        f"{'equal' if conclusion['sampling_quality_equal'] else 'NOT equal'} for sampling (images up to "
        f"{s16['max_abs_pixel_diff_vs_fp32']:.3f} apart); the Train tab runs at "
        f"{conclusion['bf16_train_tab_speed_vs_fp32']:.2f}× and the Sample tab at "
        f"{conclusion['bf16_sample_tab_speed_vs_fp32']:.2f}×; channels-last fp32 "
        f"trains at {cl['fp32']['train_vs_contiguous']:.2f}× and samples at {cl['fp32']['forward_vs_contiguous']:.2f}× "
        f"the contiguous speed")
    common.log(f"[amp] {conclusion['sentence']}")
    payload.update(
        checkpoint=str(Path(ckpt).name), checkpoint_sha256=common.sha256_prefix(ckpt), seed=seed,
        training=training, sampling=sampling, app=app, layouts=layouts, conclusion=conclusion,
        method="training: ddpm.train.train with --amp off / bf16, same seed (same batches, t, ε), steps/s from the "
               "progress callback's timestamps after the first log line; quality of each EMA model sampled in fp32 "
               "from the same x_T. sampling: ddpm.sampling.generate with amp='off' / 'bf16' from the same x_T, "
               "labels and step noise. app: demo.jobs.TrainingJobs (wall time from start to the finished checkpoint) and "
               "demo.tabs.sample.sample (one request after a warm-up). layouts: bench.speed.time_train / "
               "time_forward (median of the repeats).",
        notes=["quality equal = |ΔFID| <= the real-vs-real floor at the same n and |Δ cond. accuracy| <= 2 binomial "
               "standard errors", "bf16 results are not the same on every CPU: a CPU that computes bf16 "
               "natively and one that emulates it run other kernels (compare amp.json with amp_native_bf16.json: "
               "the same bf16 training gave FID 11.865 and 11.779); fp32 results agree",
               "timings on a shared machine: see loadavg_at_start/at_end in machine"])
    fmt_acc = lambda r: r.get("conditional_accuracy")
    payload["tables"] = [
        common.table(f"Training in fp32 vs bf16 on cpu{' [quick]' if quick else ''} ({train_steps} steps, batch "
                     f"{train_batch}, base {base_channels}, seed {seed})",
                     ["precision", "steps/s", "final loss", "FID", "floor", "floor std", "cond. acc", "n"],
                     [[r["precision"], r["steps_per_s"], r["final_loss"], r["fid"], r["fid_floor"], r["fid_floor_std"],
                       fmt_acc(r), r["n"]]
                      for r in training], notes=[training[0]["eval"]]),
        common.table(f"Sampling {Path(ckpt).name} in fp32 vs bf16 from the same x_T{' [quick]' if quick else ''}",
                     ["precision", "sampler", "img/s", "max |Δpixel| vs fp32", "FID", "floor", "floor std", "cond. acc",
                      "n"],
                     [[r["precision"], r["sampler"], r["images_per_s"], r["max_abs_pixel_diff_vs_fp32"], r["fid"],
                       r["fid_floor"], r["fid_floor_std"], fmt_acc(r), r["n"]] for r in sampling]),
        common.table("The app's paths, end to end",
                     ["precision", "Train tab steps", "wall s", "steps/s", "Sample tab images", "DDIM steps",
                      "request s", "img/s"],
                     [[r["precision"], r["train_steps"], r["train_wall_s"], r["train_steps_per_s_end_to_end"],
                       r["sample_n"], r["sample_steps"], r["sample_request_s"], r["sample_images_per_s"]] for r in app],
                     notes=["Train tab: the app's defaults (digits, its preset and batch), no sample grid; wall time "
                            "includes starting the trainer's process"]),
        common.table("Memory layout (tiny U-Net, 16×16)",
                     ["variant", "precision", "train steps/s", "vs contiguous", "fwd img/s", "vs contiguous"],
                     [[r["variant"], r["precision"], r["train_steps_per_s"], r["train_vs_contiguous"],
                       r["forward_images_per_s"], r["forward_vs_contiguous"]] for r in layouts],
                     notes=[f"train batch {layouts[0]['train_batch']}, forward batch {layouts[0]['forward_batch']}, "
                            f"median of {layout_repeats}"]),
    ]
    return common.finish_and_write(payload, started, common.results_path(NAME, quick, out_json), write)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.amp", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 training steps, n=10/20: a smoke run")
    p.add_argument("--ckpt", help="model for the sampling comparison (default: the bundled one)")
    p.add_argument("--train-steps", type=int, help="steps per precision (default 100)")
    p.add_argument("--train-batch", type=int, help="default 64")
    p.add_argument("--base-channels", type=int, default=16, help="U-Net width for the training comparison")
    p.add_argument("--train-n", type=int, help="images scored per trained model (default 200)")
    p.add_argument("--sample-n", type=int, help="images per precision in the sampling comparison (default 100)")
    p.add_argument("--sample-steps", type=int, help="DDIM steps of the sampling comparison (default 10)")
    p.add_argument("--layout-repeats", type=int, help="timed repeats per layout cell (default 3)")
    p.add_argument("--app-train-steps", type=int, help="steps of the Train tab's run per precision (default 60)")
    p.add_argument("--seed", type=int, default=0)
    common.add_threads_arg(p)
    p.add_argument("--out-json")
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    res = run(a.quick, a.ckpt, a.train_steps, a.train_batch, a.base_channels, a.train_n, a.sample_n, a.sample_steps,
              a.layout_repeats, a.seed, a.out_json, common.cli_command("bench.amp", argv),
              app_train_steps=a.app_train_steps)
    common.print_result(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
