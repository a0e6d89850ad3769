"""The app's handlers, model cache and training-job manager, called directly (no server).

The models here are untrained tiny U-Nets (8×8, base 16, T = 100) written in a few milliseconds: the
handlers' plumbing does not depend on what the weights have learned. The two training tests run the real
`python -m ddpm.train` child process for a few steps.
"""
from __future__ import annotations

import inspect
import io
import json
import os
import time
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

import ddpm
from demo import checkpoints, common, i18n, limits
from demo.jobs import TrainingJobs, TrainRequest
from demo.model_cache import ModelCache, estimate_size
from demo.tabs import compare, diagnose, sample, train

T = 100     # the tiny checkpoints' T (conftest's write_tiny_checkpoint)


pytestmark = pytest.mark.usefixtures("restore_torch_threads", "app_env")


@pytest.fixture
def tiny_ckpt(app_tiny_ckpt) -> Path:
    return app_tiny_ckpt


def error_message(excinfo) -> str:
    return str(excinfo.value.message)


def plot_and_note(view: compare.QualityView):
    return view.plot, view.note


# ------------------------------------------------------------------------------------------------ sample
def test_sample_returns_a_grid_of_the_right_size_and_downloads():
    v = sample.sample("bundled", None, [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 6)
    grid, info, files, frames = v.grid, v.info, v.files, v.frames
    # 6 images of 8×8 with 1-pixel padding: 3 per row, 2 rows -> 19 × 28, upscaled by an integer factor
    scale = grid.shape[1] // 28
    assert scale >= 2 and grid.shape == (19 * scale, 28 * scale, 3) and grid.dtype == np.uint8
    assert "5 network calls per image" in info and "**6 images**" in info
    png, npz = files
    assert png.endswith(".png") and os.path.getsize(png) > 0
    with np.load(npz) as z:
        assert z["images"].shape == (6, 1, 8, 8) and z["x_T"].shape == (6, 1, 8, 8)
        assert z["labels"].tolist() == [0, 1, 2, 3, 4, 5]
    assert len(frames["t"]) == 5 and frames["t"][0] > frames["t"][-1]      # 5 DDIM steps, noise first
    assert v.frame["maximum"] == 4 and v.frame["value"] == 2 and v.xt["value"].shape == v.x0["value"].shape
    assert "t = " in v.xt["label"] and "t = " in v.x0["label"]


def test_the_opening_view_has_its_trajectory_frames_every_time():
    # the first visitor computes it, later visitors get the cached run: both see x_t and x̂_0 filled
    first, second = sample.sample_on_load(), sample.sample_on_load()
    for v in (first, second):
        assert v.grid is not None and "**16 images**" in v.info
        assert v.xt["value"] is not None and v.x0["value"] is not None and v.xt["value"].ndim == 3
        assert len(v.frames["t"]) == min(limits.TRAJECTORY_FRAMES, limits.DEFAULT_SAMPLE["steps"])
    assert first.files == second.files


def test_bind_returns_outputs_by_component():
    with gr.Blocks():
        a, b, c = gr.Markdown(), gr.Image(), gr.Image()
    event = common.bind(sample.show_frame, dict(xt=a, x0=[b, c]))
    assert event(None) == {a: gr.update(value=None), b: gr.update(value=None), c: gr.update(value=None)}
    assert list(inspect.signature(common.bind(sample.sample, {})).parameters)[:2] == ["checkpoint", "upload"]


def test_sample_classes_guidance_and_ddpm_runs_all_T():
    v = sample.sample("bundled", None, ["3", "7"], 2.0, "DDPM", 5, 0.0, 1.0, 1.0, 1, 4)
    info, files = v.info, v.files
    assert f"{T} network calls per image" in info and "classes 3, 7" in info
    assert f"DDPM, all {T} steps (fixed_small variance)" in info           # the model's own reverse variance
    with np.load(files[1]) as z:
        assert z["labels"].tolist() == [3, 7, 3, 7]
    from demo import i18n
    assert sample.sampler_text("ddpm", 1000, 0.0, "learned_range") == "DDPM, all 1000 steps (learned_range variance)"
    with i18n.use("zh"):
        assert sample.sampler_text("ddpm", 1000, 0.0, "learned_range") == "DDPM，全部 1000 步（逆向方差 learned_range）"


def test_same_seed_same_images():
    a = sample.sample("bundled", None, [], 1.0, "DDIM", 4, 0.0, 1.0, 1.0, 5, 3).grid
    b = sample.sample("bundled", None, [], 1.0, "DDIM", 4, 0.0, 1.0, 1.0, 5, 3).grid
    assert np.array_equal(a, b)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(classes=["12"]), "not one of this model's 10 classes"),
    (dict(classes=["seven"]), "not one of this model's 10 classes"),
    (dict(steps=T + 1), f"more than this model's T = {T}"),
    (dict(steps=0), "steps must be between 1"),
    (dict(n=limits.MAX_IMAGES + 1), f"at most {limits.MAX_IMAGES} per request"),
    (dict(n=2.5), "whole number"),
    (dict(eta=1.5), "η (eta) must be between 0 and 1"),
    (dict(sampler="euler"), "sampler must be one of DDIM, DDPM, DPM-Solver++, SDE-DPM-Solver++, UniPC, EDM Heun, Restart"),
    (dict(guidance_scale=limits.MAX_GUIDANCE + 1), "guidance scale must be between 0"),
    (dict(seed=-1), "seed must be between 0"),
    (dict(temperature="hot"), "temperature must be a number"),
    (dict(checkpoint="no-such-run"), "unknown checkpoint 'no-such-run'; choose one of: bundled"),
])
def test_bad_sample_inputs_raise_useful_errors(kwargs, expected):
    args = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, sampler="DDIM", steps=5,
                eta=0.0, temperature=1.0, noise_temperature=1.0, seed=0, n=2)
    args.update(kwargs)
    with pytest.raises(gr.Error) as e:
        sample.sample(**args)
    assert expected in error_message(e)


