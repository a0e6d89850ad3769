"""Guidance in a limited interval (Kynkäänniemi et al. 2024; ddpm.guidance.GuidanceInterval): classifier-free
guidance w only where the noise level s_t = σ_t/α_t = √(1/ᾱ_t − 1) lies in (s_lo, s_hi], the conditional model alone
(one pass, not two) everywhere else; checked against that equation in float64, end to end through generate(), the
recommended setting, the CLIs, the report and the app's handlers."""
import json
import math
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch

from ddpm import DiffusionConfig, GaussianDiffusion, GuidanceInterval, generate, load_checkpoint
from ddpm.messages import MessageError, render
from ddpm.recommend import main as recommend_main, record_setting
from ddpm.recommended import SamplingSetting, check_setting
from ddpm.guidance import as_guidance_interval
from ddpm.sampling import GuidedModel

T = 100


class _LabelNet(torch.nn.Module):
    """out = x·(1 + t/T) + (y + 1)·0.1: every output depends on the label (the null label included), and it records
    the batch size of each pass."""

    def __init__(self, num_classes=3):
        super().__init__()
        self.config = SimpleNamespace(num_classes=num_classes, has_null_class=True, learn_sigma=False)
        self.batches = []

    def forward(self, x, t, y=None):
        self.batches.append(len(x))
        return x * (1 + t.view(-1, 1, 1, 1).to(x.dtype) / T) + (y.view(-1, 1, 1, 1).to(x.dtype) + 1) * 0.1


def _diffusion():
    return GaussianDiffusion(DiffusionConfig(T=T), dtype=torch.float64)


def _s(d, t):
    return math.sqrt(1.0 / float(d.alphas_cumprod[t]) - 1.0)


def _expected(net, x, t, y, w, guided):
    cond = net(x, t, y)
    null = net(x, t, torch.full_like(y, net.config.num_classes))
    return null + w * (cond - null) if guided else cond


@pytest.mark.parametrize("t", [0, 10, 40, 70, 99])
def test_guidance_applies_only_inside_the_interval_as_the_equation_says(t):
    d, net = _diffusion(), _LabelNet()
    iv = GuidanceInterval(_s(d, 20), _s(d, 70))               # (s_20, s_70]: t = 21 … 70 guided
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(t))
    y, tt = torch.tensor([0, 2]), torch.full((2,), t)
    guided = 20 < t <= 70
    out = GuidedModel(net, d, y, 3.0, interval=iv)(x, tt)
    torch.testing.assert_close(out, _expected(net, x, tt, y, 3.0, guided), rtol=0, atol=1e-12)


def test_the_ends_follow_the_paper_open_below_closed_above():
    d = _diffusion()
    iv = GuidanceInterval(_s(d, 20), _s(d, 70))
    s = d.sqrt_recipm1_alphas_cumprod
    assert iv.contains(s[[20, 21, 70, 71]]).tolist() == [False, True, True, False]
    assert GuidanceInterval().contains(s).all()                  # (0, ∞]: every step of the schedule


def test_outside_the_interval_one_pass_runs_not_two():
    d, net = _diffusion(), _LabelNet()
    fn = GuidedModel(net, d, torch.tensor([0, 1, 2]), 2.0, interval=GuidanceInterval(_s(d, 50)))
    x = torch.zeros(3, 1, 4, 4, dtype=torch.float64)
    fn(x, torch.full((3,), 10))
    fn(x, torch.full((3,), 80))
    assert net.batches == [3, 6] and fn.calls == 2               # unguided: the labels' pass; guided: one doubled


