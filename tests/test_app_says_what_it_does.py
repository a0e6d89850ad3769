"""The app says what it does after an upload (issue 27, 5): the checkpoint dropdown names the upload in use, a
quality measurement on a model that records no data set takes a reference (or says what to give), and a training
request states its expected duration before it starts (refused, with what to change, over the limit).

The estimate's arithmetic is tested from given step timings; no assertion here depends on how fast this machine is.
"""
from __future__ import annotations

import math
from pathlib import Path

import gradio as gr
import pytest
import torch

from demo import checkpoints, common, i18n, limits, picker, train_estimate
from demo.tabs import compare, sample, train
from demo.train_estimate import StepTiming, TrainingEstimate


pytestmark = pytest.mark.usefixtures("restore_torch_threads", "app_env")


@pytest.fixture
def tiny_ckpt(app_tiny_ckpt) -> Path:
    return app_tiny_ckpt


@pytest.fixture
def uploaded(tmp_path, write_tiny_checkpoint) -> Path:
    """A checkpoint as a user uploads it (another file than the bundled one: 3 classes)."""
    return write_tiny_checkpoint(tmp_path / "my model.safetensors", num_classes=3, seed=1)


# ------------------------------------------------------------------------- 1. the dropdown names the upload
def test_an_upload_gains_and_selects_its_own_entry(uploaded):
    u = picker.upload_changed(str(uploaded), "bundled")
    assert u["value"] == checkpoints.UPLOAD
    assert u["choices"][0] == ("uploaded: my model.safetensors", checkpoints.UPLOAD)
    assert u["choices"][1:] == checkpoints.choices()             # the listed models stay offered below it
    with i18n.use("zh"):
        assert picker.upload_changed(str(uploaded), "bundled")["choices"][0][0] == "已上传：my model.safetensors"


def test_picking_a_listed_model_drops_the_upload(uploaded):
    dropdown, upload = picker.listed_picked("bundled", str(uploaded))
    assert upload is None and dropdown["choices"] == checkpoints.choices() and "value" not in dropdown
    # the upload's own entry picked again changes nothing
    assert picker.listed_picked(checkpoints.UPLOAD, str(uploaded)) == (gr.skip(), gr.skip())
    # the upload removed then: the entry goes, and the model the user picked stays picked
    after = picker.upload_changed(None, "bundled")
    assert "value" not in after and after["choices"] == checkpoints.choices()


def test_removing_the_upload_goes_back_to_the_default_model():
    u = picker.upload_changed(None, checkpoints.UPLOAD)
    assert u["value"] == checkpoints.default_name() and u["choices"] == checkpoints.choices()


def test_a_refreshed_list_keeps_the_upload_entry_while_the_file_is_there(uploaded):
    kept = picker.refresh(checkpoints.UPLOAD, str(uploaded))
    assert kept["choices"][0][1] == checkpoints.UPLOAD and "value" not in kept
    gone = picker.refresh(checkpoints.UPLOAD, None)
    assert gone["value"] == checkpoints.default_name() and all(v != checkpoints.UPLOAD for _, v in gone["choices"])


def test_the_handlers_use_the_upload_the_dropdown_names(uploaded):
    v = sample.sample(checkpoints.UPLOAD, str(uploaded), [], 1.0, "DDIM", 2, 0.0, 1.0, 1.0, 0, 3)
    assert "upload my model.safetensors" in v.info
    assert common.class_names(checkpoints.UPLOAD, str(uploaded)) == ["0", "1", "2"]      # the upload's 3 classes
    with pytest.raises(gr.Error) as e:                  # an API caller naming the entry without sending a file
        sample.sample(checkpoints.UPLOAD, None, [], 1.0, "DDIM", 2, 0.0, 1.0, 1.0, 0, 3)
    assert "none was sent" in str(e.value.message) and "pick a listed checkpoint" in str(e.value.message)


def _targets(demo: gr.Blocks, fn) -> list[tuple[int, str]]:
    return [tuple(t) for f in demo.fns.values() if getattr(f.fn, "__name__", "") == fn.__name__ for t in f.targets]


