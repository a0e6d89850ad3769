"""The diagnostics report in 中文 from messages as data: every sentence a check writes is a key of
diagnostics/locales/{en,zh}.toml and its values, rendered in the report's language where it is shown. Every branch
of every check renders in Chinese with no English sentence left and the same numbers as in English; a whole quick
report on the bundled digits model and on a diffusers pipeline (which records no data set, step or classes) reads as
Chinese page through; `python -m diagnostics render … --lang zh` writes one from a saved report.json's keys."""
from __future__ import annotations

import html
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ddpm.messages import Message, msg, render
from diagnostics.report import load_report, to_html, to_markdown

ROOT = Path(__file__).resolve().parents[1]
CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBERS = lambda s: Counter(re.findall(r"\d+(?:[.,]\d+)*", s))      # noqa: E731  (each number as often as written)
# A Latin-script sentence: three or more English words in a row (words joined by spaces or light punctuation).
# Code (<code>, `…`), the raw-number dumps (<pre>), scripts and styles are left out first; file names, units,
# check keys, sampler names and identifiers are single tokens, so they never make a run of three words.
WORD = r"[A-Za-z][A-Za-z'’]*"
SENTENCE = re.compile(rf"\b{WORD}(?:[ ,;:]+{WORD}){{2,}}\b")


def latin_sentences(text: str) -> list[str]:
    """The English sentences (runs of three or more words) in a rendered text, outside code."""
    text = re.sub(r"<script.*?</script>|<style.*?</style>|<pre.*?</pre>|<code>.*?</code>", " ", text, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "\n", text))
    text = re.sub(r"`[^`\n]*`", " ", text)
    return [m.group(0) for line in text.splitlines() for m in SENTENCE.finditer(line)]


def test_the_detector_finds_an_english_sentence_and_passes_code_and_file_names():
    assert latin_sentences("<p>样本质量 the samples are fine</p>") == ["the samples are fine"]
    assert latin_sentences("<p>检查点 digits_tiny.safetensors，DDIM，linear 噪声调度</p>") == []
    assert latin_sentences("<p>请运行 `python -m diagnostics likelihood CKPT`</p><code>loss: mse, weighting: simple</code>") == []


def sentences_of(result) -> list:
    """Every message a check result shows: summary, rule, fix, notes, captions and the likelihood parts."""
    out = [result.summary, result.threshold, result.fix, *result.notes]
    out += list((result.numbers.get("captions") or {}).values())
    out += [v for row in result.numbers.get("parts") or [] for k, v in row.items() if k in ("part", "meaning")]
    return [m for m in out if m]


