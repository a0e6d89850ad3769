"""A report on a foreign model (a diffusers pipeline, which records no data set, step or training split) says only
what it knows: a split it assumes is said to be assumed, a feature network trained on the reference is named by what
it was trained on and its hash, the model line says "unknown" where the file is silent and names diffusers' linear
betas "linear", two-sided findings read as two-sided, and the errors name the real cause and a command that exists."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import torch

from ddpm import load_checkpoint
from ddpm.data import load_dataset
from ddpm.messages import Message, render
from diagnostics.checks.images import SIDE_MIN_SHARE, beyond_real_tail, check_diversity, check_smoothness
from diagnostics.checks.model import schedule_name
from diagnostics.checks.runner import _likelihood, mode_settings, split_real_data
from diagnostics.render import model_line
from diagnostics.thresholds import DEFAULT_THRESHOLDS as TH


def _key(text) -> str:
    return text.key if isinstance(text, Message) else ""


def _keys(texts) -> list[str]:
    return [_key(t) for t in texts]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    from tests.diffusers_fixtures import train_pipeline
    folder = tmp_path_factory.mktemp("foreign") / "pipe"
    train_pipeline(folder, steps=3)                        # 8×8 grey, no data record: what a Hub model brings
    return folder


@pytest.fixture(scope="module")
def reference_net(tmp_path_factory):
    """A feature network trained on the 'digits' reference at the pipeline's 8×8 (the shipped one takes 16×16)."""
    from diagnostics import reference
    old = os.environ.get("DDPM_WORKBENCH_CACHE")
    os.environ["DDPM_WORKBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        ds = load_dataset("digits", image_size=8, channels=1)
        net, why = reference.reference_feature_net(ds, train=True, steps=30)
    finally:
        if old is None:
            os.environ.pop("DDPM_WORKBENCH_CACHE")
        else:
            os.environ["DDPM_WORKBENCH_CACHE"] = old
    assert net is not None, why
    return net, ds


@pytest.fixture(scope="module")
def foreign_report(pipeline, reference_net, tmp_path_factory):
    from diagnostics import run_report
    return run_report(pipeline, tmp_path_factory.mktemp("report"), quick=True, n=16, seed=0, reference="digits",
                      feature_net=reference_net[0]).report


# ------------------------------------------------------------------------------------ 2b.1 the assumed split
@pytest.mark.parametrize("key", ["memorisation", "generalisation"])
def test_checks_on_an_assumed_split_say_it_is_assumed(foreign_report, key):
    r = foreign_report.check(key)
    assert r.verdict != "skip", r.summary
    assert _key(r.summary) == "split.assumed_summary" and r.numbers["split_assumed"] is True
    assert "Assumed, not recorded" in render(r.summary, "en") and "这是假设" in render(r.summary, "zh")
    assert "split.assumed" in _keys(r.notes)
    note = render(r.notes[_keys(r.notes).index("split.assumed")], "en")
    assert "digits" in note and "80%" in note and "20%" in note


def test_a_recorded_split_is_not_called_an_assumption():
    ds = load_dataset("digits", image_size=8, channels=1)
    recorded = split_real_data(ds, {"name": "digits", "holdout": 0.2, "split_seed": 0, "num_images": 1438})
    assumed = split_real_data(ds, {"name": "digits", "holdout": 0.2, "split_seed": 0, "reference": True})
    assert not recorded.assumed and "split.assumed" not in _keys(recorded.notes)
    assert assumed.assumed and _keys(assumed.notes) == ["split.assumed"]
    from diagnostics.checks.result import CheckResult
    plain = recorded.said(CheckResult("memorisation", "m", "ok", Message("memorisation.fix")))
    assert _key(plain.summary) == "memorisation.fix"
    said = assumed.said(CheckResult("memorisation", "m", "ok", Message("memorisation.fix")))
    assert _key(said.summary) == "split.assumed_summary"


# ---------------------------------------------------------------------------- 2b.2 the feature network's name
def test_a_feature_net_trained_on_the_reference_is_named_by_it_and_its_hash(reference_net, foreign_report):
    from diagnostics.features import default_feature_net, load_feature_net
    from diagnostics.reference import reference_hash
    net, ds = reference_net
    shipped = load_feature_net(default_feature_net("digits"))
    assert net.name != shipped.name and net.dataset == shipped.dataset == "digits"
    assert net.name == f"digits-1x8-ref-{reference_hash(ds)[:8]}-cnn-64"
    assert load_feature_net(net.path).name == net.name                     # the file keeps its name
    q = foreign_report.check("sample_quality")
    assert q.verdict != "skip", q.summary
    head = render(q.summary, "en")
    assert f"features {net.name} sha256 {net.sha256}…" in head, head


def test_sample_quality_calls_the_reference_cut_an_assumed_training_split(foreign_report):
    q = foreign_report.check("sample_quality")
    head = render(q.summary, "en")
    assert "vs the digits reference cut (its assumed training split)" in head and "training split," not in head
    floor = next(n for n in q.notes if _key(n) == "quality.floor_note")
    assert _key(floor.values["seen"]) == "quality.floor_assumed"
    assert "whether it saw the held-out images is not known" in render(floor, "en")


# ------------------------------------------------------------------------------------------ 2b.3 the model line
def test_the_model_line_says_what_the_file_says_and_unknown_elsewhere(foreign_report):
    m = foreign_report.model
    assert m["step"] is None and m["data_set"] is None and m["reference"] == "digits"
    assert m["schedule"] == "linear"
    line = model_line(foreign_report, "en")
    assert line.startswith("Model: diffusers UNet2DModel (block_out_channels 16, 32), "), line
    assert "step unknown" in line and "linear schedule" in line and "custom" not in line
    assert "data unknown (the file records none; the checks used the reference set digits)" in line
    zh = model_line(foreign_report, "zh")
    assert "第 未知 步" in zh and "数据 未知" in zh and "linear 噪声调度" in zh
    assert foreign_report.check("schedule").numbers["schedule"] == "linear"


def test_the_model_line_survives_report_json(foreign_report, tmp_path):
    from diagnostics.report import load_report, write_report
    files = write_report(foreign_report, tmp_path)
    assert model_line(load_report(files.json_path), "zh") == model_line(foreign_report, "zh")


@pytest.mark.parametrize("config, expected", [
    (dict(beta_schedule="linear"), "linear"),                           # diffusers' default = Ho et al.'s
    (dict(beta_schedule="scaled_linear", beta_start=1e-4, beta_end=0.02), "quadratic"),
    (dict(beta_schedule="linear", beta_end=0.021), "diffusers linear (β 0.0001…0.021)"),
    (dict(beta_schedule="squaredcos_cap_v2"), "diffusers squaredcos_cap_v2"),
    (dict(beta_schedule="linear", num_train_timesteps=500), "diffusers linear (β 0.0001…0.02)"),   # ours rescales
])
def test_diffusers_betas_are_named_by_comparing_them_with_ours(config, expected):
    from diffusers import DDPMScheduler
    from ddpm.diffusion import DiffusionConfig
    sched = DDPMScheduler(**config)
    dcfg = DiffusionConfig(schedule="custom", betas=tuple(sched.betas.double().tolist()))   # diffusers' own betas
    assert schedule_name(dcfg, dict(sched.config)) == expected


def test_a_schedule_a_tenth_of_a_percent_off_is_not_ours():
    from ddpm.diffusion import DiffusionConfig
    from ddpm.schedules import linear_betas
    off = linear_betas(1000) * 1.001
    assert schedule_name(DiffusionConfig(schedule="custom", betas=tuple(off.tolist()))) == "custom"
    assert schedule_name(DiffusionConfig(schedule="custom", betas=tuple(linear_betas(1000).tolist()))) == "linear"


# ---------------------------------------------------------------------------------- 2b.4 two-sided findings
def _real(n: int = 400) -> torch.Tensor:  # (n, 1, 8, 8) digits in [-1, 1]
    return load_dataset("digits", image_size=8, channels=1).images[:n]


def test_samples_both_smoother_and_noisier_read_as_both():
    real = _real()
    smooth = torch.full((32, 1, 8, 8), -1.0)                                  # no edges at all
    i = torch.arange(8)
    noisy = ((i[:, None] // 2 + i[None, :] // 2) % 2 * 2.0 - 1.0).expand(32, 1, 8, 8)   # 2×2 checks: edges everywhere
    r = check_smoothness(torch.cat([smooth, noisy]), real)
    assert r.verdict == "warn" and _key(r.summary) == "smooth.both" and r.numbers["both_sides"] is True
    assert r.numbers["frac_smoother_than_real_p1"] == r.numbers["frac_noisier_than_real_p99"] == 0.5
    text = render(r.summary, "en")
    assert "both smoother and noisier" in text and "50% are smoother than 99% of real images and 50% noisier" in text
    one_sided = check_smoothness(torch.cat([smooth, real[32:64]]), real)       # blurred ones and real ones
    assert _key(one_sided.summary) == "smooth.blurred" and one_sided.numbers["both_sides"] is False


def test_a_tail_counts_from_five_percent_and_three_binomial_sigmas():
    # n = 64, p = 0.01: n·p + 3·√(n·p·(1−p)) = 0.64 + 3·0.796 = 3.03 samples, so 4 of 64 count and 3 do not
    assert beyond_real_tail(4 / 64, 64) and not beyond_real_tail(3 / 64, 64)
    # n = 1000: 10 + 3·3.15 = 19.4 samples, but the 5% floor (50) decides
    assert not beyond_real_tail(0.049, 1000) and beyond_real_tail(SIDE_MIN_SHARE, 1000)


def test_diversity_warns_at_twice_the_pixel_spread_even_when_pairwise_distance_is_in_range():
    g = torch.Generator().manual_seed(0)
    mask = (torch.arange(64) % 2).view(1, 1, 8, 8).float()                      # half the pixels vary in the data
    real = 0.5 * torch.randn((300, 1, 8, 8), generator=g) * mask
    generated = 0.45 * torch.randn((300, 1, 8, 8), generator=g)                 # every pixel varies
    r = check_diversity(generated, real)
    # std ratio ≈ 0.45 / (0.5 / 2) = 1.8; pairwise ratio ≈ 0.45·√2 / 0.5 = 1.27, under the 1.5 line
    assert r.numbers["pairwise_ratio"] < 1.5 < r.numbers["pixel_std_ratio"]
    assert r.verdict == "warn" and _key(r.summary) == "diversity.more"
    std_ratio = generated.double().std(0).mean() / real.double().std(0).mean()  # mean per-pixel std, in float64
    assert r.numbers["pixel_std_ratio"] == pytest.approx(float(std_ratio), rel=1e-6)
    assert f"pixel std {float(std_ratio):.2f}×" in render(r.summary, "en")


# ------------------------------------------------------------------------------------ 2b.5 the likelihood skip
def test_likelihood_off_in_a_full_run_does_not_blame_quick_mode(pipeline):
    ck = load_checkpoint(pipeline)
    T = ck.diffusion.T
    full_off = _likelihood(ck.model, ck.diffusion, None, mode_settings(False, T, n=4, likelihood=False), 0, None, TH)
    quick = _likelihood(ck.model, ck.diffusion, None, mode_settings(True, T, n=4), 0, None, TH)
    assert full_off.verdict == quick.verdict == "skip"
    assert _key(full_off.summary) == "likelihood.off" and "quick" not in render(full_off.summary, "en")
    assert _key(quick.summary) == "likelihood.quick"


# ------------------------------------------------------------------------------- 2b.6 the Compare tab's refusal
def test_a_sweep_on_a_model_without_data_names_that_cause(pipeline):
    from diagnostics.sweep import QualitySweep, SweepRefused
    ck = load_checkpoint(pipeline)
    with pytest.raises(SweepRefused) as e:
        QualitySweep(ck, n=4)
    assert e.value.message.key == "sweep.no_data_record"
    text = str(e.value)
    assert "records no data set" in text and "16" not in text and "--reference" in text


# ------------------------------------------------------------------------------------- 2b.7 the Hub command
def test_the_offline_hub_message_advises_a_command_the_installed_hub_ships(monkeypatch, tmp_path):
    from ddpm import CheckpointError
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint("google/ddpm-cifar10-32")
    text = str(e.value)
    assert "huggingface-cli" not in text
    command = text[text.index("`hf download") + 1:]
    command = command[:command.index("`")]
    assert command == "hf download google/ddpm-cifar10-32 --include '*.json' --include '*.safetensors' --local-dir DIR"
    import sys
    hf = shutil.which("hf", path=os.path.dirname(sys.executable)) or shutil.which("hf")
    assert hf, "huggingface_hub's `hf` command is not installed"
    help_text = subprocess.run([hf, "download", "--help"], capture_output=True, text=True, timeout=60,
                               env={**os.environ, "NO_COLOR": "1"}).stdout
    assert "--include" in help_text and "--local-dir" in help_text


# ------------------------------------------------------------------ 2b.1 asking which images it was trained on
def test_told_the_model_saw_every_reference_image_there_is_no_held_out_baseline(pipeline):
    from diagnostics.checks.generalisation import generalisation_on_splits
    from diagnostics.checks.runner import SampleBatch, _memorisation
    ds = load_dataset("digits", image_size=8, channels=1)
    splits = split_real_data(ds, {"name": "digits", "holdout": 0.2, "split_seed": 0, "reference": True,
                                  "trained_on": "all"})
    assert splits.heldout_seen and not splits.assumed and _keys(splits.notes) == ["split.reference_all"]
    ck = load_checkpoint(pipeline)
    g = generalisation_on_splits(ck.model, ck.diffusion, splits, n=4)
    assert g.verdict == "skip" and _key(g.summary) == "split.reference_all_skip"
    m = _memorisation(SampleBatch(ds.images[:20], None, None, "ddim", 1, 0.0), splits, None, TH)
    assert m.verdict != "skip" and m.numbers["heldout_seen"] is True and m.numbers["n_training"] == len(ds)
    assert _key(m.summary) != "split.assumed_summary"          # told, not assumed


def test_told_the_model_saw_none_of_them_nothing_looks_for_training_images(pipeline, reference_net, tmp_path):
    from diagnostics import run_report
    report = run_report(pipeline, tmp_path, quick=True, n=16, seed=0, reference="digits",
                        feature_net=reference_net[0], reference_trained="none").report
    for key in ("memorisation", "generalisation"):
        assert report.check(key).verdict == "skip" and _key(report.check(key).summary) == "split.reference_none_skip"
    q = report.check("sample_quality")
    assert q.verdict != "skip" and "split.reference_none" in _keys(q.notes) and "split.assumed" not in _keys(q.notes)
    assert "reference cut (images the model never saw)" in render(q.summary, "en")
    assert report.settings["reference_trained"] == "none"


def test_reference_trained_is_checked_before_any_work_and_reachable_from_the_cli(pipeline, tmp_path):
    from ddpm.messages import MessageError
    from diagnostics import run_report
    from diagnostics.__main__ import _parser
    with pytest.raises(MessageError) as e:
        run_report(pipeline, tmp_path, quick=True, n=4, reference="digits", reference_trained="some")
    assert e.value.message.key == "settings.bad_reference_trained" and not any(tmp_path.iterdir())
    args = _parser().parse_args(["report", str(pipeline), "--out", str(tmp_path), "--reference", "digits",
                                 "--reference-trained", "all"])
    assert args.reference_trained == "all"
    assert _parser().parse_args(["report", str(pipeline), "--out", str(tmp_path)]).reference_trained == "unknown"


# -------------------------------------------------------------------------------------------- in 中文 as well
def test_the_foreign_report_in_chinese_has_no_english_sentence_and_the_same_numbers(foreign_report, tmp_path):
    from diagnostics.report import to_markdown, write_report
    from tests.test_report_i18n import NUMBERS, latin_sentences
    files = write_report(foreign_report, tmp_path, lang="zh")
    md, page = files.md_path.read_text(encoding="utf-8"), files.html_path.read_text(encoding="utf-8")
    assert latin_sentences(md) == [] and latin_sentences(page) == []
    assert NUMBERS(to_markdown(foreign_report, "en")) == NUMBERS(md)
    assert "这是假设" in md


@pytest.mark.parametrize("m", [
    Message("smooth.both", dict(ratio=0.84, gen=1.2, ref=1.43, blurred=0.15, noisy=0.12)),
    Message("smooth.both_fix"),
    Message("split.assumed", dict(name="mnist", fraction=0.2, train=0.8, seed=0)),
    Message("split.assumed_summary", dict(summary=Message("memorisation.fix"), fraction=0.2, train=0.8)),
    Message("split.reference_all", dict(name="mnist")),
    Message("split.reference_none", dict(name="mnist", fraction=0.2, train=0.8)),
    Message("split.reference_all_skip"), Message("split.reference_none_skip"),
    Message("likelihood.off"), Message("sweep.no_data_record"),
    Message("diversity.more", dict(pw=1.27, std=1.79)),
    Message("report.data_reference", dict(name="mnist")),
    Message("report.arch_diffusers", dict(cls="UNet2DModel", widths="16, 32")),
    Message("quality.reference_cut_assumed"), Message("quality.reference_cut_unseen"),
    Message("quality.reference_heldout_cut"), Message("quality.floor_assumed"),
], ids=lambda m: m.key)
def test_each_new_message_reads_in_chinese_with_the_english_numbers(m):
    from tests.test_report_i18n import CJK, NUMBERS, latin_sentences
    en, zh = render(m, "en"), render(m, "zh")
    assert CJK.search(zh) or m.key == "report.arch_diffusers", zh
    assert latin_sentences(zh) == [], zh
    assert NUMBERS(en) == NUMBERS(zh), (en, zh)