def test_every_tab_with_a_checkpoint_choice_shows_its_upload():
    """Sample, Compare and Diagnostics: an upload's change and a pick from the list each rewrite the dropdown, and
    the page poll's listing signature refreshes each list (keeping the upload's entry)."""
    from demo import layout
    demo = layout.build_demo()
    pickers = []
    for block in demo.blocks.values():
        if isinstance(block, gr.Dropdown) and str(block.elem_id).endswith("-checkpoint"):
            pickers.append(block._id)
    assert len(pickers) == 3
    uploads = {t[0] for t in _targets(demo, picker.upload_changed) if t[1] == "change"}
    picks = {t[0] for t in _targets(demo, picker.listed_picked) if t[1] == "input"}
    refreshes = [t for t in _targets(demo, picker.refresh) if t[1] == "change"]
    assert picks == set(pickers) and len(uploads) == 3 and len(refreshes) == 3
    assert all(isinstance(demo.blocks[b], gr.File) for b in uploads)
    # what follows the model (classes, T, guidance) runs after the dropdown names it, never on the stale pair
    for f in demo.fns.values():
        if getattr(f.fn, "__name__", "") in ("class_choices_update", "steps_update", "guidance_update"):
            assert f.trigger_after is not None, f.fn.__name__


# ------------------------------------------------------------------ 2. quality on a model with no data record
@pytest.fixture
def no_record(tmp_path, monkeypatch) -> Path:
    """A 16×16 grey model (the shipped digits feature network's size) that records no data set, as a diffusers
    model records none; T = 20 so that DDPM over all T steps joins the quick measurement cheaply."""
    from ddpm import DiffusionConfig, UNet, preset_config, save_checkpoint
    torch.manual_seed(0)
    model = UNet(preset_config("tiny", image_size=16, base_channels=16, num_classes=0))
    path = tmp_path / "no_record.safetensors"
    save_checkpoint(path, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=20), class_names=[],
                    step=0)
    monkeypatch.setattr(limits, "QUICK_QUALITY_STEPS", (2,))
    monkeypatch.setattr(limits, "QUICK_QUALITY_ETAS", (0.0,))
    return path


def test_quality_on_a_model_with_no_data_asks_for_a_reference(no_record):
    note = compare.quality_plot(None, str(no_record)).note
    assert "records no data set" in note and "Reference images" in note
    with pytest.raises(gr.Error) as e:
        compare.measure_quality(checkpoints.UPLOAD, str(no_record))
    assert "no real images to compare" in str(e.value.message) and "built-in set" in str(e.value.message)
    with i18n.use("zh"), pytest.raises(gr.Error) as e:
        compare.measure_quality(checkpoints.UPLOAD, str(no_record))
    assert "参照图像" in str(e.value.message)
    with pytest.raises(gr.Error) as e:
        compare.measure_quality(checkpoints.UPLOAD, str(no_record), "cifar10")
    assert "digits, mnist, emoji" in str(e.value.message)


def test_quality_on_a_model_with_no_data_measures_against_a_built_in_reference(no_record):
    v = compare.measure_quality(checkpoints.UPLOAD, str(no_record), "digits")
    assert "Measured against the reference set digits" in v.note
    assert {tr.name for tr in v.plot.data} == {"DDIM η=0", "DDPM (fixed_small)"}
    again = compare.quality_plot(None, str(no_record))                  # cached by the file's hash, with its reference
    assert again.note == v.note and len(again.plot.data) == 2


def test_a_reference_zip_the_shipped_features_do_not_fit_says_what_to_do(no_record, tmp_path, write_image_zip):
    zpath = write_image_zip(tmp_path / "mine.zip", per_class=6, size=16)
    with pytest.raises(gr.Error) as e:
        compare.measure_quality(checkpoints.UPLOAD, str(no_record), "", str(zpath), False)
    text = str(e.value.message)
    assert "no feature network for this reference set" in text and "train a feature network on them" in text
    assert str(tmp_path) not in text                                   # the upload's name, never its server path


# ---------------------------------------------------------------- 3. a training request states its duration
def test_the_estimate_is_the_line_through_two_timed_steps():
    # measured 0.1 s at 8 images and 0.25 s at 32: 0.15 / 24 = 0.00625 s per image, 0.1 − 8 × 0.00625 = 0.05 s fixed
    timing = StepTiming.from_steps({8: 0.1, 32: 0.25}, "fp32")
    assert timing.per_image_s == pytest.approx(0.00625, rel=1e-12)
    assert timing.overhead_s == pytest.approx(0.05, rel=1e-12)
    est = TrainingEstimate(20_000, 512, timing)
    assert est.seconds == pytest.approx(20_000 * (0.05 + 512 * 0.00625), rel=1e-12)      # 65,000 s
    one = StepTiming.from_steps({4: 0.2}, "bf16")          # one batch timed (a batch of 8 or less): proportional
    assert (one.overhead_s, one.per_image_s) == (0.0, 0.05)
    assert TrainingEstimate(100, 4, one).seconds == pytest.approx(20.0, rel=1e-12)


