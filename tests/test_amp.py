"""--amp: the precision decision (the bf16 detector simulated both ways), bf16 end to end (train, exact resume,
sample, report), bit-identical results per precision, and the refusals (fp16 on a CPU) and warnings (emulated bf16,
a resume in another precision).

Models are tiny (8×8, base 16, T = 50) because this CPU may emulate bf16 at a fraction of the fp32 speed."""
import io
import warnings
from pathlib import Path

import pytest
import torch

from ddpm import device as device_mod
from ddpm.checkpoint import load_checkpoint, load_train_state, read_metadata
from ddpm.device import Precision, cpu_has_native_bf16, resolve_precision
from ddpm.sampling import GuidedModel, generate
from ddpm.train import StopTraining, TrainConfig, main, train
from ddpm.unet import UNet, preset_config

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(data="digits", image_size=8, preset="tiny", base_channels=16, batch_size=8, T=50, sample_every=0,
             log_every=1)


@pytest.fixture
def quiet_bf16():
    """The emulated-bf16 warning is tested on its own; elsewhere it is expected noise on such CPUs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="this CPU has no native bf16")
        yield


def _random_unet():
    """A conditional U-Net with every weight non-zero (the default init zeroes the output layer)."""
    torch.manual_seed(0)
    model = UNet(preset_config("tiny", image_size=8, in_channels=1, num_classes=10, base_channels=16))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


# ---- the decision ----------------------------------------------------------------------------------------
def test_auto_is_fp32_without_native_bf16_and_the_choices_are_honoured(monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    auto = resolve_precision("auto", "cpu")
    assert (auto.name, auto.dtype) == ("fp32", None) and "no native bf16" in auto.reason
    forced = resolve_precision("bf16", "cpu")
    assert forced.name == "bf16" and forced.dtype is torch.bfloat16
    assert "no native bf16" in forced.warning and "slower than fp32" in forced.warning
    assert resolve_precision("off", "cpu").name == "fp32"
    with pytest.raises(ValueError, match="fp16 is refused on a CPU.*--amp bf16.*--amp off"):
        resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match=r"unknown amp 'half'; choose from \['auto', 'bf16', 'fp16', 'off'\]"):
        resolve_precision("half", "cpu")

    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("bf16", "cpu").warning is None            # native: no slowness warning
    # auto is decided per use (bench/results/amp_native_bf16.json): bf16 to train, fp32 to sample
    assert resolve_precision("auto", "cpu", "train").name == "bf16"
    assert resolve_precision("auto", "cpu", "sample").name == "fp32"
    assert resolve_precision("auto", "cpu").name == "fp32"             # sampling is the default use
    assert "same images on every CPU" in resolve_precision("auto", "cpu", "sample").reason
    assert resolve_precision("bf16", "cpu", "sample").name == "bf16"   # bf16 sampling when asked
    monkeypatch.setattr(device_mod, "CPU_AUTO_BF16", {"train": False, "sample": True})
    assert (resolve_precision("auto", "cpu", "train").name, resolve_precision("auto", "cpu", "sample").name) == \
        ("fp32", "bf16")                                               # the table is what decides
    with pytest.raises(ValueError, match=r"unknown use 'infer'; choose from \['train', 'sample'\]"):
        resolve_precision("auto", "cpu", "infer")


@pytest.mark.parametrize("value, native", [("native", True), ("emulated", False), ("NATIVE ", True)])
def test_the_switch_makes_one_cpu_behave_as_the_other_kind(monkeypatch, value, native):
    monkeypatch.setenv(device_mod.CPU_BF16_ENV, value)
    assert cpu_has_native_bf16() is native
    assert resolve_precision("auto", "cpu", "train").name == ("bf16" if native else "fp32")
    assert resolve_precision("auto", "cpu", "sample").name == "fp32"   # the same on both kinds
    assert (resolve_precision("bf16", "cpu").warning is None) is native


def test_the_switch_detects_when_unset_and_refuses_unknown_values(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx512_bf16": True})
    for value in ("", "detect"):
        monkeypatch.setenv(device_mod.CPU_BF16_ENV, value)
        assert cpu_has_native_bf16() is True
    monkeypatch.setenv(device_mod.CPU_BF16_ENV, "yes")
    with pytest.raises(ValueError, match=r"DDPM_CPU_BF16='yes' is not understood; set it to one of detect, native, "
                                         r"emulated \(or leave it unset to ask the CPU\)"):
        cpu_has_native_bf16()
    with pytest.raises(ValueError, match="DDPM_CPU_BF16='yes'"):
        resolve_precision("auto", "cpu")


def test_detector_reads_torch_and_the_kernel_flags(monkeypatch):
    monkeypatch.delenv(device_mod.CPU_BF16_ENV, raising=False)      # ask the (simulated) CPU itself
    for caps in ({"avx512_bf16": True}, {"amx_bf16": True}):
        monkeypatch.setattr(torch.cpu, "get_capabilities", lambda caps=caps: caps)
        assert cpu_has_native_bf16()
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_bf16": False})
    cpuinfo = {"x86 AVX2 only": ("flags\t: fpu sse2 avx2 fma\n", False),
               "x86 AVX-512 BF16": ("flags\t: fpu avx2 avx512f avx512_bf16\n", True),
               "Arm with BF16": ("Features\t: fp asimd sve bf16 i8mm\n", True),
               "Arm without": ("Features\t: fp asimd\n", False)}
    for name, (text, want) in cpuinfo.items():
        monkeypatch.setattr(device_mod, "open", lambda *a, text=text, **k: io.StringIO(text), raising=False)
        assert cpu_has_native_bf16() is want, name

    def unreadable(*a, **k):
        raise OSError("no /proc here")
    monkeypatch.setattr(device_mod, "open", unreadable, raising=False)
    assert cpu_has_native_bf16() is False


# ---- sampling --------------------------------------------------------------------------------------------
def test_generate_bf16_is_reproducible_close_to_fp32_and_fp32_around_the_network(quiet_bf16):
    ck = load_checkpoint(ROOT / "checkpoints" / "digits_tiny.safetensors")   # a trained model: images not saturated
    model, diffusion = ck.model, ck.diffusion
    kw = dict(sampler="ddim", steps=3, n=4, labels=[1, 2, 3, 4], seed=0, trajectory_frames=2)
    a = generate(model, diffusion, amp="bf16", **kw)
    b = generate(model, diffusion, amp="bf16", **kw)
    f = generate(model, diffusion, amp="off", **kw)
    assert torch.equal(a.images, b.images) and torch.equal(a.trajectory.pred_xstart, b.trajectory.pred_xstart)
    assert (a.settings["precision"], f.settings["precision"]) == ("bf16", "fp32")
    assert a.images.dtype == a.trajectory.x_t.dtype == torch.float32
    assert torch.equal(a.x_T, f.x_T)
    diff = (a.images - f.images).abs().max().item()
    assert 0 < diff < 0.1, diff           # bf16 keeps 8 bits of mantissa: close, not equal (measured 0.028)
    # only the network runs in bf16: its output is handed back in fp32, and nothing outside stays in autocast
    model = _random_unet()
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([10, 40])
    out = GuidedModel(model, diffusion, torch.tensor([1, 2]), precision=resolve_precision("bf16", "cpu"))(x, t)
    assert out.dtype == torch.float32 and not torch.is_autocast_cpu_enabled()
    with pytest.raises(ValueError, match="fp16 is refused on a CPU"):
        generate(model, diffusion, amp="fp16", **kw)


def test_precision_run_leaves_fp32_untouched():
    calls = []
    fn = lambda x: calls.append(torch.is_autocast_cpu_enabled()) or x * 2
    x = torch.ones(3)
    assert torch.equal(Precision("fp32", "cpu", "off").run(fn, x), x * 2)
    Precision("bf16", "cpu", "test").run(fn, x)
    assert calls == [False, True]


# ---- training --------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_bf16_training_resumes_bit_exact_and_records_its_precision(tmp_path, quiet_bf16):
    kw = dict(SMALL, steps=4, save_every=2, seed=3, dropout=0.1, amp="bf16")
    full = train(TrainConfig(out=str(tmp_path / "full"), **kw))

    def stop_at_2(p):
        if p.step == 2:
            raise StopTraining
    part = train(TrainConfig(out=str(tmp_path / "split"), **kw), stop_at_2)
    assert part.step == 2
    resumed = train(TrainConfig(out=str(tmp_path / "split"), resume="auto", **kw))
    a, b = load_train_state(full.checkpoint), load_train_state(resumed.checkpoint)
    for part_name in ("model", "ema"):
        for k, v in a[part_name].items():
            assert torch.equal(v, b[part_name][k]), (part_name, k)
    meta = read_metadata(full.checkpoint)["train"]
    assert meta["precision"] == "bf16" and meta["precision_history"] == [{"from_step": 0, "precision": "bf16"}]
    assert read_metadata(full.model)["train"]["precision"] == "bf16"       # the shared export says it too
    # the optimizer state stays fp32 whatever the network ran in
    assert all(v.dtype == torch.float32 for s in a["optimizer"]["state"].values() for v in s.values()
               if torch.is_tensor(v) and v.is_floating_point())
    # fp32 from the same seed takes other steps: the bf16 path was really taken
    fp32 = load_train_state(train(TrainConfig(out=str(tmp_path / "fp32"), **dict(kw, amp="off"))).checkpoint)
    assert any(not torch.equal(v, fp32["model"][k]) for k, v in a["model"].items())
    # a resume in another precision is allowed, and said (warning + the checkpoint's history)
    with pytest.warns(UserWarning, match="resuming at step 4 in fp32 a run trained in bf16"):
        mixed = train(TrainConfig(out=str(tmp_path / "mixed"), resume=full.checkpoint, **dict(kw, amp="off",
                                                                                               steps=5)))
    assert read_metadata(mixed.checkpoint)["train"]["precision_history"] == [
        {"from_step": 0, "precision": "bf16"}, {"from_step": 4, "precision": "fp32"}]


def test_fp16_on_a_cpu_is_refused_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["--amp", "fp16", "--device", "cpu", "--out", str(out), "--quiet"]) == 2
    assert "fp16 is refused on a CPU" in capsys.readouterr().err
    assert not out.exists()


def test_forced_bf16_on_a_cpu_without_it_warns_and_still_trains(tmp_path, monkeypatch):
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no native bf16.*slower than fp32"):
        res = train(TrainConfig(out=str(tmp_path), **dict(SMALL, steps=1, save_every=0, amp="bf16")))
    assert res.step == 1 and read_metadata(res.checkpoint)["train"]["precision"] == "bf16"


def test_sample_cli_amp(tmp_path, capsys):
    from ddpm.sample import main as sample_main
    ckpt = str(ROOT / "checkpoints" / "digits_tiny.safetensors")
    assert sample_main(["--ckpt", ckpt, "--amp", "fp16", "--out", str(tmp_path / "x.png"), "--quiet"]) == 2
    assert "fp16 is refused on a CPU" in capsys.readouterr().err
    assert sample_main(["--ckpt", ckpt, "--amp", "off", "--n", "2", "--steps", "2", "--out", str(tmp_path / "y.png"),
                        "--quiet"]) == 0
    assert "fp32" in capsys.readouterr().out


@pytest.mark.slow
def test_report_draws_its_samples_in_the_asked_precision(tmp_path, quiet_bf16):
    from diagnostics.report import run_report, to_markdown
    res = train(TrainConfig(out=str(tmp_path / "run"), **dict(SMALL, steps=2, save_every=0)))
    files = run_report(res.model, tmp_path / "report", quick=True, n=8, steps=3, amp="bf16")
    assert files.report.settings["amp"] == "bf16" and files.report.settings["precision"] == "bf16"
    assert "network in bf16" in to_markdown(files.report)


# ---- the app ---------------------------------------------------------------------------------------------
@pytest.fixture
def app_env(tmp_path, monkeypatch, write_tiny_checkpoint):
    monkeypatch.setenv("DDPM_WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(write_tiny_checkpoint(tmp_path / "tiny.safetensors")))
    monkeypatch.setenv("DDPM_WORKBENCH_BENCH", str(tmp_path / "no_bench.json"))
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_app_train_request_is_derived_from_train_config():
    """Every field of the app's request is a TrainConfig option with the trainer's default (except the one
    difference APP_DEFAULTS states), and its CLI arguments parse back, through the trainer's own parser, to
    the very same values."""
    import argparse
    from demo.jobs import APP_DEFAULTS, TrainRequest
    from ddpm.train_config import add_config_args, config_from_args
    from dataclasses import asdict, fields as dc_fields
    for f in dc_fields(TrainRequest):
        want = APP_DEFAULTS.get(f.name, TrainConfig.option_spec(f.name).default)
        assert f.default == want, f.name
    assert APP_DEFAULTS == {"sample_every": 250}
    req = TrainRequest(steps=20, base_channels=16, image_size=8, T=100, lr=3e-3, amp="off")
    parser = argparse.ArgumentParser()
    add_config_args(parser)
    cfg = config_from_args(parser.parse_args(req.cli_args()))
    for name, value in asdict(req).items():
        assert getattr(cfg, name) == value, name


def test_app_tabs_take_a_precision_and_refuse_fp16_on_a_cpu(app_env, monkeypatch):
    import gradio as gr
    from demo.tabs import compare, sample, train as train_tab
    monkeypatch.setattr(device_mod, "cpu_has_native_bf16", lambda: False)
    for call in (lambda: sample.sample(n=2, steps=2, amp="fp16"),
                 lambda: compare.compare(n=1, steps=2, amp="fp16"),
                 lambda: train_tab.train_start(steps=5, amp="fp16")):
        with pytest.raises(gr.Error) as e:
            call()
        assert "fp16 is refused on a CPU" in str(e.value.message)
    with pytest.raises(gr.Error) as e:          # emulated bf16 would blow the server's work budget
        sample.sample(n=2, steps=2, amp="bf16")
    assert "no native bf16" in str(e.value.message) and "choose auto or off" in str(e.value.message)
    assert sample.c.precision_picker().choices == [("auto", "auto"), ("off", "off")]
    view = sample.sample(n=2, steps=2, amp="off")
    assert "network in fp32" in view.info
    from demo.i18n import gr_i18n
    info = sample.c.precision_picker().info                         # a gr.I18n marker, translated in the browser
    english = gr_i18n().translations["en"][info.key]
    assert "auto = fp32" in english                                 # what auto means here, beside the choice


def test_app_says_what_auto_means_for_each_use_on_either_kind_of_cpu(app_env, cpu_kind):
    from demo import common as c
    from demo.i18n import gr_i18n
    from demo.tabs import sample
    train_info, sample_info = c.precision_picker("train").info, c.precision_picker("sample").info
    en, zh = gr_i18n().translations["en"], gr_i18n().translations["zh"]
    if cpu_kind == "native":
        assert en[train_info.key].startswith("auto = bf16 (this CPU computes bf16 natively")
        assert zh[train_info.key].startswith("auto = bf16（这台 CPU 原生支持 bf16")
        assert en[sample_info.key].startswith("auto = fp32 (the same images on every CPU")
        assert zh[sample_info.key].startswith("auto = fp32（每台 CPU 上图像都相同")
        assert c.precision("bf16", "sample") == "bf16"                 # asked for: allowed where it is native
    else:
        assert en[train_info.key].startswith("auto = fp32 (this CPU has no native bf16)")
        assert en[sample_info.key] == en[train_info.key]
        assert zh[train_info.key].startswith("auto = fp32（这台 CPU 不原生支持 bf16）")
    view = sample.sample(n=2, steps=2, amp="auto")
    assert "network in fp32" in view.info                              # auto samples in fp32 on both kinds
