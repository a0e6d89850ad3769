"""The diagnostics report in 中文: its own words, its figures' titles and axes, every sentence of the committed
reports and of every branch of every check have a Chinese form with the same numbers; each committed Chinese
report is its English report.json rendered in Chinese; `python -m diagnostics render … --lang zh` writes it."""
from __future__ import annotations

import html
import re
import string
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from diagnostics import i18n
from diagnostics.report import load_report, to_html, to_markdown

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_REPORT = ROOT / "docs" / "report" / "report.json"
# every committed report and its committed Chinese rendering (python -m diagnostics render … --lang zh)
COMMITTED = [ROOT / "docs" / "report", ROOT / "docs" / "report_mnist", ROOT / "docs" / "report_mnist_w1",
             ROOT / "docs" / "report_mnist_full"]
CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBERS = lambda s: Counter(re.findall(r"\d+(?:[.,]\d+)*", s))      # noqa: E731  (each number as often as written)


def texts(report) -> list[str]:
    """Every sentence of a report: summaries, rules, fixes, notes, and what each number is (the sample-quality
    captions, the bits/dim parts and their meaning)."""
    out = []
    for c in report.checks:
        out += [c.summary, c.threshold, c.fix, *c.notes, *(c.numbers.get("captions") or {}).values()]
        out += [v for row in c.numbers.get("parts") or [] for k, v in row.items() if k in ("part", "meaning")]
    return [t for t in out if t]


@pytest.mark.parametrize("table,key", [("TEXT", k) for k in sorted(i18n.TEXT)] +
                         [("FIGURES", k) for k in sorted(i18n.FIGURES)])
def test_each_report_and_figure_word_has_both_languages_with_the_same_placeholders(table, key):
    en, zh = getattr(i18n, table)[key]
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}     # noqa: E731
    assert en and CJK.search(zh) and fields(en) == fields(zh)


def test_every_check_has_a_chinese_title():
    import diagnostics.checks as checks
    src = "\n".join(p.read_text(encoding="utf-8") for p in Path(checks.__file__).parent.glob("*.py"))
    keys = set(re.findall(r'KEY, TITLE = "(\w+)"', src)) | set(re.findall(r'CheckResult\("(\w+)"', src))
    assert keys and keys <= set(i18n.TITLES), keys - set(i18n.TITLES)


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_every_sentence_of_the_committed_reports_is_translated_with_its_numbers(folder):
    report = load_report(folder / "report.json")
    assert i18n.untranslated(texts(report)) == []
    for text in texts(report):
        zh = i18n.sentence(text, "zh")
        assert CJK.search(zh), text
        assert NUMBERS(text) <= NUMBERS(zh), (text, zh)


def test_an_unknown_sentence_stays_english_and_is_listed():
    assert i18n.sentence("A brand new finding.", "zh") == "A brand new finding."
    assert i18n.untranslated(["A brand new finding."]) == ["A brand new finding."]
    assert i18n.sentence("A brand new finding.", "en") == "A brand new finding."


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_the_committed_chinese_report_is_the_english_one_rendered_in_chinese(folder):
    """If this fails after a report.json was written again: python -m diagnostics render <folder>/report.json
    --out <folder>/zh --lang zh (the command in the README)."""
    report = load_report(folder / "report.json")
    committed = (folder / "zh" / "report.md").read_text(encoding="utf-8")
    assert committed == to_markdown(report, "zh"), (
        f"{folder.name}/zh/report.md is not its report.json rendered in Chinese; after writing the report again run: "
        f"python -m diagnostics render docs/{folder.name}/report.json --out docs/{folder.name}/zh --lang zh")
    assert "# 诊断：" in committed and "| 检查 | 结论 | 摘要 | 修正建议 |" in committed


@pytest.mark.parametrize("folder", COMMITTED, ids=lambda p: p.name)
def test_the_chinese_html_report_has_no_english_sentence_left(folder):
    """Outside the raw-number dumps (<pre>) and plotly's script: headings, summaries, rules, fixes, notes, figure
    titles and what each number is (table cells, captions) are all in Chinese."""
    page = to_html(load_report(folder / "report.json"), "zh")
    body = re.sub(r"<script.*?</script>|<pre.*?</pre>", "", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "\n", body))
    left = [line for line in text.splitlines() if re.search(r"\b[a-z]{2,} [a-z]{2,} [a-z]{3,}\b", line)]
    assert left == []
    assert "各时间步的信噪比" in page                          # a figure's title, inside plotly's JSON


