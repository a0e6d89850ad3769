"""Tests for ddpm.train: the loss goes down on digits, samples move towards the data, exact resume, clear
errors for bad names / mismatched resumes / unwritable folders, the CLI help and a 2-process torchrun run.

Models are tiny (preset tiny with base_channels=16, 8×8 digits, batch 32) so the file runs in well under a
minute on 2 shared CPU cores."""
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from ddpm.checkpoint import CheckpointError, load_checkpoint, load_train_state, read_metadata
from ddpm.data import load_dataset
from ddpm.sampling import generate
from ddpm.train import StopTraining, TrainConfig, main, train


ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(data="digits", image_size=8, preset="tiny", base_channels=16, batch_size=32, sample_every=0)


def _cfg(out, **kw):
    return TrainConfig(out=str(out), **dict(SMALL, **kw))


def _subprocess_env():
    return dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")


# ---- a 200-step run, shared by the loss and sample tests ------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("train200")
    cfg = _cfg(out, steps=200, log_every=20, warmup_steps=20, lr=2e-3, seed=0, save_every=0)
    reports = []
    result = train(cfg, reports.append)
    return cfg, result, reports, out


@pytest.mark.slow
def test_loss_goes_down(trained):
    cfg, result, reports, out = trained
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == list(range(20, 201, 20)) == [p.step for p in reports]
    first, last = lines[0]["loss"], lines[-1]["loss"]
    # ε-MSE starts near 1 (a fresh model predicts 0 and E[ε²] = 1); 200 steps reach ~0.12 on this setup
    assert first > 0.5 and last < 0.5 * first, (first, last)
    assert result.step == 200 and not result.stopped_early and result.final_loss == pytest.approx(last)
    # the learning rate follows warmup then cosine decay, recomputed here (lr of the last step of each window)
    for m in lines:
        s = m["step"] - 1
        if s < cfg.warmup_steps:
            want = cfg.lr * (s + 1) / cfg.warmup_steps
        else:
            progress = (s - cfg.warmup_steps) / (cfg.steps - cfg.warmup_steps)
            floor = cfg.lr * cfg.min_lr_ratio
            want = floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        assert m["lr"] == pytest.approx(want, rel=1e-12)
    assert all(len(m["loss_by_quartile"]) == 4 for m in lines)
    # the files a run leaves behind
    assert "train_state" in read_metadata(out / "last.safetensors")
    assert "train_state" not in read_metadata(out / "model.safetensors")
    assert (out / "samples" / "latest.png").is_file() and (out / "config.json").is_file()
    assert json.loads((out / "progress.json").read_text())["state"] == "finished"
    assert json.loads((out / "summary.json").read_text())["step"] == 200
    # files are replaced by renaming a temporary file: none may be left behind
    assert not [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_samples_move_towards_the_data(trained):
    _, result, _, out = trained
    ck = load_checkpoint(result.model)          # the EMA weights, rebuilt from the shared file alone
    res = generate(ck.model, ck.diffusion, n=50, labels=list(range(10)), sampler="ddim", steps=20, seed=0)
    data = load_dataset("digits", image_size=8).images
    noise = res.x_T.clamp(-1, 1)                 # pure noise, clamped to the image range like the samples

    def distance(x):
        return abs(x.mean().item() - data.mean().item()) + abs(x.std().item() - data.std().item())

    # measured: data mean −0.39 std 0.75; samples −0.32 / 0.66; clamped noise 0.0 / 0.78 (unclamped 0 / 1)
    assert distance(res.images) < distance(noise)
    assert distance(res.images) < distance(res.x_T)
    assert distance(res.images) < 0.3
    # digits are mostly background (−1): the samples should have far more near-background pixels than noise
    background = lambda x: (x < -0.8).float().mean().item()
    assert background(res.images) > background(noise) + 0.1


# ---- exact resume ------------------------------------------------------------------------------------------
def _state(path):
    return load_train_state(path)


def _assert_same_state(a, b):
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    for i, s in a["optimizer"]["state"].items():
        for k, v in s.items():
            assert torch.equal(v, b["optimizer"]["state"][i][k]), (i, k)
    for name in a["rng"]:
        assert torch.equal(a["rng"][name], b["rng"][name]), name


@pytest.mark.slow
def test_interrupted_and_resumed_run_is_bit_identical(tmp_path):
    # dropout on, so the global torch RNG must be restored too, and flips, drawn from the noise generator;
    # 12 steps, a checkpoint every 6
    kw = dict(steps=12, save_every=6, log_every=2, warmup_steps=3, seed=3, dropout=0.1, hflip=True, T=100)
    handler_before = signal.getsignal(signal.SIGINT)
    full = train(_cfg(tmp_path / "full", **kw))
    assert signal.getsignal(signal.SIGINT) is handler_before     # train() puts the caller's handler back

    def stop_at_6(p):
        if p.step == 6:
            raise StopTraining

    part1 = train(_cfg(tmp_path / "resumed", **kw), stop_at_6)
    assert part1.stopped_early and part1.step == 6
    assert read_metadata(tmp_path / "resumed" / "last.safetensors")["step"] == 6
    before = read_metadata(tmp_path / "resumed" / "last.safetensors")["train"]["trained_seconds"]
    assert 0 < before <= part1.seconds
    # as if the run had been killed after logging step 8 but before its next checkpoint (and mid-line)
    with open(tmp_path / "resumed" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 8, "loss": 123.0}) + "\n" + '{"step": 1')
    part2 = train(_cfg(tmp_path / "resumed", resume="auto", **kw))
    assert part2.step == 12 and not part2.stopped_early
    # the time trained counts every segment: the resumed run's includes the first one's
    after = read_metadata(part2.checkpoint)["train"]["trained_seconds"]
    assert before < after <= part2.seconds
    elapsed = {m["step"]: m.get("elapsed") for m in map(json.loads, (tmp_path / "resumed" / "metrics.jsonl")
                                                       .read_text().splitlines())}
    assert elapsed[8] > before and elapsed[12] >= elapsed[8]
    _assert_same_state(_state(full.checkpoint), _state(part2.checkpoint))
    # the logged losses after the resume are the uninterrupted run's, to the bit, each step once
    log = lambda p: [(m["step"], m["loss"]) for m in map(json.loads, Path(p).read_text().splitlines())]
    full_log, resumed_log = log(tmp_path / "full" / "metrics.jsonl"), log(tmp_path / "resumed" / "metrics.jsonl")
    assert resumed_log == full_log and [s for s, _ in full_log] == [2, 4, 6, 8, 10, 12]
    # an explicit path works too, and a stop_event ends a run cleanly as well
    stop = threading.Event()
    part3 = train(_cfg(tmp_path / "again", resume=str(tmp_path / "resumed" / "last.safetensors"),
                       **dict(kw, steps=20)), lambda p: stop.set(), stop_event=stop)
    # resumed at 12; the first report (step 14) sets the event, which the loop sees before step 15
    assert part3.stopped_early and part3.step == 14
    assert read_metadata(part3.checkpoint)["step"] == 14