# ------------------------------------------------------------------- every branch of every check, in 中文
def _every_branch(digits, extractor, random_unet, monkeypatch) -> list:
    """CheckResults from every check on inputs made to reach its branches (ok, warn, fail, skip, the notes each
    adds): cheap stand-ins (a tiny random U-Net at 8×8, T = 50; the digits; hand-made trajectories)."""
    from dataclasses import replace

    import torch

    from ddpm import DiffusionConfig, GaussianDiffusion, Trajectory
    from diagnostics import checks
    from diagnostics.checks import generalisation as gen_module
    from diagnostics.checks.likelihood import check_likelihood, likelihood_on_report_splits
    from diagnostics.checks.runner import RealSplits, split_real_data
    from diagnostics.thresholds import DEFAULT_THRESHOLDS

    train, held = digits                                   # 16×16 digits, split 80/20
    x, h = train.images[:64], held.images[:64]
    out = []
    # model basics: clean (with and without a weights kind), every problem at once, no parameters
    lin = torch.nn.Linear(3, 3).eval()
    out += [checks.check_model_basics(lin, "ema"), checks.check_model_basics(lin)]
    broken = torch.nn.Linear(3, 3)                         # train mode
    with torch.no_grad():
        broken.weight[0, 0] = float("nan")
        broken.weight[1] = 500.0
    out += [checks.check_model_basics(broken, "raw"), checks.check_model_basics(torch.nn.Sequential()),
            checks.check_model_basics(torch.nn.Linear(3, 3), "raw")]
    # schedule: sound, and every problem
    out += [checks.check_schedule(torch.linspace(1e-4, 0.02, 1000)),
            checks.check_schedule(torch.tensor([0.5, 0.001, 1.5])),
            checks.check_schedule(torch.tensor([0.3, 0.001, 0.001]))]
    # noise prediction: the oracle (ok), x_t itself (off at small t: warn), zeros (fail), NaN (fail)
    d = GaussianDiffusion(DiffusionConfig("linear", 50))
    net = random_unet(image_size=16)

    class Stand(torch.nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.inner, self.config, self.fn = net, net.config, fn

        def forward(self, x_t, t, y=None):
            return self.fn(x_t, t)
    for fn in (lambda x_t, t: x_t, lambda x_t, t: x_t * (0.3 if int(t[0]) == 0 else 1.0),
               lambda x_t, t: torch.zeros_like(x_t), lambda x_t, t: x_t * float("nan")):
        out.append(checks.check_noise_prediction(Stand(fn), d, x[:16], source=msg("data.real_images", name="digits")))
    out.append(checks.check_noise_prediction(Stand(lambda x_t, t: x_t), d, x[:16],
                                             source=msg("data.generated_no_real")))
    out.append(checks.check_noise_prediction(Stand(lambda x_t, t: x_t), GaussianDiffusion(DiffusionConfig(
        "linear", 50, objective="x0")), x[:16], source=msg("data.real_images", name="digits")))     # rows shown but not judged
    # x̂_0 range: in range, a little outside, far outside without clipping, no trajectory
    inside = x[:8].unsqueeze(0).repeat(3, 1, 1, 1, 1)
    little = inside.clone()
    little[..., :2, :] = 1.5                               # 2 rows of 16: 12.5% of the pixels
    out += [checks.check_x0_range(Trajectory([40, 20, 0], inside, inside), 50),
            checks.check_x0_range(Trajectory([40, 20, 0], little, little), 50, "ddim"),
            checks.check_x0_range(Trajectory([40, 20, 0], inside * 5, inside * 5), 50, clip_denoised=False),
            checks.check_x0_range(None, 50)]
    # smoothness and diversity: real images (ok), blurred, noisy, one image repeated, no real data, NaN
    g = torch.Generator().manual_seed(0)
    noisy = (h + 0.6 * torch.randn(h.shape, generator=g)).clamp(-1, 1)
    blurred = torch.nn.functional.avg_pool2d(h, 5, 1, 2, count_include_pad=False)
    same = h[:1].repeat(len(h), 1, 1, 1)
    nan = h.clone()
    nan[0] = float("nan")
    for images in (h, blurred, noisy):
        out.append(checks.check_smoothness(images, x))
    out += [checks.check_smoothness(h, None, real_reason=msg("common.no_real_data")), checks.check_smoothness(h, x[:, :, :8]),
            checks.check_smoothness(nan, x)]
    for images in (h, same):
        out.append(checks.check_diversity(images, x, held.labels[:64], train.labels[:64], train.class_names))
    for images in (torch.cat([h[:16], h[:1].repeat(48, 1, 1, 1)]), torch.randn(h.shape, generator=g).clamp(-1, 1)):
        out.append(checks.check_diversity(images, x))
    out += [checks.check_diversity(h, None, real_reason=msg("common.no_real_data")), checks.check_diversity(same),
            checks.check_diversity(h[:1])]
    # memorisation: new images (ok), copies (warn), trained on the held-out images, no split
    out += [checks.check_memorisation(held.images[64:128], train.images, h),
            checks.check_memorisation(train.images[:64], train.images, h),
            checks.check_memorisation(held.images[64:128], train.images, h, heldout_seen=True),
            checks.check_memorisation(h, train.images, None), checks.check_memorisation(h, None, None),
            checks.check_memorisation(nan, train.images, h)]
    # sample quality: real held-out images (ok, at the floor), noise (every problem), the skips
    labels = held.labels[64:128]
    out += [checks.check_sample_quality(held.images[64:128], labels, train, held, extractor, data={"name": "digits"}),
            checks.check_sample_quality(torch.rand(64, 1, 16, 16, generator=g) * 2 - 1, (labels + 1) % 10, train,
                                        held, extractor, data={"name": "digits"}),
            checks.check_sample_quality(h, None, train, None, extractor, data={"name": "digits"}),
            checks.check_sample_quality(h, None, train, held, None), checks.check_sample_quality(h, None, None, held,
                                                                                                 extractor),
            checks.check_sample_quality(h, None, train, held, extractor, data={"name": "mnist"}),
            checks.check_sample_quality(h, None, train, held, extractor, data={"image_size": 28}),
            checks.check_sample_quality(h, None, train, held, extractor, data={"channels": 3})]
    # generalisation: a model that denoises both alike (ok), one that knows its training images (warn), skips
    model = random_unet(num_classes=0, image_size=16)
    out.append(checks.check_generalisation(model, d, x, h, n=16, draws=1))
    real = gen_module.paired_denoising_losses

    def knows_training(*a, **kw):
        tr, he = real(*a, **kw)
        return tr * 0.2, he
    monkeypatch.setattr(gen_module, "paired_denoising_losses", knows_training)
    out.append(checks.check_generalisation(model, d, x, h, n=16, draws=1))
    monkeypatch.setattr(gen_module, "paired_denoising_losses", real)
    out += [checks.check_generalisation(model, d, x, h, heldout_seen=True), checks.check_generalisation(model, d, x, None),
            checks.check_generalisation(model, d, None, None)]
    # likelihood (bits/dim): with a held-out split, without one, quick mode, no data
    whole = train.__class__(torch.cat([train.images, held.images]), torch.cat([train.labels, held.labels]),
                            train.class_names, "digits")
    splits = split_real_data(whole, {"holdout": 0.2, "split_seed": 0, "num_images": len(train)})
    seen = split_real_data(whole, {"holdout": 0})
    out += [check_likelihood(model, d, splits, n=4, stride=10), check_likelihood(model, d, seen, n=4, stride=10),
            likelihood_on_report_splits(model, d, splits, n=0, stride=10), check_likelihood(model, d, None, n=4),
            check_likelihood(model, d, RealSplits(train, None, notes=[msg("split.too_few")]), n=4, stride=10)]
    seen_r = checks.check_memorisation(held.images[64:128], splits.reference.images, None)
    seen_r.notes += seen.notes
    out.append(seen_r)
    # performance: fast enough (ok) and too slow (warn)
    out += [checks.check_performance(model, d, batch=4, memory_batch_sizes=(1,), repeats=1, ddim_steps=10),
            checks.check_performance(model, d, batch=4, memory_batch_sizes=(1,), repeats=1, ddim_steps=10,
                                     thresholds=replace(DEFAULT_THRESHOLDS, projected_seconds_warn=0.0))]
    return out


def test_every_branch_of_every_check_is_messages_rendered_in_chinese(digits, extractor, random_unet, monkeypatch):
    """Every check on inputs that reach its ok / warn / fail / skip branches and notes: each sentence is a Message,
    its Chinese has no English sentence and the same numbers as its English (as many of each; Chinese grammar may
    put them in another order, which the templates' placeholders, not positions, take care of)."""
    results = _every_branch(digits, extractor, random_unet, monkeypatch)
    reached = {(r.key, r.verdict) for r in results}
    want = {("model", "ok"), ("model", "warn"), ("model", "fail"), ("schedule", "ok"), ("schedule", "warn"),
            ("schedule", "fail"), ("noise_prediction", "ok"), ("noise_prediction", "warn"), ("noise_prediction", "fail"),
            ("x0_range", "ok"), ("x0_range", "warn"), ("x0_range", "fail"), ("x0_range", "skip"),
            ("smoothness", "ok"), ("smoothness", "warn"), ("smoothness", "fail"), ("smoothness", "skip"),
            ("diversity", "ok"), ("diversity", "warn"), ("diversity", "fail"), ("diversity", "skip"),
            ("memorisation", "ok"), ("memorisation", "warn"), ("memorisation", "skip"),
            ("sample_quality", "ok"), ("sample_quality", "warn"), ("sample_quality", "skip"),
            ("generalisation", "ok"), ("generalisation", "warn"), ("generalisation", "skip"),
            ("likelihood", "ok"), ("likelihood", "skip"), ("performance", "ok"), ("performance", "warn")}
    assert want <= reached, want - reached
    keys = {m.key for r in results for m in sentences_of(r)}
    assert {"smooth.blurred", "smooth.noisy", "diversity.less", "diversity.more", "noise.note_x0_objective",
            "quality.note_at_floor", "likelihood.part_kl"} <= keys
    from diagnostics.checks.quality import floor_note
    from types import SimpleNamespace
    notes = [floor_note(SimpleNamespace(fid_floor=f, n_floor=64, floor_draws=d), conditional, seen)
             for f, d, conditional, seen in ((0.5, 10, True, False), (0.5, 1, False, True), (None, 0, True, False))]
    for r in results:
        assert r.messages_only, (r.key, r.verdict, r.summary)
    for m in [m for r in results for m in sentences_of(r)] + notes:
        assert isinstance(m, Message), m
        en, zh = render(m, "en"), render(m, "zh")
        assert CJK.search(zh) and latin_sentences(zh) == [], (m.key, zh)
        assert NUMBERS(en) == NUMBERS(zh), (m.key, en, zh)


# ----------------------------------------------------------------------- whole reports, rendered in 中文
@pytest.fixture(scope="module")
def digits_report(tmp_path_factory):
    from diagnostics import run_report
    return run_report(ROOT / "checkpoints" / "digits_tiny.safetensors", tmp_path_factory.mktemp("digits_report"),
                      quick=True, n=20, seed=0, lang="zh")


@pytest.fixture(scope="module")
def diffusers_report(tmp_path_factory):
    """A diffusers pipeline records no data set, no training step and no classes: the report says so in words."""
    from tests.diffusers_fixtures import train_pipeline
    from diagnostics import run_report
    folder = tmp_path_factory.mktemp("pipe") / "pipe"
    train_pipeline(folder, steps=3)
    return run_report(folder, tmp_path_factory.mktemp("diffusers_report"), quick=True, n=8, seed=0, lang="zh")


@pytest.mark.parametrize("which", ["digits_report", "diffusers_report"])
def test_a_whole_report_in_chinese_has_no_english_sentence_and_the_same_numbers(which, request):
    files = request.getfixturevalue(which)
    report = files.report
    page, md = files.html_path.read_text(encoding="utf-8"), files.md_path.read_text(encoding="utf-8")
    assert latin_sentences(page) == [] and latin_sentences(md) == []
    assert '<html lang="zh-CN">' in page and "<h2>摘要</h2>" in page and "各时间步的信噪比" in page
    assert md.startswith("# 诊断：") and "| 检查 | 结论 | 摘要 | 修正建议 |" in md
    for c in report.checks:
        assert c.messages_only, c.key
        for m in sentences_of(c):
            assert NUMBERS(render(m, "en")) == NUMBERS(render(m, "zh")), m.key
    assert NUMBERS(to_markdown(report, "en")) == NUMBERS(md)


def test_the_diffusers_model_line_says_unknown_not_none(diffusers_report):
    md = diffusers_report.md_path.read_text(encoding="utf-8")
    line = next(x for x in md.splitlines() if x.startswith("模型："))
    assert "无类别" in line and "第 未知 步" in line and "数据 未知" in line and "原样保存的权重" in line, line
    page = re.sub(r"<script.*?</script>", "", diffusers_report.html_path.read_text(encoding="utf-8"), flags=re.S)
    for leak in ("None", "无 个类别", "as saved", "Eval mode", "finite parameters"):
        assert leak not in md and leak not in page, leak
    en = to_markdown(diffusers_report.report, "en")
    assert "no classes" in en and "step unknown" in en and "data unknown" in en and "None" not in en


def test_report_json_keeps_english_text_and_the_messages(digits_report):
    import json
    d = json.loads(digits_report.json_path.read_text(encoding="utf-8"))
    model = next(c for c in d["checks"] if c["key"] == "model")
    assert model["summary"].startswith("Eval mode, 1,114,209 finite parameters")      # English for old readers
    assert model["messages"]["summary"]["key"] == "model.ok_weights"
    assert model["messages"]["summary"]["values"]["params"] == 1114209            # a number, unformatted
    back = load_report(digits_report.json_path)
    assert not back.legacy and to_markdown(back, "zh") == digits_report.md_path.read_text(encoding="utf-8")


def test_render_cli_writes_the_chinese_report_from_the_stored_keys(digits_report, tmp_path):
    r = subprocess.run([sys.executable, "-m", "diagnostics", "render", str(digits_report.json_path), "--out",
                        str(tmp_path), "--lang", "zh"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "report.md").read_text(encoding="utf-8") == digits_report.md_path.read_text(encoding="utf-8")
    assert (tmp_path / "report.html").stat().st_size > 0 and not (tmp_path / "report.json").exists()
    bad = subprocess.run([sys.executable, "-m", "diagnostics", "render", str(tmp_path / "nope.json"), "--out",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "could not be rendered" in bad.stderr


def test_a_report_written_before_messages_renders_in_english_only(tmp_path):
    """The committed reports under docs/ store English text only: English renders, Chinese is refused with what to
    do (the CLI exits 2)."""
    old = ROOT / "docs" / "report" / "report.json"
    report = load_report(old)
    assert report.legacy and to_markdown(report, "en").startswith("# Diagnostics:")
    with pytest.raises(ValueError, match="English only"):
        to_html(report, "zh")
    r = subprocess.run([sys.executable, "-m", "diagnostics", "render", str(old), "--out", str(tmp_path), "--lang",
                        "zh"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "English only" in r.stderr


def test_the_figures_are_titled_in_chinese_with_the_same_numbers(digits_report):
    from ddpm import SCHEDULES
    from diagnostics.plots import FIGURES, draw_figures
    report = digits_report.report
    drawn = 0
    for c in report.checks:
        en, zh = draw_figures(c, "en"), draw_figures(c, "zh")
        assert not en.not_drawn and not zh.not_drawn and len(en.figures) == len(zh.figures)
        for a, b in zip(en.figures, zh.figures):
            drawn += 1
            assert CJK.search(b.layout.title.text) and not CJK.search(a.layout.title.text)
            words = [b.layout.xaxis.title.text, b.layout.yaxis.title.text] + [tr.name for tr in b.data]
            english = [a.layout.xaxis.title.text, a.layout.yaxis.title.text] + [tr.name for tr in a.data]
            for w_zh, w_en in zip(words, english):     # in Chinese unless a symbol (t, MiB, MSE(ε̂, ε)) or a schedule
                assert CJK.search(w_zh or "") or w_zh == w_en and (w_en in SCHEDULES or not re.search(
                    r"[a-z]{4,}", w_en or "")), (w_en, w_zh)
            assert [list(tr.y) for tr in a.data] == [list(tr.y) for tr in b.data]
    assert drawn == sum(len(FIGURES.get(c.key, [])) for c in report.checks if c.verdict != "skip") >= 6
    page = digits_report.html_path.read_text(encoding="utf-8")
    assert "原始数值" in page and "(raw numbers" not in page
