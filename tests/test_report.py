"""The report end to end on a small real checkpoint (trained once per session), its three renderings, and the
CLI's handling of bad input."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ddpm import CheckpointError, load_checkpoint
from ddpm.data import DEFAULT_HOLDOUT, DEFAULT_SPLIT_SEED
from ddpm.train import TrainConfig, train
from diagnostics import run_all, run_report, to_json, to_markdown
from diagnostics.__main__ import main as cli_main
from diagnostics.checks import CheckResult
from diagnostics.report import Report, load_real_data
from ddpm.messages import render

ROOT = Path(__file__).resolve().parents[1]
ALL_CHECKS = ["model", "schedule", "noise_prediction", "x0_range", "smoothness", "diversity", "colour", "sample_quality",
              "memorisation", "generalisation", "likelihood", "sampler", "performance"]



@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """30 steps of an 8×8 digits model with 16 base channels and T=100: a real checkpoint in a few seconds."""
    out = tmp_path_factory.mktemp("tiny_run")
    res = train(TrainConfig(steps=30, base_channels=16, image_size=8, T=100, sample_every=0, save_every=0,
                            batch_size=64, log_every=10, out=str(out), device="cpu"))
    return Path(res.model)


@pytest.fixture(scope="session")
def quick_report(tiny_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    stages = []
    files = run_report(tiny_ckpt, out, quick=True, n=40, seed=0, callback=lambda s, f: stages.append((s, f)))
    return files, stages


def test_quick_report_writes_all_three_files(quick_report):
    files, stages = quick_report
    for p in (files.html_path, files.json_path, files.md_path, files.grid_path):
        assert p.exists() and p.stat().st_size > 0
    assert [c.key for c in files.report.checks] == ALL_CHECKS
    assert files.report.settings["mode"] == "quick" and files.report.settings["sampler"] == "ddim"
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {"sampling", "quality", "done"} <= {s for s, _ in stages}


def test_html_is_self_contained(quick_report):
    files, _ = quick_report
    html = files.html_path.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html and len(html) > 1_000_000        # plotly.js inlined, not linked
    assert html.count("<script type=\"text/javascript\">/**") <= 1 or html.count("plotly.js v") >= 1
    # nothing is fetched from the network: no external scripts, styles or images (the inlined bundle mentions
    # map-tile URLs in strings, which are never loaded for these charts)
    assert not re.search(r"<script[^>]+src=[\"']https?:", html)
    assert not re.search(r"<link[^>]+href=[\"']https?:", html)
    assert not re.search(r"<img[^>]+src=[\"']https?:", html)
    assert "cdn.plot.ly/plotly" not in html.split("</head>")[0]
    assert "data:image/png;base64," in html
    for c in files.report.checks:
        assert f'id="{c.key}"' in html
    assert "badge" in html and "Rule:" in html


def test_json_has_every_check_and_number(quick_report):
    files, _ = quick_report
    d = json.loads(files.json_path.read_text(encoding="utf-8"))
    assert [c["key"] for c in d["checks"]] == ALL_CHECKS
    assert d["overall"] in ("ok", "warn", "fail")
    assert d["model"]["T"] == 100 and d["model"]["image_size"] == 8 and d["model"]["parameters"] > 0
    by_key = {c["key"]: c for c in d["checks"]}
    assert len(by_key["noise_prediction"]["numbers"]["per_t"]) == 5
    assert by_key["performance"]["numbers"]["seconds_per_call_batch1"] > 0
    assert by_key["x0_range"]["numbers"]["per_t"][0]["t"] == 99
    for c in d["checks"]:
        assert c["verdict"] in ("ok", "warn", "fail", "skip") and c["summary"] and c["threshold"]
    # the feature net is for 16×16 digits: an 8×8 model's quality check is skipped with the reason
    assert by_key["sample_quality"]["verdict"] == "skip"
    assert "16×16" in by_key["sample_quality"]["summary"] or "feature" in by_key["sample_quality"]["summary"]


def test_markdown_is_a_short_table(quick_report):
    files, _ = quick_report
    md = files.md_path.read_text(encoding="utf-8")
    assert md.startswith("# Diagnostics:") and "| Check | Verdict | Summary | Fix |" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "Verdict" not in line]
    assert len(rows) == len(ALL_CHECKS)
    assert len(md) < 6000
    # the 8×8 model's quality check is skipped: the overall line names it instead of reading as a plain verdict
    skipped = [c.title for c in files.report.checks if c.verdict == "skip"]
    assert any(t.startswith("Sample quality") for t in skipped)
    assert f"{len(skipped)} of {len(ALL_CHECKS)} checks skipped: {'; '.join(skipped)}" in md.splitlines()[2]
    assert str(files.report.overall_summary) in files.html_path.read_text(encoding="utf-8")


def test_overall_names_skipped_checks_and_figures_are_drawn_at_render_time():
    from diagnostics.checks import overall_summary
    from diagnostics.plots import draw_figures
    ok, skip = CheckResult("a", "A", "ok", "s"), CheckResult("b", "B", "skip", "why")
    assert str(overall_summary([ok, ok])) == "ok"
    assert str(overall_summary([ok, skip])) == "ok, 1 of 2 checks skipped: B"
    assert str(overall_summary([CheckResult("c", "C", "warn", "s"), skip])).startswith("warn, 1 of 2")
    assert str(overall_summary([skip, skip])) == "skip: all 2 checks were skipped"
    assert render(overall_summary([ok, CheckResult("memorisation", "M", "skip", "why")]), "zh") == \
        "正常，2 项检查中有 1 项跳过：记忆化（复制训练图像）"
    broken = CheckResult("schedule", "Noise schedule", "ok", "s", numbers={})     # no numbers to draw from
    drawn = draw_figures(broken)
    assert drawn.figures == [] and "snr_figure" in str(drawn.not_drawn[0]) and broken.notes == []   # result unchanged


def test_json_is_strict_with_nan():
    r = Report("x.safetensors", "now", {}, [CheckResult("a", "A", "ok", "s", {"v": float("nan"), "w": [1.0, float("inf")]})],
               "ok", {"preset": "tiny", "parameters": 1, "channels": 1, "image_size": 8, "num_classes": 0, "step": 0,
                      "weights": "ema", "data_set": "digits", "schedule": "linear", "T": 10, "objective": "eps"})
    d = json.loads(to_json(r))
    assert d["checks"][0]["numbers"] == {"v": None, "w": [1.0, None]}
    assert "A" in to_markdown(r)


def test_missing_data_folder_skips_the_checks_that_need_it(tiny_ckpt, tmp_path):
    ck = load_checkpoint(tiny_ckpt)
    ck.meta["data"] = dict(ck.meta["data"], source=str(tmp_path / "gone"), name="gone")
    real, reason = load_real_data(ck)
    assert real is None and "gone" in str(reason)
    results = run_all(ck, None, quick=True, n=12, seed=0, real_reason=reason)
    by_key = {r.key: r for r in results}
    assert by_key["smoothness"].verdict == "skip" and "gone" in str(by_key["smoothness"].summary)
    assert by_key["sample_quality"].verdict == "skip"
    assert by_key["noise_prediction"].verdict != "skip"          # falls back to the model's own samples
    assert any("no real data" in str(n) for n in by_key["noise_prediction"].notes)


def test_a_generator_that_returns_training_images_is_flagged(tiny_ckpt):
    from diagnostics.checks import SampleBatch, split_real_data
    ck = load_checkpoint(tiny_ckpt)
    real, _ = load_real_data(ck)
    splits = split_real_data(real, ck.meta["data"])               # as the model was trained: 20% held out
    assert len(splits.reference) == ck.meta["data"]["num_images"] and not splits.heldout_seen
    assert (ck.meta["data"]["holdout"], ck.meta["data"]["split_seed"]) == (DEFAULT_HOLDOUT, DEFAULT_SPLIT_SEED)
    copies = SampleBatch(splits.reference.images[:40], None, None, "ddim", 1, 0.0)
    by_key = {r.key: r for r in run_all(ck, real, quick=True, samples=copies)}
    assert by_key["memorisation"].verdict == "warn" and by_key["memorisation"].numbers["frac_near_copies"] == 1.0
    fresh = SampleBatch(splits.heldout.images[:40], None, None, "ddim", 1, 0.0)   # real images it never saw
    by_key = {r.key: r for r in run_all(ck, real, quick=True, samples=fresh)}
    assert by_key["memorisation"].verdict == "ok"
    # an older checkpoint trained on every image: the held-out images are training images too
    ck.meta["data"] = dict(ck.meta["data"], holdout=0.0, num_images=len(real))
    seen = {r.key: r for r in run_all(ck, real, quick=True, samples=fresh)}["memorisation"]
    assert seen.verdict == "warn" and seen.numbers["heldout_seen"] and any("every image" in str(n) for n in seen.notes)


def test_loading_errors_propagate_before_any_work(tmp_path):
    out = tmp_path / "never"
    with pytest.raises(FileNotFoundError, match="not found"):
        run_report(tmp_path / "missing.safetensors", out)
    pickle = tmp_path / "model.pt"
    pickle.write_bytes(b"PK\x03\x04junk")
    with pytest.raises(CheckpointError, match="pickle"):
        run_report(pickle, out)
    assert not out.exists()


def test_cli_bad_checkpoint_exit_code_2(tmp_path, capsys):
    garbage = tmp_path / "bad.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    assert cli_main(["report", str(garbage), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "bad.safetensors" in err[0]


def test_cli_subprocess_missing_checkpoint(tmp_path):
    p = subprocess.run([sys.executable, "-m", "diagnostics", "report", str(tmp_path / "nope.safetensors"),
                        "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=60,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("error: checkpoint") and "not found" in p.stderr
    assert "Traceback" not in p.stderr


def test_cli_prints_markdown_and_paths(tiny_ckpt, tmp_path, capsys):
    rc = cli_main(["report", str(tiny_ckpt), "--out", str(tmp_path / "r"), "--quick", "--n", "12", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| Check | Verdict" in out and str(tmp_path / "r" / "report.html") in out
    assert "(DDIM, 20 steps, n=12" in out                  # no η, no guidance: the plain sampler


def test_cli_eta_and_guidance_reach_the_samples_and_the_report(tiny_ckpt, tmp_path, capsys):
    """--eta 1 --guidance-scale 2: the shared samples are drawn so (the same images generate() gives with those
    settings) and the report's run line says so in both languages."""
    from ddpm import generate
    from diagnostics.checks.runner import draw_samples, mode_settings
    from diagnostics.render import sampler_words
    rc = cli_main(["report", str(tiny_ckpt), "--out", str(tmp_path / "r"), "--quick", "--n", "10", "--steps", "5",
                   "--eta", "1", "--guidance-scale", "2", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    settings = json.loads((tmp_path / "r" / "report.json").read_text())["settings"]
    assert settings["eta"] == 1.0 and settings["guidance_scale"] == 2.0
    assert "(DDIM η=1, classifier-free guidance w=2, 5 steps, n=10" in out
    assert sampler_words(settings, "zh") == "DDIM η=1，无分类器引导 w=2"
    ck = load_checkpoint(tiny_ckpt)
    batch = draw_samples(ck.model, ck.diffusion, mode_settings(True, ck.diffusion.T, n=10, steps=5, eta=1.0),
                         seed=0, guidance_scale=2.0)
    direct = generate(ck.model, ck.diffusion, sampler="ddim", steps=5, eta=1.0, n=10, labels=list(range(10)),
                      guidance_scale=2.0, seed=0)
    assert torch.equal(batch.images, direct.images)
    deterministic = draw_samples(ck.model, ck.diffusion, mode_settings(True, ck.diffusion.T, n=10, steps=5),
                                 seed=0, guidance_scale=2.0)
    assert not torch.equal(batch.images, deterministic.images)    # η reached the sampler


@pytest.mark.parametrize("kwargs, message", [({"eta": 1.5}, "eta must be in"), ({"eta": -0.1}, "eta must be in"),
                                             ({"eta": 1.0, "sampler": "ddpm"}, "eta is DDIM's")])
def test_eta_outside_ddim_is_refused(kwargs, message):
    from diagnostics.checks.runner import mode_settings
    with pytest.raises(ValueError, match=message):
        mode_settings(True, 100, **kwargs)


def _stand_in_torchvision(monkeypatch) -> list:
    """A stand-in torchvision whose inception_v3 is a tiny net with Inception-v3's interface (an avgpool whose
    output the extractor hooks, 1000 logits); returns the list of weights it was asked for."""
    import types
    from torch import nn

    class TinyInception(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.avgpool, self.fc = nn.Conv2d(3, 16, 13, stride=13), nn.AdaptiveAvgPool2d(1), nn.Linear(16, 1000)

        def forward(self, x):                                     # (B, 3, 299, 299) -> (B, 1000)
            return self.fc(self.avgpool(torch.relu(self.conv(x))).flatten(1))

    asked = []

    def inception_v3(weights=None, aux_logits=True):
        asked.append(weights)
        torch.manual_seed(0)
        return TinyInception()
    weights = types.SimpleNamespace(meta={"categories": [f"c{i}" for i in range(1000)]},
                                    url="https://example.invalid/inception_v3.pth")
    models = types.ModuleType("torchvision.models")
    models.inception_v3, models.Inception_V3_Weights = inception_v3, types.SimpleNamespace(IMAGENET1K_V1=weights)
    tv = types.ModuleType("torchvision")
    tv.models = models
    monkeypatch.setitem(sys.modules, "torchvision", tv)
    monkeypatch.setitem(sys.modules, "torchvision.models", models)
    return asked


def test_report_uses_inception_where_torchvision_imports(tiny_ckpt, monkeypatch):
    from diagnostics.checks import SampleBatch, split_real_data
    ck = load_checkpoint(tiny_ckpt)
    real, _ = load_real_data(ck)
    held = split_real_data(real, ck.meta["data"]).heldout
    batch = SampleBatch(held.images[:40], held.labels[:40], None, "ddim", 1, 0.0)
    quality = lambda: {r.key: r for r in run_all(ck, real, quick=True, samples=batch,
                                                 feature_net="inception")}["sample_quality"]
    monkeypatch.setitem(sys.modules, "torchvision", None)              # torchvision does not import: said so
    q = quality()
    assert q.verdict == "skip" and "Inception-v3 is not available here" in str(q.summary) and "torchvision" in str(q.summary)
    asked = _stand_in_torchvision(monkeypatch)
    q = quality()                                       # the 8×8 model the digits network refuses: Inception takes it
    assert asked and q.verdict != "skip", q.summary
    assert "inception-v3-torchvision" in str(q.summary) and q.numbers["fid_floor"] is not None
    assert any("299x299" in str(n) for n in q.notes)
    assert q.numbers["conditional_accuracy"] is None and any("are ImageNet's" in str(n) for n in q.notes)