def test_bad_checkpoint_uploads_give_the_loaders_message(tmp_path):
    pickle = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(3)}, pickle)
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", str(pickle), [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 2)
    assert "pickle" in error_message(e) and "never opened" in error_message(e)

    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(gr.Error) as e:
        compare.compare("bundled", str(empty), [], 1.0, 5, 0.0, 0, 2)
    assert "is empty (0 bytes)" in error_message(e)

    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", str(tmp_path / "gone.safetensors"), [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 2)
    assert "upload it again" in error_message(e)

    text = tmp_path / "notes.safetensors"
    text.write_text("not a checkpoint at all")
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", str(text), [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 2)
    assert "not a readable safetensors file" in error_message(e)


def test_missing_bundled_checkpoint_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(tmp_path / "nothing.safetensors"))
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", None, [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 2)
    assert "no checkpoint is available yet" in error_message(e)


def test_the_mnist_showcase_is_the_default_checkpoint_when_it_ships(tmp_path, monkeypatch, write_tiny_checkpoint,
                                                                    tiny_ckpt):
    assert checkpoints.default_name() == "bundled"      # DDPM_WORKBENCH_CHECKPOINT alone pins the app to it
    showcase = write_tiny_checkpoint(tmp_path / "mnist_tiny.safetensors")
    monkeypatch.setenv("DDPM_WORKBENCH_SHOWCASE", str(showcase))
    assert [e.name for e in checkpoints.list_checkpoints()] == ["mnist", "bundled"]
    assert checkpoints.default_name() == "mnist" and checkpoints.resolve(None) == showcase
    assert checkpoints.resolve("bundled") == tiny_ckpt   # the digits model stays, by name
    monkeypatch.setenv("DDPM_WORKBENCH_SHOWCASE", "")
    assert checkpoints.default_name() == "bundled"


def test_upload_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 1000)
    big = tmp_path / "big.safetensors"
    big.write_bytes(b"x" * 2000)
    with pytest.raises(gr.Error) as e:
        sample.sample("bundled", str(big), [], 1.0, "DDIM", 5, 0.0, 1.0, 1.0, 0, 2)
    assert f"limited to {limits.MAX_UPLOAD_MB} MB" in error_message(e)


def test_an_uploaded_checkpoint_samples(tmp_path, write_tiny_checkpoint):
    up = write_tiny_checkpoint(tmp_path / "mine.safetensors", step=7, num_classes=3, seed=1)
    info = sample.sample("bundled", str(up), [], 1.0, "DDIM", 3, 0.0, 1.0, 1.0, 0, 3).info
    assert "upload mine.safetensors (step 7" in info
    assert common.class_names(None, str(up)) == ["0", "1", "2"]