def test_a_batch_across_an_end_mixes_both_rows_exactly():
    d, net = _diffusion(), _LabelNet()
    iv = GuidanceInterval(_s(d, 50))
    x = torch.randn(2, 1, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y, tt = torch.tensor([1, 1]), torch.tensor([10, 80])
    out = GuidedModel(net, d, y, 4.0, interval=iv)(x, tt)
    torch.testing.assert_close(out[0], _expected(net, x, tt, y, 4.0, False)[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(out[1], _expected(net, x, tt, y, 4.0, True)[1], rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, write_tiny_checkpoint, randomize_unet):
    path = write_tiny_checkpoint(tmp_path_factory.mktemp("gi") / "m.safetensors", num_classes=3)
    ck = load_checkpoint(path)
    randomize_unet(ck.model)
    return ck


def test_generate_with_every_level_or_none_equals_plain_guidance_and_plain_conditional(tiny):
    ck = tiny
    kw = dict(sampler="ddim", steps=8, eta=1.0, n=3, labels=[0, 1, 2], seed=5)
    guided = generate(ck.model, ck.diffusion, guidance_scale=3.0, **kw)
    everywhere = generate(ck.model, ck.diffusion, guidance_scale=3.0, guidance_interval=(0.0, None), **kw)
    nowhere = generate(ck.model, ck.diffusion, guidance_scale=3.0, guidance_interval=(1e9, None), **kw)
    conditional = generate(ck.model, ck.diffusion, guidance_scale=1.0, **kw)
    middle = generate(ck.model, ck.diffusion, guidance_scale=3.0, guidance_interval=(0.28, 5.42), **kw)
    assert torch.equal(everywhere.images, guided.images) and torch.equal(nowhere.images, conditional.images)
    assert not torch.equal(middle.images, guided.images) and not torch.equal(middle.images, conditional.images)
    assert middle.settings["guidance_interval"] == [0.28, 5.42] and guided.settings["guidance_interval"] is None
    assert everywhere.settings["guidance_interval"] == [0.0, None]        # recorded as given, ∞ as None (JSON)
    assert middle.network_calls == guided.network_calls == 8              # a doubled pass counts once


@pytest.mark.parametrize("value, key", [
    ((-0.1, 1.0), "sampling.guidance_interval"), ((2.0, 2.0), "sampling.guidance_interval"),
    ((3.0, 1.0), "sampling.guidance_interval"), ((float("nan"), 1.0), "sampling.guidance_interval"),
    ((math.inf, None), "sampling.guidance_interval"), ((True, 2.0), "sampling.guidance_interval"),
    ((1.0,), "sampling.guidance_interval_pair"), ("0.28 5.42", "sampling.guidance_interval_pair"),
    (5.0, "sampling.guidance_interval_pair")])
def test_a_bad_interval_is_refused_with_its_valid_range(tiny, value, key):
    with pytest.raises(MessageError) as e:
        generate(tiny.model, tiny.diffusion, steps=2, n=1, labels=[0], guidance_scale=2.0, guidance_interval=value)
    assert e.value.message.key == key
    assert "s = σ/α" in str(e.value) and "s = σ/α" in render(e.value.message, "zh")


# ------------------------------------------------------------------------------------- the recommended setting
def test_a_recorded_interval_round_trips_and_is_described_in_both_languages(tmp_path, write_tiny_checkpoint):
    path = write_tiny_checkpoint(tmp_path / "r.safetensors", num_classes=3)
    record_setting(str(path), SamplingSetting("ddim", 10, 1.0, 4.0, why="a test", guidance_interval=(0.28, 5.42)))
    rec = load_checkpoint(path).recommended
    assert rec.guidance_interval == (0.28, 5.42)
    assert rec.generate_kwargs()["guidance_interval"] == (0.28, 5.42)
    assert "guidance w = 4 on s ∈ (0.28, 5.42] only" in rec.describe()
    assert "引导强度 w = 4（仅在 s ∈ (0.28, 5.42] 时）" in rec.describe("zh")
    assert "guidance_interval" not in SamplingSetting().generate_kwargs()
    assert check_setting({"guidance_interval": [0.5, None]}).guidance_interval == (0.5, None)


@pytest.mark.parametrize("bad", [[1.0], [2.0, 1.0], ["a", "b"], {"lo": 1}, [-1, 2]])
def test_a_bad_recorded_interval_names_the_field(bad):
    with pytest.raises(MessageError) as e:
        check_setting({"guidance_interval": bad}, "m.safetensors")
    assert e.value.message.key == "recommended.bad" and e.value.message.values["field"] == "guidance_interval"


def test_an_unguidable_model_drops_a_recorded_interval(tmp_path, write_tiny_checkpoint):
    path = write_tiny_checkpoint(tmp_path / "u.safetensors", num_classes=0)
    record_setting(str(path), SamplingSetting("ddim", 20, 0.0, 2.0, guidance_interval=(0.28, 5.42)))
    rec = load_checkpoint(path).recommended
    assert (rec.guidance_scale, rec.guidance_interval) == (1.0, None)


def test_the_clis_record_and_sample_with_the_interval(tmp_path, write_tiny_checkpoint, capsys):
    from ddpm.sample import main as sample
    path = write_tiny_checkpoint(tmp_path / "c.safetensors", num_classes=3)
    assert recommend_main([str(path), "--sampler", "ddim", "--steps", "6", "--eta", "1", "--guidance-scale", "3",
                           "--guidance-interval", "0.28", "inf"]) == 0
    assert "guidance w = 3 on s ∈ (0.28, ∞] only" in capsys.readouterr().out

    def settings(*flags):
        out = tmp_path / "g.png"
        assert sample(["--ckpt", str(path), "--n", "2", "--labels", "1", "--out", str(out), *flags]) == 0
        return json.loads(str(np.load(out.with_suffix(".npz"))["settings"]))

    assert settings()["guidance_interval"] == [0.28, None]                 # the recorded one, with its w
    assert "guidance w = 3 on s ∈ (0.28, ∞] only" in capsys.readouterr().err
    assert settings("--guidance-scale", "2")["guidance_interval"] is None  # another w: every step unless asked
    s = settings("--guidance-scale", "2", "--guidance-interval", "1", "4")
    assert (s["guidance_scale"], s["guidance_interval"]) == (2.0, [1.0, 4.0])
    assert settings("--guidance-interval", "0", "inf")["guidance_interval"] == [0.0, None]   # every step, asked
    out = tmp_path / "bad.png"
    assert sample(["--ckpt", str(path), "--n", "1", "--labels", "1", "--guidance-scale", "2", "--out", str(out),
                   "--guidance-interval", "3", "1"]) == 2
    assert "the guidance interval needs 0 ≤ s_lo < s_hi" in capsys.readouterr().err and not out.exists()


# ------------------------------------------------------------------------------------------ the report
def test_the_report_samples_with_the_interval_and_says_so(tmp_path, write_tiny_checkpoint):
    from diagnostics import run_report
    from diagnostics.render import sampler_words
    path = write_tiny_checkpoint(tmp_path / "d.safetensors", num_classes=3, T=30)
    files = run_report(str(path), tmp_path / "rep", quick=True, n=6, steps=3, guidance_scale=3.0,
                       guidance_interval=(0.28, 5.42), likelihood=False)
    settings = json.loads(files.json_path.read_text(encoding="utf-8"))["settings"]
    assert settings["guidance_interval"] == [0.28, 5.42] and settings["guidance_scale"] == 3.0
    assert "classifier-free guidance w=3 on s ∈ (0.28, 5.42] only" in files.md_path.read_text(encoding="utf-8")
    assert "无分类器引导 w=3（仅在 s ∈ (0.28, 5.42] 时）" in sampler_words(settings, "zh")
    plain = run_report(str(path), tmp_path / "rep1", quick=True, n=3, steps=3, guidance_scale=1.0,
                       guidance_interval=(0.28, 5.42), likelihood=False)
    assert json.loads(plain.json_path.read_text(encoding="utf-8"))["settings"]["guidance_interval"] is None


def _record_intervals(monkeypatch, module) -> list:
    """The guidance_interval of every generate() call `module` makes, in order (the calls still run)."""
    seen, real_generate = [], module.generate

    def recording(*args, **kw):
        seen.append(kw.get("guidance_interval"))
        return real_generate(*args, **kw)
    monkeypatch.setattr(module, "generate", recording)
    return seen


# ------------------------------------------------------------------------------------------- the app
@pytest.mark.usefixtures("restore_torch_threads", "app_env")
def test_the_sample_tab_takes_the_interval_and_follows_a_recorded_one(tmp_path, write_tiny_checkpoint):
    from demo import checkpoints, i18n
    from demo.tabs import sample
    path = write_tiny_checkpoint(tmp_path / "a.safetensors", num_classes=3)
    run = dict(checkpoint=checkpoints.UPLOAD, upload=str(path), classes=[], guidance_scale=3.0, sampler="DDIM",
               steps=4, eta=1.0, temperature=1.0, noise_temperature=1.0, seed=0, n=3)
    v = sample.sample(**run, guidance_s_lo="0.28", guidance_s_hi="5.42")
    assert "guidance 3 on s ∈ (0.28, 5.42] only" in v.info
    npz = np.load(v.files[1])
    assert json.loads(str(npz["settings"]))["guidance_interval"] == [0.28, 5.42]
    assert "guidance 3 ·" in sample.sample(**run).info                                  # both empty: every step
    assert "on s ∈ (0.28, ∞]" in sample.sample(**run, guidance_s_lo=0.28, guidance_s_hi=None).info   # open end
    with i18n.use("zh"):
        assert "引导强度 3（仅在 s ∈ (0.28, 5.42] 时）" in sample.sample(**run, guidance_s_lo="0.28",
                                                                    guidance_s_hi="5.42").info
    for lo, hi, words in (("abc", "", "lower end s_lo must be a number"),
                          ("3", "1", "guidance interval needs 0 ≤ s_lo")):
        with pytest.raises(gr.Error) as e:
            sample.sample(**run, guidance_s_lo=lo, guidance_s_hi=hi)
        assert words in str(e.value.message)
    record_setting(str(path), SamplingSetting("ddim", 12, 1.0, 4.0, guidance_interval=(0.28, 5.42)))
    u = sample.recommended_update(checkpoints.UPLOAD, str(path))
    assert (u.guidance["value"], u.guidance_lo["value"], u.guidance_hi["value"]) == (4.0, "0.28", "5.42")
    assert "on s ∈ (0.28, 5.42] only" in u.sampler["info"]
    record_setting(str(path), SamplingSetting("ddim", 12, 1.0, 2.0))
    u = sample.recommended_update(checkpoints.UPLOAD, str(path))
    assert (u.guidance_lo["value"], u.guidance_hi["value"]) == ("", "")                 # none recorded: emptied


@pytest.mark.usefixtures("restore_torch_threads", "app_env")
def test_the_diagnostics_tab_draws_the_report_samples_with_the_interval(tmp_path, write_tiny_checkpoint,
                                                                         monkeypatch):
    from demo import checkpoints
    from demo.tabs import diagnose
    import diagnostics
    seen = {}

    def fake_report(ck, out, **kw):
        seen.update(kw)
        raise ValueError("stop here")              # the handler's wiring is what is checked, not a whole report
    monkeypatch.setattr(diagnostics, "run_report", fake_report)
    path = write_tiny_checkpoint(tmp_path / "g.safetensors", num_classes=3)
    with pytest.raises(gr.Error):
        diagnose.diagnose(checkpoints.UPLOAD, str(path), "quick", 0, None, False, 3.0, 1.0, "0.28", "5.42")
    assert seen["guidance_interval"] == (0.28, 5.42) and seen["guidance_scale"] == 3.0
    with pytest.raises(gr.Error):
        diagnose.diagnose(checkpoints.UPLOAD, str(path), "quick", 0, None, False, 1.0, 1.0, "0.28", "5.42")
    assert seen["guidance_interval"] is None                                            # w = 1: nothing to limit
    with pytest.raises(gr.Error) as e:
        diagnose.diagnose(checkpoints.UPLOAD, str(path), "quick", 0, None, False, 3.0, 1.0, "5", "1")
    assert "guidance interval needs 0 ≤ s_lo" in str(e.value.message)


@pytest.mark.usefixtures("restore_torch_threads", "app_env")
def test_the_compare_tab_guides_every_grid_and_the_doctor_on_the_interval(tmp_path, write_tiny_checkpoint,
                                                                           monkeypatch):
    """DDPM beside DDIM, the samplers side by side and the sampler doctor all sample with the tab's interval, say so
    under their grids, and refuse a bad one; empty boxes (or w = 1) guide at every step."""
    from demo import checkpoints
    from demo.tabs import compare
    import diagnostics.doctor
    seen = _record_intervals(monkeypatch, compare)
    path = write_tiny_checkpoint(tmp_path / "c.safetensors", num_classes=3)
    run = dict(checkpoint=checkpoints.UPLOAD, upload=str(path), classes=[], guidance_scale=3.0, seed=0, n=2)
    v = compare.compare(**run, steps=4, eta=1.0, guidance_s_lo="0.28", guidance_s_hi="5.42")
    assert seen == [(0.28, 5.42)] * 2 and v.numbers["guidance_interval"] == [0.28, 5.42]
    assert "guidance 3 on s ∈ (0.28, 5.42] only" in v.ddpm_info and "on s ∈ (0.28, 5.42]" in v.ddim_info
    seen.clear()
    v = compare.compare(**run, steps=4, eta=1.0)
    assert seen == [None] * 2 and v.numbers["guidance_interval"] is None
    assert "guidance 3 ·" in v.ddim_info and "only" not in v.ddim_info                  # every step
    seen.clear()
    v = compare.compare_samplers(**run, samplers=["DDIM", "UniPC"], calls=4, guidance_s_lo="0.28",
                                 guidance_s_hi="")
    assert seen == [(0.28, None)] * 2 and "on s ∈ (0.28, ∞] only" in v.samplers_info
    seen.clear()
    assert "guidance" not in compare.compare_samplers(**{**run, "guidance_scale": 1.0}, samplers=["DDIM", "UniPC"],
                                                      calls=4, guidance_s_lo="0.28").samplers_info
    assert seen == [None] * 2                                                           # w = 1: nothing to limit
    with pytest.raises(gr.Error) as e:
        compare.compare(**run, steps=4, guidance_s_lo="5", guidance_s_hi="1")
    assert "guidance interval needs 0 ≤ s_lo" in str(e.value.message)
    doctor_kw = {}

    def fake_doctor(ck, real, **kw):
        doctor_kw.update(kw)
        raise ValueError("stop here")              # the handler's wiring is what is checked, not a whole doctor run
    monkeypatch.setattr(diagnostics.doctor, "sampler_doctor", fake_doctor)
    with pytest.raises(gr.Error):
        compare.doctor(checkpoints.BUNDLED, None, 10, 50, 2.0, "0.28", "5.42")
    assert doctor_kw["guidance_interval"] == (0.28, 5.42) and doctor_kw["guidance_scale"] == 2.0


def test_the_docs_name_the_steps_the_interval_covers():
    """docs/sample.md and the benchmarks page say which t (counted from 0) of the linear schedule with T = 1000 have
    s in (0.28, 5.42]: computed here from the schedule, not copied."""
    from pathlib import Path
    d = GaussianDiffusion(DiffusionConfig(T=1000), dtype=torch.float64)
    inside = [t for t in range(1000) if bool(GuidanceInterval(0.28, 5.42).contains(torch.tensor(_s(d, t))))]
    assert inside == list(range(inside[0], inside[-1] + 1))
    words = f"t = {inside[0]} … {inside[-1]}"
    root = Path(__file__).resolve().parents[1]
    for page in ("docs/sample.md", "docs/reference/benchmarks.md"):
        assert words in (root / page).read_text(encoding="utf-8"), page


@pytest.mark.usefixtures("app_env")
def test_the_work_budget_counts_only_the_calls_guidance_doubles(tmp_path, write_tiny_checkpoint, monkeypatch):
    """With guidance on an interval, the app's budget counts a doubled batch only at the calls inside it: as many as
    the sampler's levels with s in the interval (DDIM, from the schedule in float64), as many as a real run doubles
    (EDM Heun, whose extra calls fall between its steps), every call without an interval; the refusal says so."""
    from demo import checkpoints, limits
    from demo.guided_calls import doubled_calls
    from demo.model_cache import get_cache
    from demo.tabs import sample
    from ddpm.steps import ddim_timesteps
    path = write_tiny_checkpoint(tmp_path / "b.safetensors", num_classes=3, T=1000)
    ck = get_cache().get(path)
    d = GaussianDiffusion(DiffusionConfig(T=1000), dtype=torch.float64)
    inside = sum(0.28 < _s(d, t) <= 5.42 for t in ddim_timesteps(1000, 50))
    assert 0 < inside < 50 and doubled_calls(ck, "ddim", 50, 3.0, (0.28, 5.42), eta=1.0) == inside
    assert doubled_calls(ck, "ddim", 50, 3.0, None) is None                           # every call doubled
    odd = SimpleNamespace(model=SimpleNamespace(config=SimpleNamespace(num_classes=3)), diffusion=ck.diffusion)
    assert doubled_calls(odd, "ddim", 50, 3.0, (0.28, 5.42)) is None                  # cannot say: all counted
    net = _LabelNet()
    net.config.in_channels, net.config.image_size = 1, 1
    net.anchor = torch.nn.Parameter(torch.zeros(()))
    generate(net, ck.diffusion, sampler="edm_heun", steps=9, n=1, labels=[0], guidance_scale=3.0,
             guidance_interval=(0.28, 5.42), seed=0, trajectory_frames=0)
    assert doubled_calls(ck, "edm_heun", 9, 3.0, (0.28, 5.42)) == net.batches.count(2) > 0
    p = limits.Pass("DDIM", 50, 4, 2, doubled_calls=inside)
    assert p.image_calls == (50 + inside) * 4 and limits.Pass("DDIM", 50, 4, 2).image_calls == 400
    assert limits.max_images_within([p], 1e9) > limits.max_images_within([limits.Pass("DDIM", 50, 1, 2)], 1e9)
    monkeypatch.setenv("DDPM_WORKBENCH_WORK_TFLOP", "0.000001")
    run = dict(checkpoint=checkpoints.UPLOAD, upload=str(path), classes=[], guidance_scale=3.0, sampler="DDIM",
               steps=50, eta=1.0, temperature=1.0, noise_temperature=1.0, seed=0, n=3)
    with pytest.raises(gr.Error) as e:
        sample.sample(**run, guidance_s_lo="0.28", guidance_s_hi="5.42")
    assert f"50 network calls × 3 images, {inside} of the calls doubled (guidance on its interval only)" in \
        str(e.value.message)
    with pytest.raises(gr.Error) as e:
        sample.sample(**run)
    assert "50 network calls × 3 images × 2 (guidance doubles the batch)" in str(e.value.message)
    from demo.tabs import compare
    import diagnostics.doctor
    with pytest.raises(gr.Error) as e:                  # Compare: DDPM over all T and DDIM, each counted exactly
        compare.compare(checkpoints.UPLOAD, str(path), [], 3.0, 50, 1.0, 0, 3, "auto", "0.28", "5.42")
    ddpm_inside = sum(0.28 < _s(d, t) <= 5.42 for t in range(1000))
    assert f"1,000 network calls × 3 images, {ddpm_inside} of the calls doubled" in str(e.value.message)
    assert f"50 network calls × 3 images, {inside} of the calls doubled" in str(e.value.message)
    from demo.tabs import diagnose                      # the report's samples (quick: DDIM-50), and the doctor's
    with pytest.raises(gr.Error) as e:
        diagnose.diagnose(checkpoints.UPLOAD, str(path), "quick", 0, None, False, 3.0, 1.0, "0.28", "5.42")
    assert "of the calls doubled (guidance on its interval only)" in str(e.value.message)
    with pytest.raises(gr.Error) as e:
        compare.doctor(checkpoints.BUNDLED, None, 10, 50, 2.0, "0.28", "5.42")
    assert str(e.value.message).count("of the calls doubled") == len(diagnostics.doctor.CANDIDATES)


def test_as_guidance_interval_reads_open_ends():
    assert as_guidance_interval(None) is None
    assert as_guidance_interval((None, None)) == GuidanceInterval(0.0, math.inf)
    assert str(as_guidance_interval([0.28, None])) == "s ∈ (0.28, ∞]"
    assert as_guidance_interval((0.28, 5.42)).as_list() == [0.28, 5.42]


def test_the_sampler_doctor_guides_every_candidate_on_the_interval(monkeypatch):
    """The doctor (CLI `--guidance-interval`, and the full report's sampler check) passes the interval to every
    candidate it samples, and records it; it drops it where guidance is off."""
    import diagnostics.doctor as doctor
    from ddpm.data import load_dataset
    import argparse
    from diagnostics.doctor_cli import add_cli
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["doctor", "digits", "--guidance-interval", "0.28", "5.42"]).guidance_interval == \
        [0.28, 5.42]
    seen = _record_intervals(monkeypatch, doctor)
    ck, real = load_checkpoint("digits"), load_dataset("digits")
    r = doctor.sampler_doctor(ck, real, calls=4, n=50, guidance_scale=2.0, guidance_interval=(0.28, 5.42),
                              candidates={doctor.ODE: doctor.CANDIDATES[doctor.ODE]})
    assert seen == [GuidanceInterval(0.28, 5.42)] and r.guidance_interval == [0.28, 5.42]
    assert r.as_dict()["guidance_interval"] == [0.28, 5.42]
    seen.clear()
    r = doctor.sampler_doctor(ck, real, calls=4, n=50, guidance_scale=1.0, guidance_interval=(0.28, 5.42),
                              candidates={doctor.ODE: doctor.CANDIDATES[doctor.ODE]})
    assert seen == [None] and r.guidance_interval is None
