"""The diagnostics report in 中文: its own words and every sentence of the bundled model's report have a
Chinese form with the same numbers; the committed Chinese report is the English one's report.json rendered
in Chinese; `python -m diagnostics render … --lang zh` writes it."""
from __future__ import annotations

import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from diagnostics import i18n
from diagnostics.report import load_report, to_html, to_markdown

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_REPORT = ROOT / "docs" / "report" / "report.json"
CJK = re.compile(r"[\u4e00-\u9fff]")


def texts(report) -> list[str]:
    out = []
    for c in report.checks:
        out += [c.summary, c.threshold, c.fix, *c.notes]
    return [t for t in out if t]


@pytest.mark.parametrize("key", sorted(i18n.TEXT))
def test_each_report_word_has_both_languages_with_the_same_placeholders(key):
    en, zh = i18n.TEXT[key]
    fields = lambda s: {f for _, f, _, _ in string.Formatter().parse(s) if f}     # noqa: E731
    assert en and CJK.search(zh) and fields(en) == fields(zh)


def test_every_check_has_a_chinese_title():
    import diagnostics.checks as checks
    src = "\n".join(p.read_text(encoding="utf-8") for p in Path(checks.__file__).parent.glob("*.py"))
    keys = set(re.findall(r'KEY, TITLE = "(\w+)"', src)) | set(re.findall(r'CheckResult\("(\w+)"', src))
    assert keys and keys <= set(i18n.TITLES), keys - set(i18n.TITLES)


def test_every_sentence_of_the_bundled_report_is_translated_with_its_numbers():
    report = load_report(BUNDLED_REPORT)
    assert i18n.untranslated(texts(report)) == []
    for text in texts(report):
        zh = i18n.sentence(text, "zh")
        assert CJK.search(zh), text
        numbers = lambda s: sorted(re.findall(r"\d+(?:[.,]\d+)*", s))          # noqa: E731
        assert numbers(zh) == numbers(text) or set(numbers(text)) <= set(numbers(zh)), (text, zh)


def test_an_unknown_sentence_stays_english_and_is_listed():
    assert i18n.sentence("A brand new finding.", "zh") == "A brand new finding."
    assert i18n.untranslated(["A brand new finding."]) == ["A brand new finding."]
    assert i18n.sentence("A brand new finding.", "en") == "A brand new finding."


def test_the_committed_chinese_report_is_the_english_one_rendered_in_chinese():
    report = load_report(BUNDLED_REPORT)
    committed = (ROOT / "docs" / "report" / "zh" / "report.md").read_text(encoding="utf-8")
    assert committed == to_markdown(report, "zh")
    assert "# 诊断：" in committed and "| 检查 | 结论 | 摘要 | 修正建议 |" in committed


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