def test_hflip_mirrors_about_half_of_the_images_and_only_when_asked(tmp_path, monkeypatch):
    """--hflip: each image the loss sees is a training image or its left-right mirror, both occur (p = 1/2), and
    without it every image is as stored."""
    import ddpm.train as trainer
    from ddpm.data import hflip
    x = torch.arange(24.0).view(2, 1, 3, 4)
    out = hflip(x, torch.tensor([True, False]))
    assert torch.equal(out[0, 0, :, 0], x[0, 0, :, 3]) and torch.equal(out[1], x[1])      # x[..., w] ↦ x[..., W-1-w]
    seen = []
    real = trainer.training_losses
    monkeypatch.setattr(trainer, "training_losses", lambda d, net, x0, *a, **k: seen.append(x0.clone()) or
                        real(d, net, x0, *a, **k))
    data = load_dataset("digits", 8).images
    stored = {tuple(im.flatten().tolist()) for im in data}
    mirrored = {tuple(im.flip(-1).flatten().tolist()) for im in data}
    for flips in (True, False):
        seen.clear()
        train(_cfg(tmp_path / str(flips), steps=4, T=50, save_every=0, log_every=1, hflip=flips))
        rows = [tuple(im.flatten().tolist()) for batch in seen for im in batch]
        assert len(rows) == 4 * SMALL["batch_size"]
        as_stored = [r in stored for r in rows]
        assert all(a or r in mirrored for a, r in zip(as_stored, rows))
        n_mirrored = sum(not a for a in as_stored)
        if flips:       # 128 fair coins: 64 ± 5.7 expected; a bound of 4 sd either side
            assert 41 <= n_mirrored <= 87, n_mirrored
        else:
            assert n_mirrored == 0


def test_fresh_run_in_an_old_folder_starts_a_new_loss_curve(tmp_path):
    train(_cfg(tmp_path, steps=4, log_every=1, T=50, save_every=0, seed=1))
    train(_cfg(tmp_path, steps=2, log_every=1, T=50, save_every=0, seed=2))
    steps = [json.loads(line)["step"] for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]