# ----------------------------------------------------------------------------------------------- compare
def test_compare_returns_two_images_and_numbers():
    v = compare.compare("bundled", None, [], 1.0, 5, 0.0, 3, 2)
    ddpm, ddim, ddpm_txt, ddim_txt, numbers = v.ddpm, v.ddim, v.ddpm_info, v.ddim_info, v.numbers
    assert ddpm.shape == ddim.shape and ddpm.ndim == 3
    assert numbers["ddpm"]["network_calls"] == T and numbers["ddim"]["network_calls"] == 5
    assert numbers["ddpm"]["seconds"] > 0 and numbers["ddim"]["seconds"] > 0
    assert f"all T = {T} steps" in ddpm_txt and "S = 5" in ddim_txt
    with pytest.raises(gr.Error) as e:
        compare.compare("bundled", None, [], 1.0, 5, 0.0, 3, limits.MAX_COMPARE_IMAGES + 1)
    assert "DDPM runs all T steps" in error_message(e)


def test_compare_is_reproducible_from_the_seed():
    # both samplers start from the seed's x_T, so the same seed gives the same pair of grids
    a = compare.compare("bundled", None, [], 1.0, 5, 0.0, 11, 2)
    b = compare.compare("bundled", None, [], 1.0, 5, 0.0, 11, 2)
    assert np.array_equal(a.ddpm, b.ddpm) and np.array_equal(a.ddim, b.ddim)


# ----------------------------------------------------------------------------------------------- quality
def test_quality_plot_without_results_offers_a_measurement():
    fig, note = plot_and_note(compare.quality_plot("bundled", None))
    assert "Measure quality now" in note and len(fig.data) == 0


def test_quality_plot_reads_benchmark_results(tmp_path, monkeypatch, tiny_ckpt):
    import hashlib
    sha = hashlib.sha256(tiny_ckpt.read_bytes()).hexdigest()[:16]
    rows = [{"sampler": "ddim", "steps": s, "eta": 0.0, "variance": None, "fid": 10.0 / s, "fid_floor": 0.1,
             "network_calls": s, "seconds": s / 100, "n": 300, "network_id": "digits-cnn-64"} for s in (5, 10, 50)]
    rows.append({"sampler": "ddpm", "steps": T, "eta": None, "variance": "fixed_small", "fid": 0.2,
                 "fid_floor": 0.1, "network_calls": T, "seconds": 1.0, "n": 300, "network_id": "digits-cnn-64"})
    other = [dict(r, fid=99.0) for r in rows]
    # the benchmark's layout: the latest run at the top, every checkpoint's rows under its SHA-256 prefix
    bench = tmp_path / "quality_vs_steps.json"
    bench.write_text(json.dumps({
        "checkpoint": {"path": "elsewhere.safetensors", "sha256": "0123456789abcdef"}, "rows": other,
        "by_checkpoint": {"0123456789abcdef": {"rows": other, "n": 300},
                          sha: {"rows": rows, "n": 300, "quick": False, "network": "digits-cnn-64 (sha256 …)"}}}))
    monkeypatch.setenv("DDPM_WORKBENCH_BENCH", str(bench))
    fig, note = plot_and_note(compare.quality_plot("bundled", None))
    assert "from the benchmark" in note and "n = 300" in note
    assert {tr.name for tr in fig.data} == {"DDIM η=0", "DDPM (fixed_small)"}
    assert max(max(tr.y) for tr in fig.data) == 2.0                 # this checkpoint's rows, not the other's
    # the solvers' run beside it adds its lines; a setting both files measured is taken from the first
    solver = {"sampler": "dpmpp_2m", "series": "DPM-Solver++(2M)", "steps": 10, "network_calls": 10, "fid": 0.5,
              "fid_floor": 0.1, "n": 300}
    (tmp_path / "quality_vs_calls.json").write_text(json.dumps({"by_checkpoint": {sha: {"rows": [
        solver, dict(rows[1], fid=77.0)], "n": 300}}}))
    fig, note = plot_and_note(compare.quality_plot("bundled", None))
    assert {tr.name for tr in fig.data} == {"DDIM η=0", "DDPM (fixed_small)", "DPM-Solver++(2M)"}
    assert max(max(tr.y) for tr in fig.data) == 2.0 and "quality_vs_calls.json" in note
    (tmp_path / "quality_vs_calls.json").unlink()
    # a larger run beside it wins (FIDs at different n do not mix); rows with intervals plot FID / floor with them
    iv = lambda est: {"estimate": est, "low": est / 2, "high": est * 2}                   # noqa: E731
    big = [dict(r, n=1000, fid_ratio=iv(r["fid"] / 0.1)) for r in rows]
    big[1]["ratio_to_ddpm"] = iv(5.0)
    (tmp_path / "quality_vs_steps_digits_n1000.json").write_text(json.dumps({"by_checkpoint": {sha: {
        "rows": big, "n": 1000}}}))
    fig, note = plot_and_note(compare.quality_plot("bundled", None))
    assert "quality_vs_steps_digits_n1000.json" in note and "n = 1000" in note
    ddim = next(tr for tr in fig.data if tr.name == "DDIM η=0")
    assert list(ddim.y) == [20.0, 10.0, 2.0] and list(ddim.error_y.array) == [20.0, 10.0, 2.0]
    assert list(ddim.error_y.arrayminus) == [10.0, 5.0, 1.0] and "5.00×" in ddim.hovertext[1]
    assert fig.layout.yaxis.title.text.startswith("FID / real-vs-real floor")
    (tmp_path / "quality_vs_steps_digits_n1000.json").unlink()
    bench.write_text(json.dumps({"checkpoint": {"path": "elsewhere.safetensors", "sha256": "0123456789abcdef"},
                                 "rows": other}))
    fig, note = plot_and_note(compare.quality_plot("bundled", None))
    assert "measured on other checkpoints" in note and len(fig.data) == 0