def test_the_html_report_in_chinese():
    page = to_html(load_report(BUNDLED_REPORT), "zh")
    assert '<html lang="zh-CN">' in page and "<h2>摘要</h2>" in page and "<h2>设置</h2>" in page
    assert ">Summary<" not in page and ">Fix:<" not in page and "噪声调度" in page


def test_render_cli_writes_the_chinese_report(tmp_path):
    r = subprocess.run([sys.executable, "-m", "diagnostics", "render", str(BUNDLED_REPORT), "--out", str(tmp_path),
                        "--lang", "zh"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "report.md").read_text(encoding="utf-8").startswith("# 诊断：")
    assert (tmp_path / "report.html").stat().st_size > 0 and not (tmp_path / "report.json").exists()
    bad = subprocess.run([sys.executable, "-m", "diagnostics", "render", str(tmp_path / "nope.json"), "--out",
                          str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "could not be rendered" in bad.stderr


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
        out.append(checks.check_noise_prediction(Stand(fn), d, x[:16], source="real digits images"))
    out.append(checks.check_noise_prediction(Stand(lambda x_t, t: x_t), d, x[:16],
                                             source="generated samples (no real data)"))
    out.append(checks.check_noise_prediction(Stand(lambda x_t, t: x_t), GaussianDiffusion(DiffusionConfig(
        "linear", 50, objective="x0")), x[:16], source="real digits images"))     # rows shown but not judged
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
    out += [checks.check_smoothness(h, None, real_reason="no real data"), checks.check_smoothness(h, x[:, :, :8]),
            checks.check_smoothness(nan, x)]
    for images in (h, same):
        out.append(checks.check_diversity(images, x, held.labels[:64], train.labels[:64], train.class_names))
    for images in (torch.cat([h[:16], h[:1].repeat(48, 1, 1, 1)]), torch.randn(h.shape, generator=g).clamp(-1, 1)):
        out.append(checks.check_diversity(images, x))
    out += [checks.check_diversity(h, None, real_reason="no real data"), checks.check_diversity(same),
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
            check_likelihood(model, d, RealSplits(train, None, notes=["too few images per class to hold any out: "
                                                                      "no held-out split"]), n=4, stride=10)]
    seen_r = checks.check_memorisation(held.images[64:128], splits.reference.images, None)
    seen_r.notes += seen.notes
    out.append(seen_r)
    # performance: fast enough (ok) and too slow (warn)
    out += [checks.check_performance(model, d, batch=4, memory_batch_sizes=(1,), repeats=1, ddim_steps=10),
            checks.check_performance(model, d, batch=4, memory_batch_sizes=(1,), repeats=1, ddim_steps=10,
                                     thresholds=replace(DEFAULT_THRESHOLDS, projected_seconds_warn=0.0))]
    return out


def test_every_branch_of_every_check_has_its_chinese(digits, extractor, random_unet, monkeypatch):
    """Not only the sentences of the bundled reports: every check on inputs that reach its ok / warn / fail / skip
    branches and notes. Each text has a Chinese form with the same numbers, and the branches are all reached."""
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
    summaries = {r.summary for r in results}
    assert any(s.startswith("Samples are over-smoothed") for s in summaries)
    assert any(s.startswith("Samples are noisier than the data") for s in summaries)
    assert any(s.startswith("Samples vary less") for s in summaries) and any(s.startswith("Samples vary more")
                                                                                for s in summaries)
    assert sum("captions" in r.numbers for r in results) >= 2 and any("parts" in r.numbers for r in results)
    assert any(n.startswith("x0 objective") for r in results for n in r.notes)
    from types import SimpleNamespace

    from diagnostics.checks.quality import floor_note
    notes = [floor_note(SimpleNamespace(fid_floor=f, n_floor=64, floor_draws=d), conditional, seen)
             for f, d, conditional, seen in ((0.5, 10, True, False), (0.5, 1, False, True), (None, 0, True, False))]
    all_texts = texts(type("R", (), {"checks": results})()) + notes
    assert i18n.untranslated(all_texts) == []
    for text in all_texts:
        zh = i18n.sentence(text, "zh")
        assert CJK.search(zh), text
        assert NUMBERS(text) <= NUMBERS(zh), (text, zh)


# --------------------------------------------------------------------------------------------- figures
def test_the_figures_are_titled_in_chinese_with_the_same_numbers():
    from ddpm import SCHEDULES
    from diagnostics.plots import FIGURES, draw_figures
    report = load_report(COMMITTED[1] / "report.json")
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
    assert drawn == sum(len(FIGURES.get(c.key, [])) for c in report.checks if c.verdict != "skip") >= 8
    page = to_html(report, "zh")
    assert "各时间步的信噪比" in page and "原始数值" in page and "(raw numbers" not in page


# Chinese templates whose numbers come in another order than the English's (Chinese puts "of whom", "at n", the
# data set before what is counted), each checked by hand: {the template's start: the order of its fields}.
REORDERED = {
    '{1} 个样本中有 {0} 个含有 NaN/Inf：采样过程发散了。': (1, 0),
    '{1} 个张量中共有 {0} 个 NaN/Inf 权重（第一个：{2}）': (1, 0, 2),
    'x̂_0 在后段的时间步内保持在范围内：t ≤ {2} 时至多 {0}%': (2, 0, 1, 3, 4),
    '{1} 张图像的 {0} 轨迹；x̂_0 是网络未裁剪的原始预测': (1, 0),
    'FID {0}（n={2} 时为 {1}；n={5} 时下限为 {3} ': (0, 2, 1, 5, 3, 4),
    'FID {0}（n={2} 时为 {1}；n={4} 时下限为 {3}，': (0, 2, 1, 4, 3),
    '[[n={0} 时的]]FID {1} 是其下限 {3} 的 {2} 倍': (0, 1, 3, 2, 4, 5),
    '[[n={0} 时的]]FID {1} 是其下限 {3} 的 {2} 倍': (0, 1, 3, 2),
    '特征网络：{0}（sha256 {1}，在 {4} 留出的 {3}% 上': (0, 1, 4, 3, 2),
    '已达下限：FID {0} 与下限 {2} 相差不到 2σ（{1}），所以': (0, 2, 1),
    '在 {3} 张训练图像上 −log₂ p(x{0}) ≤ {1} ± {': (3, 0, 1, 2),
    '完整的 DDPM 采样（{0} 次网络调用）每批 {3} 张约需 {1}': (0, 3, 1, 2, 4, 5, 6, 7, 8),
    '批大小 {1} 时每次网络调用 {0} 毫秒（批大小 1 时 {2} 毫': (1, 0, 2, 3, 4, 5, 6, 7),
    'FID {0}（生成 n={1}，对 {2!t} n={3}；特征网络 ': (0, 1, 2, 3, 4, 6, 5, 7),
    '{0!t} {1}（k={2}，生成 n={3} 对 {5!t}中的 n': (0, 1, 2, 3, 5, 4, 6),
    '条件准确率 {0}%（生成 n={1}；分类器 {2}（sha256 {': (0, 1, 2, 3, 6, 5, 4),
    'KID {0} ± {1}（无偏 MMD²，多项式核；{2} 个子集上的': (0, 1, 2, 4, 5, 3),
    '{0}（sha256 {1}，在 {4} 留出的 {3}% 上测试准确率': (0, 1, 4, 3, 2),
}


def test_translated_numbers_keep_their_order_unless_the_grammar_reorders_them():
    """Two numbers swapped in a Chinese template would pass a check that only compares which numbers appear: here a
    template keeps the English order of its fields, or is one of the reviewed reorderings above, field for field."""
    from diagnostics.i18n_numbers import PATTERNS as numbers
    from diagnostics.i18n_sentences import PATTERNS as sentences
    field = re.compile(r"\{(\d+)(?:![a-z])?\}")
    seen = {}
    for _, zh in sentences + numbers:
        order = tuple(int(k) for k in field.findall(zh))
        if order != tuple(sorted(order)):
            seen[zh[:36]] = order
    assert seen == REORDERED