def test_resume_without_ema_starts_the_ema_from_the_resumed_weights(tmp_path):
    src = train(_cfg(tmp_path / "a", steps=2, log_every=1, T=50, save_every=0, ema_decay=0.0)).checkpoint
    assert not load_train_state(src)["ema"]
    resumed = train(_cfg(tmp_path / "b", steps=3, log_every=1, T=50, save_every=0, ema_decay=0.999, resume=src))
    before, after = load_train_state(src)["model"], load_train_state(resumed.checkpoint)
    # one EMA update at step index 2 with decay min(0.999, (1 + 2)/(10 + 2)) = 0.25: lerp by 1 − 0.25 = 0.75
    for k, w in after["model"].items():
        assert torch.equal(after["ema"][k], torch.lerp(before[k], w, 0.75)), k


def test_resume_mismatch_is_a_clear_error(tmp_path):
    src = train(_cfg(tmp_path / "src", steps=2, log_every=1, T=50, save_every=0)).checkpoint
    with pytest.raises(CheckpointError, match=r"its model differs.*image_size.*same data, image size and preset"):
        train(_cfg(tmp_path / "b", steps=4, T=50, resume=src, image_size=16))
    with pytest.raises(CheckpointError, match=r"its model differs.*same data, image size and preset"):
        train(_cfg(tmp_path / "c", steps=4, T=50, resume=src, preset="small"))
    with pytest.raises(CheckpointError, match="it was trained with.*'T': 50"):
        train(_cfg(tmp_path / "d", steps=4, T=100, resume=src))
    with pytest.raises(ValueError, match="already at step 2 >= --steps 2"):
        train(_cfg(tmp_path / "e", steps=2, T=50, resume=src))
    with pytest.raises(FileNotFoundError, match="not found"):
        train(_cfg(tmp_path / "f", steps=2, T=50, resume=str(tmp_path / "nope.safetensors")))
    export = tmp_path / "src" / "model.safetensors"
    with pytest.raises(CheckpointError, match="no training state"):
        train(_cfg(tmp_path / "g", steps=4, T=50, resume=str(export)))


@pytest.mark.parametrize("field,value,choices", [
    ("preset", "huge", ["base", "large", "small", "tiny"]),
    ("objective", "epsilon", ["eps", "v", "x0"]),
    ("weighting", "snr2", ["importance", "min_snr", "simple", "snr"]),
    ("schedule", "cosinus", ["cosine", "linear", "quadratic", "sigmoid"]),
    ("loss", "l2", ["l1", "mse", "vlb"]),
])
def test_unknown_names_list_the_choices(tmp_path, field, value, choices):
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=f"unknown {field} '{value}'; choose from") as e:
        train(_cfg(out, **{field: value}))
    assert str(choices) in str(e.value)
    assert not out.exists()       # refused before anything was written


def test_bad_numbers_are_refused(tmp_path):
    for kw, match in [(dict(steps=0), "steps must be >= 1"), (dict(lr=2.0), r"lr must be in \(0, 1\)"),
                      (dict(ema_decay=1.0), r"ema_decay must be in \[0, 1\)"), (dict(T=1), "T must be >= 2"),
                      (dict(label_dropout=1.0), r"label_dropout must be in \[0, 1\)")]:
        with pytest.raises(ValueError, match=match):
            train(_cfg(tmp_path / "x", **kw))


def test_unwritable_out_folder(tmp_path, capsys):
    # chmod does not stop root, so make the folder impossible: its parent is a regular file
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    out = blocker / "sub"
    with pytest.raises(PermissionError, match=r"cannot write to output folder .*file.txt/sub.*choose another --out"):
        train(_cfg(out, steps=1))
    code = main(["--out", str(out), "--steps", "1", "--image-size", "8", "--quiet"])
    assert code == 2
    assert "error: cannot write to output folder" in capsys.readouterr().err