# --------------------------------------------------------------------------------------------- the cache
def test_model_cache_loads_once_and_reloads_a_changed_file(tmp_path, write_tiny_checkpoint):
    path = write_tiny_checkpoint(tmp_path / "m.safetensors", step=1)
    size = estimate_size(path).total
    cache = ModelCache(max_bytes=int(2.5 * size), device="cpu")
    a = cache.get(path)
    assert cache.get(path) is a and cache.get(str(path)) is a and cache.loads == 1
    write_tiny_checkpoint(path, step=2, seed=3)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))   # a later save, even on coarse clocks
    b = cache.get(path)
    assert b is not a and b.step == 2 and cache.loads == 2
    assert len(cache) == 1            # the new entry replaced the old one for that path
    others = [write_tiny_checkpoint(tmp_path / f"o{i}.safetensors") for i in range(2)]
    for p in others:
        cache.get(p)
    assert len(cache) == 2            # bounded in bytes: two of these fit


def test_handlers_share_one_cache(tiny_ckpt):
    from demo.model_cache import get_cache
    sample.sample("bundled", None, [], 1.0, "DDIM", 2, 0.0, 1.0, 1.0, 0, 1)
    loads = get_cache().loads
    compare.compare("bundled", None, [], 1.0, 2, 0.0, 0, 1)
    sample.sample("bundled", None, [], 1.0, "DDIM", 2, 0.0, 1.0, 1.0, 0, 1)
    assert get_cache().loads == loads


# -------------------------------------------------------------------------------------- training inputs
def _zip_of_class_folders(path: Path, classes=("a", "b"), per_class=6) -> Path:
    from PIL import Image
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for c in classes:
            for i in range(per_class):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(buf, format="PNG")
                zf.writestr(f"shapes/{c}/{i}.png", buf.getvalue())
    return path


TINY = dict(preset="tiny", schedule="linear", objective="eps", weighting="simple", batch_size=8, lr=1e-3,
            label_dropout=0.1, sample_every=0, image_size=8, base_channels=16, T=T)


@pytest.mark.parametrize("kwargs, expected", [
    (dict(steps=limits.MAX_TRAIN_STEPS + 1), "training steps must be between 1 and 20000"),
    (dict(lr=0.5), "learning rate must be between"),
    (dict(batch_size=0), "batch size must be between 1"),
    (dict(preset="large"), "unknown preset 'large'; choose from tiny, small"),
    (dict(schedule="zigzag"), "unknown schedule 'zigzag'"),
    (dict(image_size=10), "unknown image size 10"),
    (dict(base_channels=20), "multiple of 8"),
    (dict(sample_every=5), "at least 50 steps"),
    (dict(T=5), "T (diffusion steps) must be between 10"),
    (dict(data="cifar"), "data must be 'digits', 'mnist' or 'zip'"),
    (dict(data="zip"), "choose a .zip of images"),
    (dict(image_size=64, batch_size=128, steps=5001), "at most 5,000 steps at this size and batch"),
    (dict(dropout=0.9), "network dropout must be between 0 and 0.5"),
])
def test_bad_training_inputs_raise_useful_errors(kwargs, expected):
    args = dict(TINY, data="digits", zip_file=None, steps=20)
    args.update(kwargs)
    with pytest.raises(gr.Error) as e:
        train.train_start(**args)
    assert expected in error_message(e)
    assert train.get_jobs().status().state == "idle"