def test_what_fits_a_limit_is_the_most_that_fits():
    est = TrainingEstimate(20_000, 512, StepTiming(0.05, 0.00625, (8, 32), "fp32"))
    limit = 3 * 3600.0
    s, b = est.max_steps(limit), est.max_batch(limit)
    assert TrainingEstimate(s, 512, est.timing).seconds <= limit < TrainingEstimate(s + 1, 512, est.timing).seconds
    assert TrainingEstimate(20_000, b, est.timing).seconds <= limit < TrainingEstimate(20_000, b + 1, est.timing).seconds
    assert (s, b) == (3323, 78)          # 10,800 / 3.25 = 3,323.08; (10,800 / 20,000 − 0.05) / 0.00625 = 78.4


def test_the_real_measurement_times_the_request_network():
    cfg = train_estimate.network_config("emoji", "tiny", 16, 0, True, True)
    assert (cfg.in_channels, cfg.num_classes, cfg.learn_sigma, cfg.image_size) == (3, 10, True, 16)
    timing = train_estimate.measure_step(train_estimate.network_config("digits", "tiny", 8, 16, False, False),
                                         "off", 64)
    assert timing.batches == train_estimate.MEASURED_BATCHES and timing.precision == "fp32"
    assert math.isfinite(timing.per_image_s) and timing.per_image_s > 0 and timing.overhead_s >= 0


@pytest.fixture
def one_second_per_image(monkeypatch):
    """Every network's step timed at exactly 1 s per image, no fixed part."""
    monkeypatch.setattr(train_estimate, "measure_step", lambda cfg, amp="auto", batch_size=32:
                        StepTiming(0.0, 1.0, (8, 32), "fp32"))


TINY = dict(preset="tiny", image_size=8, base_channels=16, T=20, sample_every=0)


def test_the_train_tab_states_the_expected_duration(one_second_per_image):
    text = train.train_estimate_text("digits", "tiny", 20, 8, 8, 16, True, "auto", False)
    assert text.startswith("Expected duration: **about 2 min 40 s** on this machine (20 steps × 8 s per step")
    assert "over this app's limit" not in text
    with i18n.use("zh"):
        zh = train.train_estimate_text("digits", "tiny", 20, 8, 8, 16, True, "auto", False)
    assert zh.startswith("预计用时：在这台机器上**约 2 分 40 秒**")
    assert train.train_estimate_text("digits", "tiny", "many", 8, 8, 16, True, "auto", False) == ""   # Start says why


def test_a_run_over_the_limit_is_refused_before_it_starts(one_second_per_image, monkeypatch):
    monkeypatch.setenv("DDPM_WORKBENCH_MAX_TRAIN_HOURS", "0.01")          # 36 s; 20 steps × 8 images × 1 s = 160 s
    text = train.train_estimate_text("digits", "tiny", 20, 8, 8, 16, True, "auto", False)
    assert "over this app's limit of 0.01 h" in text and "at most 4 steps at batch 8" in text
    with pytest.raises(gr.Error) as e:
        train.train_start(data="digits", zip_file=None, steps=20, batch_size=8, **TINY)
    message = str(e.value.message)
    assert message.startswith("this run would take about 2 min 40 s on this machine, over this app's limit")
    assert "at most 4 steps at batch 8" in message and "the batch to at most 1 for 20 steps" in message
    assert train.get_jobs().status().state == "idle"                   # nothing started
    with pytest.raises(gr.Error) as e:                                  # not even a batch of one fits 40 steps
        train.train_start(data="digits", zip_file=None, steps=40, batch_size=8, **TINY)
    assert "the batch to" not in str(e.value.message) and "at most 4 steps" in str(e.value.message)