def test_cli_errors_exit_2(tmp_path, capsys):
    assert main(["--preset", "huge", "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown preset 'huge'; choose from ['base', 'large', 'small', 'tiny']" in err


def test_options_are_defined_once_with_help_and_limits():
    specs = TrainConfig.fields()
    assert [s.name for s in specs] == [f.name for f in fields(TrainConfig)]
    assert all(s.help for s in specs)
    assert all(isinstance(s.default, s.type) for s in specs), [(s.name, s.default, s.type) for s in specs]
    lr = TrainConfig.option_spec("lr")
    assert (lr.type, lr.default, lr.low, lr.high, lr.low_open, lr.high_open) == (float, 2e-3, 0, 1, True, True)
    assert TrainConfig.option_spec("preset").choices == ("base", "large", "small", "tiny")
    assert TrainConfig.option_spec("conditional").type is bool
    with pytest.raises(KeyError, match="no training option 'nope'"):
        TrainConfig.option_spec("nope")


def test_every_declared_limit_is_enforced(tmp_path):
    """Each option's limits (from its field metadata) refuse a value just outside them, and accept the edge
    when it is closed."""
    checked = 0
    for spec in TrainConfig.fields():
        for edge, is_open, outside in ((spec.low, spec.low_open, -1), (spec.high, spec.high_open, +1)):
            if edge is None:
                continue
            step = 1 if spec.type is int else 1e-6
            bad = edge if is_open else edge + outside * step
            with pytest.raises(ValueError, match=f"^{spec.name} must be"):
                TrainConfig(**{spec.name: spec.type(bad)}).validate()
            if not is_open:
                TrainConfig(**{spec.name: spec.type(edge)}).validate()
            checked += 1
        if spec.choices:
            with pytest.raises(ValueError, match=f"unknown {spec.name} 'nope'; choose from"):
                TrainConfig(**{spec.name: "nope"}).validate()
            checked += 1
    assert checked >= 20


def test_help_lists_options_with_defaults():
    proc = subprocess.run([sys.executable, "-m", "ddpm.train", "--help"], capture_output=True, text=True,
                          cwd=ROOT, env=_subprocess_env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())          # undo argparse's line wrapping
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        assert flag in text, flag
        assert f"(default: {f.default})" in text, f.name
    for spec in TrainConfig.fields():      # each option's help text comes from its field's metadata
        assert f"{spec.flag} " in text and " ".join(spec.help.split()) in text, spec.name
    assert "--T T diffusion steps (default: 1000)" in text
    assert "--preset PRESET U-Net size: tiny | small | base | large (default: tiny)" in text
    assert "--quiet" in text


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    torchrun = ROOT / ".venv" / "bin" / "torchrun"
    launcher = [str(torchrun)] if torchrun.exists() else [sys.executable, "-m", "torch.distributed.run"]
    out = tmp_path / "ddp"
    cmd = launcher + ["--nproc_per_node=2", f"--master_port={_free_port()}", "-m", "ddpm.train",
                      "--image-size", "8", "--base-channels", "16", "--steps", "4", "--batch-size", "8",
                      "--T", "50", "--log-every", "2", "--sample-every", "0", "--save-every", "0",
                      "--device", "cpu", "--out", str(out), "--quiet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=_subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "replicas identical: True" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 4 and summary["replicas_identical"] is True
    assert load_checkpoint(out / "model.safetensors").step == 4


def _ddp_worker(rank: int, world: int, port: int, out: str, steps: int, stop_at: int, resume: bool) -> None:
    """One torchrun-like process: the environment torchrun would set, then the ordinary train()."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(world), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)

    def stop_on_rank0(p):
        if rank == 0 and stop_at and p.step >= stop_at:   # only rank 0 asks: every rank must still stop
            raise StopTraining
    train(_cfg(out, steps=steps, T=50, batch_size=8, log_every=1, save_every=0, device="cpu", seed=3,
               label_dropout=0.5, dropout=0.1, resume="auto" if resume else ""), callback=stop_on_rank0)


def _ddp_run(tmp_path, out, steps, stop_at=0, resume=False):
    import torch.multiprocessing as mp
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(out), steps, stop_at, resume), nprocs=2, join=True)


@pytest.mark.slow
def test_ddp_stop_on_one_rank_and_exact_resume(tmp_path):
    """A stop asked by rank 0 alone ends every rank at the same step (no hang), and resuming a 2-process run
    ends with the same weights as an uninterrupted one: every rank's generators are saved and restored."""
    _ddp_run(tmp_path, tmp_path / "whole", steps=6)
    _ddp_run(tmp_path, tmp_path / "split", steps=6, stop_at=3)
    assert json.loads((tmp_path / "split" / "summary.json").read_text())["step"] == 3
    assert load_train_state(tmp_path / "split" / "last.safetensors")["rng"].keys() >= {"noise0", "noise1", "torch0", "torch1"}
    _ddp_run(tmp_path, tmp_path / "split", steps=6, resume=True)
    whole = load_train_state(tmp_path / "whole" / "last.safetensors")
    split = load_train_state(tmp_path / "split" / "last.safetensors")
    assert split["meta"]["step"] == whole["meta"]["step"] == 6
    for k, v in whole["model"].items():
        assert torch.equal(v, split["model"][k]), k
    for k, v in whole["ema"].items():
        assert torch.equal(v, split["ema"][k]), k