def test_bad_zip_uploads_are_refused_before_training(tmp_path):
    not_zip = tmp_path / "data.zip"
    not_zip.write_text("hello")
    with pytest.raises(gr.Error) as e:
        train.train_start(data="zip", zip_file=str(not_zip), steps=20, **TINY)
    assert "is not a .zip file" in error_message(e)
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as zf:
        zf.writestr("readme.txt", "no images")
    with pytest.raises(gr.Error) as e:
        train.train_start(data="zip", zip_file=str(flat), steps=20, **TINY)
    assert "no images found in flat.zip" in error_message(e)
    one = _zip_of_class_folders(tmp_path / "one.zip", classes=("cats",))
    with pytest.raises(gr.Error) as e:               # one class asked to train class-conditionally: the way out
        train.train_start(data="zip", zip_file=str(one), steps=20, **TINY)
    assert "single class folder 'cats'" in error_message(e) and "untick 'class-conditional'" in error_message(e)
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as zf:        # laid out right, but the "images" are not images
        zf.writestr("a/1.png", b"not a png")
        zf.writestr("b/1.png", b"not a png either")
    with pytest.raises(gr.Error) as e:
        train.train_start(data="zip", zip_file=str(broken), steps=20, **TINY)
    assert "none of the images in broken.zip could be read" in error_message(e)
    assert train.get_jobs().status().state == "idle"


def test_training_limits_scale_with_image_size_and_data_choices_reach_the_trainer():
    assert limits.max_train_steps(16, limits.MAX_BATCH_SIZE) == limits.MAX_TRAIN_STEPS
    assert limits.max_train_steps(64, limits.MAX_BATCH_SIZE) == limits.MAX_TRAIN_STEPS // 16
    args = TrainRequest(data="mnist", image_size=28, conditional=False).cli_args()
    assert args[args.index("--data") + 1] == "mnist" and "--no-conditional" in args


def test_stop_with_nothing_running_says_so():
    with pytest.raises(gr.Error) as e:
        train.train_stop()
    assert "nothing to stop" in error_message(e)


def test_cli_args_are_the_trainer_flags():
    args = TrainRequest(steps=20, base_channels=16, image_size=8, T=100).cli_args()
    flags = dict(zip(args[::2], args[1::2]))
    assert flags["--steps"] == "20" and flags["--base-channels"] == "16" and flags["--T"] == "100"
    assert flags["--image-size"] == "8" and flags["--data"] == "digits"


# ------------------------------------------------------------------------------- training (child process)
def test_tiny_training_run_on_an_uploaded_zip_finishes_and_is_listed(tmp_path):
    upload = _zip_of_class_folders(tmp_path / "upload.zip")
    v = train.train_start(data="zip", zip_file=str(upload), steps=20, **TINY)
    status_md, st = v.status, v.json
    assert st["state"] in ("starting", "running") and st["run_id"] in status_md
    jobs = train.get_jobs()
    run_dir = Path(jobs.status().run_dir)
    final = jobs.wait(timeout=300)
    assert final.state == "finished", (final.message, (run_dir / "train.log").read_text())
    assert final.step == 20 and (run_dir / "model.safetensors").exists()
    assert not (run_dir / "data.zip").exists()            # the uploaded data is not kept after use
    names = [e.name for e in checkpoints.list_checkpoints()]
    assert names == ["bundled", final.run_id]
    # the new checkpoint is usable at once from the other tabs, with the zip's class names
    assert common.class_names(final.run_id) == ["a", "b"]
    info = sample.sample(final.run_id, None, ["b"], 1.0, "DDIM", 3, 0.0, 1.0, 1.0, 0, 2).info
    assert f"{final.run_id} (step 20" in info
    v = train.train_status()
    assert v.json["state"] == "finished" and "100%" in v.progress and len(v.plot.data) >= 1 and v.sample
    # the timer's poll changes its listing signature only when the list changed; each dropdown follows it
    out = train.train_poll(None, None)
    assert out.json["state"] == "finished" and final.run_id in out.listing_sig
    from demo import picker
    assert picker.refresh("bundled", None)["choices"][-1][1] == final.run_id
    again = train.train_poll(out.listing_sig, out.status_sig)
    assert again.listing_sig == out.listing_sig
    assert all(getattr(again, f) == gr.skip() for f in ("status", "progress", "plot", "sample", "json", "resumable"))