# --------------------------------------------------------- 4. the Sample tab starts from the recommended setting
def test_the_sample_widgets_follow_the_model_recommended_setting(uploaded, tmp_path, write_tiny_checkpoint):
    from ddpm.recommend import record_setting
    from ddpm.recommended import SamplingSetting
    plain = sample.recommended_update(checkpoints.UPLOAD, str(uploaded))      # records none: DDIM, 50 steps, η 0, w 1
    assert (plain.sampler["value"], plain.steps["value"], plain.eta["value"], plain.guidance["value"]) == \
        ("DDIM", 50, 0.0, 1.0)
    assert plain.sampler["info"].startswith("the model's recommended setting: ddim, 50 steps")
    record_setting(str(uploaded), SamplingSetting("unipc", 12, 0.0, 2.0))
    v = sample.recommended_update(checkpoints.UPLOAD, str(uploaded))
    assert (v.sampler["value"], v.steps["value"], v.guidance["value"], v.guidance["interactive"]) == \
        ("UniPC", 12, 2.0, True)
    assert v.steps["maximum"] == 100 and "the setting this file records" in v.sampler["info"]
    with i18n.use("zh"):
        assert sample.recommended_update(checkpoints.UPLOAD, str(uploaded)).sampler["info"].startswith("这个模型推荐的采样设置")
    # more steps than T: T; an unconditional model: guidance 1, off with the reason, whatever the file records
    uncond = write_tiny_checkpoint(tmp_path / "uncond.safetensors", num_classes=0, T=30)
    record_setting(str(uncond), SamplingSetting("ddim", 50, 0.5, 1.5))
    u = sample.recommended_update(None, str(uncond))
    assert (u.steps["value"], u.eta["value"], u.guidance["value"], u.guidance["interactive"]) == (30, 0.5, 1.0, False)
    # the sampler the doctor recommends on the bundled MNIST model at 10 calls is offered too
    record_setting(str(uploaded), SamplingSetting("dpmpp_2m_sde", 20, 0.0, 1.0))
    sde = sample.recommended_update(checkpoints.UPLOAD, str(uploaded))
    assert sde.sampler["value"] == "SDE-DPM-Solver++" and "dpmpp_2m_sde" in sde.sampler["info"]
    assert sde.steps["value"] == 20
    v = sample.sample(checkpoints.UPLOAD, str(uploaded), [], 1.0, "SDE-DPM-Solver++", 6, 0.0, 1.0, 1.0, 0, 2)
    assert "SDE-DPM-Solver++" in v.info and "6" in v.info


def test_an_unusable_recorded_setting_is_said_not_silently_replaced(tmp_path, write_tiny_checkpoint):
    """A file whose recorded setting is out of range: the widgets show the default, and the info says what is wrong
    with the record (the same message the CLI and the API refuse it with), in the page's language."""
    import json as _json

    from safetensors.torch import load_file, save_file

    from ddpm.checkpoint import atomic_write, read_metadata
    from ddpm.recommended import META_KEY
    path = write_tiny_checkpoint(tmp_path / "corrupt.safetensors")
    meta = read_metadata(path)
    meta[META_KEY] = {"sampler": "ddim", "steps": -3}
    tensors = load_file(str(path))
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"ddpm": _json.dumps(meta)}))
    v = sample.recommended_update(checkpoints.UPLOAD, str(path))
    assert (v.sampler["value"], v.steps["value"], v.eta["value"], v.guidance["value"]) == ("DDIM", 50, 0.0, 1.0)
    info = v.sampler["info"]
    assert info.startswith("this file records a sampling setting that cannot be used (") and "steps is -3" in info
    assert "showing the default instead: ddim, 50 steps" in info and "python -m ddpm.recommend" in info
    with i18n.use("zh"):
        assert sample.recommended_update(checkpoints.UPLOAD, str(path)).sampler["info"].startswith("这个文件记录的采样设置无法使用")
    v = sample.sample(checkpoints.UPLOAD, str(path), [], 1.0, "DDIM", 4, 0.0, 1.0, 1.0, 0, 2)     # Generate still works
    assert "4 network calls per image" in v.info


def test_the_first_view_samples_at_the_default_model_recommended_setting(monkeypatch, tmp_path, write_tiny_checkpoint):
    from ddpm.recommend import record_setting
    from ddpm.recommended import SamplingSetting
    path = write_tiny_checkpoint(tmp_path / "opening.safetensors")
    record_setting(str(path), SamplingSetting("ddim", 7, 1.0, 1.5))
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(path))
    s = sample.opening_setting()
    assert (s.sampler, s.steps, s.eta, s.guidance_scale) == ("ddim", 7, 1.0, 1.5)
    v = sample.sample_on_load()
    assert "DDIM, 7 steps, η = 1" in v.info and "7 network calls per image" in v.info
