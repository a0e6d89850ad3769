"""The benchmark scripts end to end, in-process, at tiny settings: every script's quick path runs, writes its
JSON with the documented fields and provenance, and reports finite, positive numbers. No timing assertions:
speed targets live in the benchmarks' own output, never in tests.
"""
import json
import math
import signal
from pathlib import Path

import pytest
import torch

from bench import common
from diagnostics.intervals import Interval, target_verdict

pytestmark = pytest.mark.slow

ENVELOPE = ("benchmark", "quick", "commit", "command", "machine", "date", "duration_seconds", "tables")
MACHINE = ("cpu", "cores", "torch", "device", "torch_threads")



@pytest.fixture(autouse=True)
def scratch(tmp_path, monkeypatch):
    """Checkpoints the benchmarks train go to a temporary folder, never to bench/results/tmp."""
    monkeypatch.setattr(common, "SCRATCH_DIR", tmp_path / "scratch")


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    """A few steps of a very small class-conditional model with T=50 (quick to sample with DDPM)."""
    from ddpm.train import TrainConfig, train
    out = tmp_path_factory.mktemp("tiny_run")
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        res = train(TrainConfig(data="digits", image_size=16, preset="tiny", base_channels=8, T=50, steps=4,
                                batch_size=16, warmup_steps=1, log_every=2, sample_every=0, save_every=0,
                                out=str(out), device="cpu"))
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    return res.checkpoint   # last.safetensors: EMA and raw weights


def positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def unit(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and 0.0 <= x <= 1.0


def check_envelope(payload: dict, name: str, path: Path) -> dict:
    for k in ENVELOPE:
        assert k in payload, f"{name}: missing {k}"
    assert payload["benchmark"] == name and payload["quick"] is True
    c = payload["commit"]
    assert c == "uncommitted" or (len(c) == 40 and all(ch in "0123456789abcdef" for ch in c))
    for k in MACHINE:
        assert payload["machine"][k] is not None, f"{name}: machine.{k}"
    assert payload["json"] == str(path) and path.exists()
    on_disk = json.loads(path.read_text())   # strict JSON: NaN would have been written as null
    assert on_disk["benchmark"] == name and on_disk["date"] == payload["date"]
    for t in payload["tables"]:
        assert t["rows"] and all(len(r) == len(t["columns"]) for r in t["rows"])
        assert common.format_table(t) and common.markdown_table(t).count("\n") >= len(t["rows"]) + 2
    return on_disk


# --------------------------------------------------------------------------------------------- common
def test_common_helpers(tmp_path):
    assert common.git_commit() == "uncommitted" or len(common.git_commit()) == 40
    info = common.machine_info("cpu")
    assert info["cores"] >= 1 and info["torch"] == torch.__version__ and info["device"] == "cpu"
    p = common.write_json({"a": float("nan"), "b": [1.5, float("inf")], "c": torch.tensor([1, 2])}, tmp_path / "x.json")
    assert json.loads(p.read_text()) == {"a": None, "b": [1.5, None], "c": [1, 2]}
    assert common.results_path("foo", quick=True).parent == common.QUICK_DIR
    assert common.results_path("foo", quick=False) == common.RESULTS_DIR / "foo.json"
    assert positive(common.matmul_gflops("cpu", n=128, repeats=1))


def test_an_interval_cell_names_what_it_holds():
    """A table cell of an interval: the estimate and its ends, the estimate alone said so where there is no interval
    (too few samples), nothing where there is no estimate."""
    assert common.interval_text(Interval(1.234, 1.01, 1.5).as_dict()) == "1.23 (1.01-1.50)"
    assert common.interval_text(Interval(0.5, 0.41, 0.62).as_dict(), ".3f") == "0.500 (0.410-0.620)"
    assert common.interval_text(Interval(2.0, reason="too few").as_dict()) == "2.00 (no interval)"
    assert common.interval_text(None) is None and common.interval_text({}) is None


# --------------------------------------------------------------------------------------------- scripts
def test_train_speed(tmp_path):
    from bench import train_speed
    out = tmp_path / "train_speed.json"
    sig = signal.getsignal(signal.SIGINT)
    res = train_speed.run(quick=True, presets=["tiny"], batch=8, steps=2, warmup=1, trainer=True, out_json=str(out))
    assert signal.getsignal(signal.SIGINT) is sig        # train() must not leave its handler behind
    check_envelope(res, "train_speed", out)
    (row,) = res["rows"]
    assert row["preset"] == "tiny" and row["batch_size"] == 8 and row["timed_steps"] == 2
    for k in ("parameters", "steps_per_s", "images_per_s", "step_seconds_median", "train_gflop_per_image",
              "achieved_gflops", "trainer_steps_per_s"):
        assert positive(row[k]), k
    assert row["parameters"] == 1_114_209          # the tiny preset at 16x16, 10 classes
    assert positive(res["matmul_fp32_gflops"]) and positive(res["conv_fp32_gflops"])


def test_sample_speed(tiny_ckpt, tmp_path):
    from bench import sample_speed
    out = tmp_path / "sample_speed.json"
    res = sample_speed.run(quick=True, ckpt=tiny_ckpt, batch_sizes=[1, 3], ddim_steps=[2, 4], cfg_batch_sizes=[2],
                           solver_steps=[3], ddpm_timed_steps=3, out_json=str(out))
    check_envelope(res, "sample_speed", out)
    assert res["T"] == 50 and res["model"]["checkpoint"] == tiny_ckpt
    assert {(r["label"], r["batch_size"]) for r in res["rows"]} == {
        (lab, b) for lab in ("DDPM-50", "DDIM-2", "DDIM-4", "DPM-Solver++(2M)-3", "UniPC-3") for b in (1, 3)}
    assert "generate()" in res["method"]          # timed where users call it, not inside sample_loop
    for r in res["rows"]:
        assert r["extrapolated_from_steps"] == (3 if r["sampler"] == "ddpm" else None)
        for k in ("seconds", "images_per_s", "ms_per_step", "network_ms_per_step"):
            assert positive(r[k]), k
        assert unit(r["outside_network_share"]) and isinstance(r["overhead_ok"], bool)
    (c,) = res["cfg"]
    for k in ("unguided_ms_per_step", "guided_ms_per_step", "forward_ms_2x_batch", "guided_over_unguided",
              "guided_over_2x_forward"):
        assert positive(c[k]), k
    assert res["overhead_target"] == 0.05 and isinstance(res["cfg_ok"], bool)


def test_speed(tmp_path):
    pytest.importorskip("diffusers")
    from bench import speed
    out = tmp_path / "speed.json"
    res = speed.run(quick=True, train_batch=4, sample_batch=4, steps=1, out_json=str(out))
    check_envelope(res, "speed", out)
    ours, theirs = res["models"]["ours"], res["models"]["diffusers"]
    assert ours["parameters"] == theirs["parameters"] == 1_114_209   # the configurations really match
    for m in (ours, theirs):
        assert positive(m["forward_gflop_per_image"]) and m["train_gflop_per_image"] > m["forward_gflop_per_image"]
    assert all(positive(res[k][d]) for k in ("matmul_gflops", "conv_gflops") for d in ("fp32", "bf16"))
    assert {(r["model"], r["variant"]) for r in res["rows"]} == {
        (m, v) for m in ("ours", "diffusers") for v in ("eager", "channels_last", "bf16")}
    for r in res["rows"]:
        assert "error" not in r, r
        for k in ("train_steps_per_s", "train_images_per_s", "train_gflops", "forward_images_per_s", "forward_gflops"):
            assert positive(r[k]), (r["model"], r["variant"], k)


QUALITY_ROW = ("sampler", "steps", "eta", "variance", "fid", "fid_floor", "inception_score", "precision", "recall",
               "conditional_accuracy", "network_calls", "seconds", "n", "reference", "network", "checkpoint")


def test_quality_vs_steps(tiny_ckpt, tmp_path):
    from bench import quality_vs_steps
    out = tmp_path / "quality_vs_steps.json"
    out.write_text(json.dumps({"by_checkpoint": {"0123456789abcdef": {"rows": [], "note": "an earlier checkpoint"}}}))
    res = quality_vs_steps.run(quick=True, ckpt=tiny_ckpt, n=64, steps=[2, 5], etas=[0.0, 1.0], ddpm=True,
                               out_json=str(out), solvers=["dpmpp_2m", "unipc"], solver_calls=[3])
    disk = check_envelope(res, "quality_vs_steps", out)
    rows = disk["rows"]
    assert [(r["sampler"], r["steps"], r["eta"], r["variance"]) for r in rows] == [
        ("ddpm", 50, None, "fixed_small"), ("ddpm", 50, None, "fixed_large"),
        ("ddim", 2, 0.0, None), ("ddim", 2, 1.0, None), ("ddim", 5, 0.0, None), ("ddim", 5, 1.0, None),
        ("dpmpp_2m", 3, None, None), ("unipc", 3, None, None)]
    assert [r["series"] for r in rows[-2:]] == ["DPM-Solver++(2M)", "UniPC"]
    assert quality_vs_steps.plan_rows(1000, False, None, None, False, solvers=["unipc"], karras=True)[-1].options == \
        {"karras": True}
    sha = res["checkpoint"]["sha256"]
    assert sha == common.sha256_prefix(tiny_ckpt)
    for r in rows:
        for k in QUALITY_ROW:
            assert k in r, k
        assert r["fid"] >= 0 and math.isfinite(r["fid"]) and positive(r["fid_floor"])
        assert 1.0 <= r["inception_score"] <= 10.0 + 1e-9
        assert unit(r["precision"]) and unit(r["recall"]) and unit(r["conditional_accuracy"])
        assert r["network_calls"] == r["steps"] and positive(r["seconds"]) and r["n"] == 64
        assert r["checkpoint"] == {"path": tiny_ckpt, "sha256": sha, "step": 4, "weights": "ema"}
        assert "digits" in r["reference"] and r["network"]
    assert len({r["fid_floor"] for r in rows}) == 1                # one floor: same n, same reference
    # every row: FID / floor with its interval; every row but the first DDPM: FID / DDPM's, paired, and the targets
    assert all(r["fid_ratio"]["low"] <= r["fid_ratio"]["estimate"] <= r["fid_ratio"]["high"] for r in rows)
    assert "ratio_to_ddpm" not in rows[0] and disk["baseline"]["series"] == rows[0]["series"]
    for r in rows[1:]:
        iv = r["ratio_to_ddpm"]
        assert iv["estimate"] == pytest.approx(r["fid"] / rows[0]["fid"]) and iv["low"] < iv["estimate"] < iv["high"]
        assert iv["method"]["key"] == "interval.bootstrap_paired"
    assert [t["calls"] for t in disk["targets"]] == [10, 20]
    for t in disk["targets"]:
        best = next(r for r in rows if r["series"] == t["best"] and r["network_calls"] == t["best_calls"])
        assert best["network_calls"] <= t["calls"] and t["ratio"] == best["ratio_to_ddpm"]
        assert t["verdict"] == target_verdict(Interval(t["ratio"]["estimate"], t["ratio"]["low"], t["ratio"]["high"]),
                                              t["bound"])
    assert disk["targets"][0]["bound"] == 1.3
    assert disk["targets"][1]["bound"] == pytest.approx(1 + 2 * rows[0]["fid_floor_std"] / rows[0]["fid_floor"])
    rank = {"met": 0, "not resolved": 1, "not met": 2}
    for t in disk["targets"]:           # the named row decides the budget: no row at that cost does better
        others = [target_verdict(Interval(r["ratio_to_ddpm"]["estimate"], r["ratio_to_ddpm"]["low"],
                                          r["ratio_to_ddpm"]["high"]), t["bound"])
                  for r in rows[1:] if r["network_calls"] <= t["calls"]]
        assert rank[t["verdict"]] == min(rank[v] for v in others) and t["rows_judged"] == len(others)
    assert [row[-1] for row in disk["tables"][1]["rows"]] == [t["verdict"] for t in disk["targets"]]
    assert disk["conclusion"]["sentence"].count(" calls the deciding row of ") == 2
    tables = disk["tables"]                                      # --retable rebuilds them from the rows alone
    disk["tables"], disk["conclusion"] = [], None
    out.write_text(json.dumps(disk))
    assert quality_vs_steps.main(["--retable", str(out)]) == 0
    again = json.loads(out.read_text())
    assert again["tables"] == tables and again["rows"] == rows and again["conclusion"]["sentence"]
    assert disk["same_x_T_for_every_row"] and len(disk["x_T_sha256"]) == 16
    assert set(disk["by_checkpoint"]) == {"0123456789abcdef", sha}     # earlier checkpoints are kept
    assert disk["by_checkpoint"][sha]["rows"] == rows
    html = Path(res["figure_html"])
    assert html.exists() and html.stat().st_size > 10_000 and "plotly" in html.read_text()[:200_000].lower()
    assert res["figure_png"] or res["png_note"]


def test_recipes(tmp_path):
    from bench import recipes
    out = tmp_path / "recipes.json"
    sig = signal.getsignal(signal.SIGINT)
    res = recipes.run(quick=True, budget_seconds=1.0, base_channels=8, batch_size=16, n=64, eval_steps=3,
                      work_dir=str(tmp_path / "runs"), out_json=str(out))
    assert signal.getsignal(signal.SIGINT) is sig
    disk = check_envelope(res, "recipes", out)
    names = ["baseline", "cosine", "v", "min_snr"]
    assert [r["recipe"] for r in disk["runs"]] == names
    assert {(r["recipe"], r["weights"]) for r in disk["rows"]} == {(n, w) for n in names for w in ("ema", "raw")}
    for run_ in disk["runs"]:
        assert 0 < run_["steps_reached"] < 100_000 and positive(run_["train_loop_seconds"])
        assert Path(run_["checkpoint"]).exists()
    for r in disk["rows"]:
        assert r["fid"] >= 0 and positive(r["fid_floor"]) and unit(r["conditional_accuracy"])
    factors = {r["recipe"]: (r["schedule"], r["objective"], r["weighting"]) for r in disk["runs"]}
    assert factors == {"baseline": ("linear", "eps", "simple"), "cosine": ("cosine", "eps", "simple"),
                       "v": ("linear", "v", "simple"), "min_snr": ("linear", "eps", "min_snr")}
    w = disk["winner"]
    assert w["recipe"] in names and w["weights"] in ("ema", "raw")
    assert w["fid"] == min(r["fid"] for r in disk["rows"]) and w["recipe"] in disk["winner_sentence"]


def test_run_all_summary_and_failures(tiny_ckpt, tmp_path, monkeypatch):
    from bench import quality_vs_steps, run_all

    def broken(**kw):
        raise RuntimeError("deliberately broken for the test")

    monkeypatch.setattr(quality_vs_steps, "run", broken)
    res = run_all.run(quick=True, only=["sample_speed", "quality_vs_steps"], ckpt=tiny_ckpt, out_dir=str(tmp_path))
    assert not res["ok"]
    status = {r["name"]: r["status"] for r in res["results"]}
    assert status == {"sample_speed": "ok", "quality_vs_steps": "failed"}
    md = (tmp_path / "SUMMARY.md").read_text()
    assert "# DDPM Workbench benchmarks (quick)" in md and "machine:" in md and "date:" in md
    assert "Sampling images/s" in md and "deliberately broken" in md
    index = json.loads((tmp_path / "run_all.json").read_text())
    assert [b["name"] for b in index["benchmarks"]] == ["sample_speed", "quality_vs_steps"]
    assert (tmp_path / "sample_speed.json").exists()


def test_guidance(tiny_ckpt, tmp_path):
    from bench import guidance
    from ddpm import read_metadata
    from ddpm.diffusion import DiffusionConfig
    from ddpm.train_classifier import train_classifier
    clf = tmp_path / "clf.safetensors"
    train_classifier("digits", 16, DiffusionConfig.from_dict(read_metadata(tiny_ckpt)["diffusion"]), str(clf),
                     steps=3, batch_size=16, base_channels=8)
    out = tmp_path / "guidance.json"
    res = guidance.run(quick=True, ckpt=tiny_ckpt, classifier=str(clf), n=20, steps=3, out_json=str(out))
    disk = check_envelope(res, "guidance", out)
    assert [(r["cfg_scale"], r["classifier_scale"]) for r in disk["rows"]] == guidance.QUICK_ROWS
    # each row's floor matches its class mix: random for the unguided row, the samples' class counts otherwise
    assert [r["floor_classes"] for r in disk["rows"]] == ["random", "matched", "matched"]
    for r in disk["rows"]:
        assert unit(r["conditional_accuracy"]) and r["fid"] >= 0 and positive(r["fid_floor"])
        assert positive(r["pairwise_distance"]) and r["n"] == 20
    assert "digits" in disk["reference"] and disk["network"]


def test_guidance_without_a_classifier(tiny_ckpt, tmp_path):
    # a model with no noise-aware classifier (the MNIST one): classifier-free rows only, at the asked scales
    from bench import guidance
    out = tmp_path / "guidance.json"
    res = guidance.run(quick=True, ckpt=tiny_ckpt, classifier="none", cfg_scales=[0, 2], n=60, steps=3,
                       out_json=str(out), eta=1.0)
    disk = check_envelope(res, "guidance", out)
    assert [(r["cfg_scale"], r["classifier_scale"]) for r in disk["rows"]] == [(0.0, 0.0), (2.0, 0.0)]
    assert disk["classifier"] is None and [r["floor_classes"] for r in disk["rows"]] == ["random", "matched"]
    assert disk["rows"][0]["within_class_diversity"] is None       # w = 0: the samples have no class to compare
    for r in disk["rows"]:                 # every number with its interval: accuracy, FID/floor, within-class spread
        assert r["sampler"] == "DDIM-3, eta 1"
        keys = ("conditional_accuracy_interval", "fid_ratio") + (("within_class_diversity",) if r["cfg_scale"] else ())
        for key in keys:
            iv = r[key]
            assert iv["low"] <= iv["estimate"] <= iv["high"], (key, iv)
        assert r["conditional_accuracy_interval"]["estimate"] == pytest.approx(r["conditional_accuracy"])
        assert r["fid_ratio"]["estimate"] == pytest.approx(r["fid_matched"] / r["fid_floor"])
    table = disk["tables"][0]
    assert "within-class diversity (95%)" in table["columns"] and "eta 1" in table["title"]
    with pytest.raises(SystemExit):
        guidance.main(["--cfg-scales", "1", "2"])          # the classifier grid is fixed: refused, not ignored
    with pytest.raises(SystemExit):
        guidance.main(["--classifier", "none", "--eta", "2"])


def test_guidance_rows_on_a_guidance_interval(tiny_ckpt, tmp_path, monkeypatch):
    """--guidance-interval: every row samples with it (ddpm.generate receives it), records it and names it in the
    table's title; a bad interval is refused by the parser with the core's message."""
    from bench import guidance
    from ddpm.guidance import GuidanceInterval
    from diagnostics import sweep
    seen, real_generate = [], sweep.generate

    def recording(*args, **kw):
        seen.append(kw.get("guidance_interval"))
        return real_generate(*args, **kw)
    monkeypatch.setattr(sweep, "generate", recording)
    out = tmp_path / "guidance.json"
    res = guidance.run(quick=True, ckpt=tiny_ckpt, classifier="none", cfg_scales=[2], n=60, steps=3,
                       out_json=str(out), guidance_interval=(0.28, 5.42))
    disk = check_envelope(res, "guidance", out)
    assert seen == [GuidanceInterval(0.28, 5.42)] and disk["rows"][0]["guidance_interval"] == [0.28, 5.42]
    assert "guidance only on s ∈ (0.28, 5.42]" in disk["tables"][0]["title"]
    with pytest.raises(SystemExit):
        guidance.main(["--classifier", "none", "--guidance-interval", "5", "1"])


def test_guidance_within_class_diversity_is_the_mean_of_the_class_ratios():
    """The bench's within-class column is the report's measure: the mean over classes of the samples' mean pairwise
    distance over the real images' (float64, here on two classes with known spreads)."""
    from bench.guidance import _within_class
    from ddpm.images import ImageDataset
    from ddpm.sampling import SampleResult
    g = torch.Generator().manual_seed(0)
    gen = torch.cat([0.5 * torch.randn(30, 1, 4, 4, generator=g), 2.0 * torch.randn(30, 1, 4, 4, generator=g)])
    real = torch.randn(80, 1, 4, 4, generator=g)
    gl, rl = torch.arange(60) // 30, torch.arange(80) // 40
    res = SampleResult(gen, gl, gen, [], 1, 0.0, None, {})
    iv = _within_class(res, ImageDataset(real, rl, ["a", "b"], "toy"))

    def mean_pairwise(x):
        d = torch.cdist(x.double().flatten(1), x.double().flatten(1))
        return float(d.sum() / (len(x) * (len(x) - 1)))
    expected = sum(mean_pairwise(gen[gl == c]) / mean_pairwise(real[rl == c]) for c in (0, 1)) / 2
    assert iv["estimate"] == pytest.approx(expected, rel=1e-12) and iv["low"] < expected < iv["high"]


def test_quick_results_are_ignored_never_tracked():
    # running the quick benchmarks must leave the checkout clean: nothing under bench/results/quick is tracked
    import subprocess
    root = Path(common.__file__).resolve().parents[1]
    tracked = subprocess.run(["git", "ls-files", "bench/results/quick"], cwd=root, capture_output=True, text=True,
                             check=True).stdout
    assert tracked == "", tracked
    probe = common.results_path("guidance", quick=True)
    assert subprocess.run(["git", "check-ignore", "-q", str(probe)], cwd=root).returncode == 0