def test_second_start_is_refused_and_stop_keeps_the_checkpoint():
    train.train_start(data="digits", zip_file=None, steps=5000, **TINY)
    with pytest.raises(gr.Error) as e:
        train.train_start(data="digits", zip_file=None, steps=20, **TINY)
    msg = error_message(e)
    assert "only one training job runs at a time" in msg and "Wait for it to finish or stop it" in msg
    jobs = train.get_jobs()
    deadline = time.monotonic() + 240
    while jobs.status().step < 2 and time.monotonic() < deadline:   # let it take a few steps first
        assert jobs.status().state in ("starting", "running"), jobs.status().message
        time.sleep(0.3)
    st = train.train_stop().json
    assert st["state"] == "stopping"
    final = jobs.wait(timeout=240)
    assert final.state == "stopped", final.message
    assert 2 <= final.step < 5000
    assert final.checkpoint and Path(final.checkpoint).exists()
    assert final.run_id in [e.name for e in checkpoints.list_checkpoints()]
    sample.sample(final.run_id, None, [], 1.0, "DDIM", 2, 0.0, 1.0, 1.0, 0, 1)   # and it samples


def test_a_crashing_training_run_is_reported_and_the_app_goes_on(monkeypatch):
    # bad data is refused before a run starts (test_bad_zip_uploads_are_refused_before_training); a trainer that
    # fails anyway (here: an option it refuses, slipped past the handler) is reported and the app goes on
    cli_args = TrainRequest.cli_args
    monkeypatch.setattr(TrainRequest, "cli_args", lambda self: cli_args(self) + ["--lr", "5"])
    train.train_start(data="digits", zip_file=None, steps=20, **TINY)
    final = train.get_jobs().wait(timeout=240)
    assert final.state == "failed" and "lr must be in (0, 1)" in str(final.message)
    v = train.train_status()
    assert "The last run failed" in v.status and v.json["state"] == "failed"
    with i18n.use("zh"):
        assert "训练失败：" in train.train_status().status
    # an error that carries a Message (error.json beside train.log) reaches the page in its language, without the
    # run's server path
    monkeypatch.setattr(TrainRequest, "cli_args", lambda self: cli_args(self) + ["--data", "nowhere/data.zip"])
    train.train_start(data="digits", zip_file=None, steps=20, **TINY)
    final = train.get_jobs().wait(timeout=240)
    assert final.state == "failed" and final.message.values["reason"].key == "data.path_missing"
    with i18n.use("zh"):
        status = train.train_status().status
    assert "训练失败：数据集路径 'nowhere/data.zip' 不存在" in status and final.run_dir not in status
    assert final.run_id not in [e.name for e in checkpoints.list_checkpoints()]
    monkeypatch.setattr(TrainRequest, "cli_args", cli_args)     # (not undo(): that would drop app_env's settings)
    train.train_start(data="digits", zip_file=None, steps=1, **TINY)   # a new run may start at once
    assert train.get_jobs().wait(timeout=240).state == "finished"


def test_learned_variance_reaches_the_trainer_and_the_sample_tab_says_it():
    # Improved DDPM's --learn-sigma from the Train tab's checkbox (TrainRequest derives the flag from TrainConfig)
    args = TrainRequest(learn_sigma=True).cli_args()
    assert "--learn-sigma" in args and "--no-learn-sigma" in TrainRequest().cli_args()
    train.train_start(data="digits", zip_file=None, steps=2, learn_sigma=True, **TINY)
    final = train.get_jobs().wait(timeout=240)
    assert final.state == "finished", final.message
    ck = ddpm.load_checkpoint(final.checkpoint)
    assert ck.unet_config.learn_sigma and ck.sampling_defaults.variance == "learned_range"
    info = sample.sample(final.run_id, None, ["1"], 1.0, "DDPM", 5, 0.0, 1.0, 1.0, 0, 2).info
    assert f"DDPM, all {T} steps (learned_range variance)" in info


def test_network_dropout_and_flips_reach_the_trainer():
    """The Train tab's regularisation (network dropout, random left-right flips): flags of the child process, and
    the finished checkpoint records them in its training config."""
    args = TrainRequest(dropout=0.1, hflip=True).cli_args()
    assert args[args.index("--dropout") + 1] == "0.1" and "--hflip" in args
    assert "--no-hflip" in TrainRequest().cli_args()
    train.train_start(data="digits", zip_file=None, steps=2, dropout=0.1, hflip=True, **TINY)
    final = train.get_jobs().wait(timeout=240)
    assert final.state == "finished", final.message
    recorded = ddpm.checkpoint.read_metadata(final.checkpoint)["train"]
    assert recorded["dropout"] == 0.1 and recorded["hflip"] is True


def test_a_restarted_app_sees_the_last_run(tmp_path):
    run = tmp_path / "runs" / "20990101-000000-abcd"
    run.mkdir(parents=True)
    (run / "job.json").write_text(json.dumps({"run_id": run.name, "started_at": time.time(), "pid": 999999,
                                              "request": {"steps": 10}}))
    (run / "progress.json").write_text(json.dumps({"state": "running", "step": 4, "total": 10}))
    st = TrainingJobs(tmp_path / "runs").status()
    assert st.run_id == run.name and st.state == "failed" and st.step == 4
    assert "ended without finishing" in str(st.message)


# ------------------------------------------------------------------------------------------- diagnostics
def test_diagnose_rejects_bad_mode_and_bad_upload(tmp_path):
    with pytest.raises(gr.Error) as e:
        diagnose.diagnose("bundled", None, "thorough", 0)
    assert "mode must be 'quick' or 'full'" in error_message(e)
    pickle = tmp_path / "evil.pth"
    torch.save({"x": 1}, pickle)
    with pytest.raises(gr.Error) as e:
        diagnose.diagnose("bundled", str(pickle), "quick", 0)
    assert "pickle" in error_message(e)


def test_diagnose_quick_report_reads_in_the_page():
    """Guidance and η from the tab's sampling accordion reach the report's samples and its run line."""
    v = diagnose.diagnose("bundled", None, "quick", 0, None, False, 1.5, 0.5)
    summary, frame, files = v.summary, v.report, v.files
    assert summary.startswith("# Diagnostics") and "| Check | Verdict |" in summary
    assert "DDIM η=0.5, classifier-free guidance w=1.5, 20 steps" in summary
    assert frame.startswith("<iframe") and "srcdoc=" in frame
    html_path, json_path = files
    assert html_path.endswith(".html") and json_path.endswith(".json")
    report = json.loads(Path(json_path).read_text())
    assert "checks" in report and report["settings"]["eta"] == 0.5 and report["settings"]["guidance_scale"] == 1.5


def test_diagnose_refuses_eta_in_full_mode_and_bad_guidance():
    with pytest.raises(gr.Error) as e:
        diagnose.diagnose("bundled", None, "full", 0, None, False, 1.0, 0.5)
    assert "η is DDIM's" in error_message(e) and "quick" in error_message(e)
    with pytest.raises(gr.Error) as e:
        diagnose.diagnose("bundled", None, "quick", 0, None, False, 99.0, 0.0)
    assert "guidance" in error_message(e).lower()


def test_report_budget_counts_guidance_twice():
    from diagnostics.checks.runner import mode_settings
    s = mode_settings(True, 100)
    plain, guided = diagnose.report_passes(s, 1.0, 10)[0], diagnose.report_passes(s, 2.0, 10)[0]
    assert guided.batch_factor == 2 * plain.batch_factor
    assert diagnose.report_passes(s, 2.0, 0)[0].batch_factor == plain.batch_factor     # nothing to guide


def test_quick_quality_measurement_is_cached_by_file_hash(monkeypatch, tmp_path, write_tiny_checkpoint):
    monkeypatch.setattr(limits, "QUICK_QUALITY_STEPS", (2, 4))
    with pytest.raises(gr.Error, match="16×16"):              # the 8×8 model: refused as the report refuses it
        compare.measure_quality("bundled", None)
    # 16×16, the feature network's size (the shipped features are for 16×16 digits)
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(write_tiny_checkpoint(tmp_path / "m16.safetensors",
                                                                               image_size=16)))
    fig, note = plot_and_note(compare.measure_quality("bundled", None))
    assert "quick measurement on this file" in note
    names = {tr.name for tr in fig.data}
    assert names == {"DDIM η=0", "DDIM η=1", "DDPM (fixed_small)"}      # T = 100: DDPM joins the quick set
    t0 = time.perf_counter()
    fig2, note2 = plot_and_note(compare.quality_plot("bundled", None))                 # from the cache, no sampling
    assert time.perf_counter() - t0 < 2 and note2 == note and len(fig2.data) == 3


# ------------------------------------------------------------------------------- samplers side by side
def test_compare_samplers_from_the_same_x_T(tmp_path, monkeypatch, randomize_unet, cpu_kind):
    # auto samples in fp32 on either kind of CPU, so the handler's differences are the fp32 ones recomputed below
    # a model whose output is not zero (the tiny stand-in predicts ε̂ = 0, where the solvers agree exactly)
    from ddpm import DiffusionConfig, UNet, preset_config, save_checkpoint
    model = randomize_unet(UNet(preset_config("tiny", image_size=8, base_channels=16, num_classes=10)))
    path = tmp_path / "random.safetensors"
    save_checkpoint(path, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=T),
                    class_names=[str(i) for i in range(10)], step=0,
                    data={"name": "digits", "source": "digits", "image_size": 8, "channels": 1})
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(path))
    v = compare.compare_samplers("bundled", None, [], 1.0, ["DDPM", "DDIM", "DPM-Solver++", "UniPC"], 6, 2, 3)
    assert v.table["headers"] == ["sampler", "network calls", "seconds", "RMS difference"]
    assert [row[0] for row in v.table["data"]] == ["DDPM", "DDIM", "DPM-Solver++", "UniPC"]
    assert [row[1] for row in v.table["data"]] == [T, 6, 6, 6]             # network calls; DDPM runs all T
    assert all(row[2] > 0 for row in v.table["data"]) and v.table["data"][0][3] == 0.0      # DDPM is the reference
    assert all(row[3] > 0 for row in v.table["data"][1:]) and "**DDPM**" in v.samplers_info
    assert len(v.gallery) == 4 and "UniPC · 6 network calls" in v.gallery[3][1]
    # the differences are those of images from one x_T: recomputed here through generate()
    from ddpm import generate, load_checkpoint
    ck = load_checkpoint(os.environ["DDPM_WORKBENCH_CHECKPOINT"])
    kw = dict(n=3, labels=list(range(ck.num_classes)), seed=2)
    ddpm = generate(ck.model, ck.diffusion, sampler="ddpm", **kw).images
    unipc = generate(ck.model, ck.diffusion, sampler="unipc", steps=6, **kw).images
    assert v.table["data"][3][3] == pytest.approx(round(float((unipc - ddpm).pow(2).mean().sqrt()), 4), abs=2e-4)
    two = compare.compare_samplers("bundled", None, [], 1.0, ["UniPC", "DPM-Solver++"], 6, 2, 3)
    assert two.table["data"][0][3] == 0.0 and "**UniPC**" in two.samplers_info      # without DDPM: the first picked
    assert two.table["data"][1][3] > 1e-3                                           # the corrector changes the images
    from demo import i18n
    with i18n.use("zh"):                     # the table's headers in the page's language, the numbers the same
        zh = compare.compare_samplers("bundled", None, [], 1.0, ["UniPC", "DPM-Solver++"], 6, 2, 3)
    assert zh.table["headers"] == ["采样器", "网络调用次数", "秒", "均方根差异"]
    assert [r[:2] + r[3:] for r in zh.table["data"]] == [r[:2] + r[3:] for r in two.table["data"]]


def test_compare_samplers_refuses_bad_choices():
    cases = [(dict(samplers=["UniPC"]), "pick at least two samplers"),
             (dict(samplers=["UniPC", "Euler"]), "unknown sampler 'Euler'; choose from DDPM, DDIM, DPM-Solver++, UniPC,"),
             (dict(calls=T + 1), f"more than this model's T = {T}"),
             (dict(calls=T), f"steps must be an integer in [1, T−1={T - 1}]"),   # the solvers' linspace
             (dict(n=limits.MAX_COMPARE_IMAGES + 1), f"at most {limits.MAX_COMPARE_IMAGES} here")]
    for kw, match in cases:
        args = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0,
                    samplers=["DDIM", "UniPC"], calls=4, seed=0, n=2)
        args.update(kw)
        with pytest.raises(gr.Error) as e:
            compare.compare_samplers(**args)
        assert match in error_message(e), (kw, error_message(e))


def test_sample_tab_runs_the_solvers():
    for label, name in (("DPM-Solver++", "dpmpp_2m"), ("UniPC", "unipc")):
        v = sample.sample("bundled", None, [], 1.0, label, 5, 0.0, 1.0, 1.0, 0, 2)
        assert f"{label}, 5 network calls" in v.info and "5 network calls per image" in v.info
        assert sample.sampler_name(label) == name
    for label, name in (("EDM Heun", "edm_heun"), ("Restart", "restart")):   # the stochastic few-step samplers
        v = sample.sample("bundled", None, [], 1.0, label, 9, 0.0, 1.0, 1.0, 0, 2)
        assert f"{label}, 9 network calls" in v.info and "9 network calls per image" in v.info
        assert sample.sampler_name(label) == name and "diffusers" not in v.info   # ours: no convention note


def test_compare_runs_the_stochastic_samplers_at_equal_calls():
    v = compare.compare_samplers("bundled", None, [], 1.0, ["DDIM", "EDM Heun", "Restart", "SDE-DPM-Solver++"], 8, 1, 2)
    assert [row[1] for row in v.table["data"]] == [8, 8, 8, 8]            # the exact calls each sampler states
