"""中文 and English: the table (demo/strings.py) against the code that uses it, and the app's handlers in both.

Every key the code names exists with both languages and the same placeholders; no entry is unused; no widget
text, error or progress line in demo/ is an English literal outside the table; core messages known to reach
the app have their Chinese form; an unknown language falls back to English with a note.
"""
from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import gradio as gr
import pytest

from demo import i18n
from demo.strings import MESSAGES, STRINGS

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
SOURCES = {p: p.read_text(encoding="utf-8") for p in sorted(DEMO.rglob("*.py")) if p.name != "strings.py"}
CJK = re.compile(r"[\u4e00-\u9fff]")
# t("key"), L("key"), t(f"state.{...}"), and the helpers that take a key for a value's name
KEY_CALL = re.compile(r"""\b(?:t|L|text|both|number|choice)\(\s*f?"([a-z_][a-z0-9_.]*)(\{|")""")
KEY_TERNARY = re.compile(r'\b(?:t|L)\(\s*"([a-z_][a-z0-9_.]*)" if [^"]* else "([a-z_][a-z0-9_.]*)"')
# entries whose Chinese is the English on purpose: symbols and numbers, the same in both
SAME_IN_BOTH = {"compare.eta", "compare.ddim_label", "name.eta", "train.batch_info", "err.core", "note.core"}


def used_keys() -> tuple[set[str], set[str]]:
    """(literal keys, prefixes of keys built with an f-string, e.g. "state.")"""
    literal, prefixes = set(), set()
    for src in SOURCES.values():
        for key, end in KEY_CALL.findall(src):
            (prefixes if end == "{" else literal).add(key)
        for pair in KEY_TERNARY.findall(src):
            literal.update(pair)
    return literal, prefixes


def mentioned(key: str) -> bool:
    return any(f'"{key}"' in src or f"'{key}'" in src for src in SOURCES.values())


def fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def test_every_key_the_code_uses_is_in_the_table():
    literal, prefixes = used_keys()
    assert literal and prefixes
    assert sorted(literal - set(STRINGS)) == []
    for p in prefixes:
        assert any(k.startswith(p) for k in STRINGS), p
    # the keys built from a job's state exist for every state
    for state in ("idle", "starting", "running", "stopping", "finished", "stopped", "failed"):
        assert f"state.{state}" in STRINGS
        assert state == "idle" or f"train.head.{state}" in STRINGS


def test_no_orphan_keys():
    literal, prefixes = used_keys()
    orphans = [k for k in STRINGS if k not in literal and not mentioned(k) and not any(k.startswith(p) for p in prefixes)]
    assert orphans == []


@pytest.mark.parametrize("key", sorted(STRINGS))
def test_each_entry_has_both_languages_with_the_same_placeholders(key):
    en, zh = STRINGS[key]
    assert en.strip() and zh.strip()
    assert fields(en) == fields(zh), key
    if key not in SAME_IN_BOTH and re.search(r"[A-Za-z]{3,}", re.sub(r"\{[^}]*\}|`[^`]*`|'[^']*'", "", en)):
        assert CJK.search(zh), f"{key}: the Chinese has no Chinese in it: {zh!r}"


def test_the_widgets_errors_and_progress_in_demo_are_not_english_literals():
    """Texts a user sees go through the table: no str constant as a widget's label / info / value / text,
    as an error's message or as a progress description. (Labels hidden with show_label=False, and symbols
    such as "x_t" or "T", are not sentences.)"""
    offenders = []
    for path, src in SOURCES.items():
        for node in ast.walk(ast.parse(src)):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            hidden = any(k.arg == "show_label" and isinstance(k.value, ast.Constant) and k.value.value is False
                         for k in node.keywords)
            texts = []
            if name.startswith("gr.") and name[3:4].isupper():
                texts += [k.value for k in node.keywords if k.arg in ("label", "info", "placeholder", "value")
                          and not (k.arg == "label" and hidden)]
                if name in ("gr.Markdown", "gr.Button", "gr.Tab", "gr.Accordion", "gr.HTML") and node.args:
                    texts.append(node.args[0])
            if name in ("user_error", "c.user_error", "gr.Error", "gr.Warning", "gr.Info") and node.args:
                texts.append(node.args[0])
            texts += [k.value for k in node.keywords if k.arg in ("desc", "unit")]
            for v in texts:
                if isinstance(v, (ast.Constant, ast.JoinedStr)) and re.search(
                        r"[A-Za-z]{3,} [A-Za-z]{2,}", ast.unparse(v)) and "label=\"info\"" not in ast.unparse(node):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(v)[:60]}")
    assert offenders == []


def test_message_patterns_compile_and_give_chinese():
    for pattern, zh in MESSAGES:
        re.compile(pattern)
        assert CJK.search(zh)
    assert i18n.message("no training is running, so there is nothing to stop", "zh") == "当前没有训练在运行，所以没有可停止的。"
    assert i18n.message("no training is running, so there is nothing to stop", "en").startswith("no training")
    # a message the table does not know keeps its English, said to be so
    assert i18n.message("something new", "zh") == "出错了（以下是英文原文）：something new"


def test_language_codes_and_an_unsupported_one_falls_back_to_english_with_a_note():
    assert i18n.normalize("zh-CN") == ("zh", None) and i18n.normalize("zh_Hant_TW")[0] == "zh"
    assert i18n.normalize("en-US") == ("en", None) and i18n.normalize(None) == ("en", None)
    lang, note = i18n.normalize("fr-FR")
    assert lang == "en" and "not available" in note and "en or zh" in note
    with i18n.use("de"):
        assert i18n.current() == "en"
    with i18n.use("zh-CN"):
        assert i18n.current() == "zh" and i18n.t("tab.sample") == "采样"
    assert i18n.current() == "en"
    with pytest.raises(KeyError):
        i18n.t("no.such.key")


def test_gradio_i18n_holds_every_static_label_in_both_languages():
    from demo.layout import build_demo
    demo = build_demo()
    found = i18n.translatable(demo)
    translations = i18n.gr_i18n().translations
    keys = {k for _, prop, k in found if prop != "choices"}
    assert {"tab.train", "tab.sample", "tab.compare", "tab.diagnostics", "sample.button"} <= keys
    for k in keys:
        assert translations["en"][k] and CJK.search(translations["zh"][k]) or k.split(":")[0] in SAME_IN_BOTH, k
        assert translations["zh-CN"][k] == translations["zh"][k]
    zh = i18n.relabel(found, "zh")
    tabs = [u["label"] for b, u in zh.items() if isinstance(b, gr.Tab)]
    assert tabs == ["训练", "采样", "比较", "诊断"]
    assert [u["label"] for b, u in i18n.relabel(found, "en").items() if isinstance(b, gr.Tab)] == \
        ["Train", "Sample", "Compare", "Diagnostics"]


def test_handlers_answer_in_the_page_language(tmp_path, monkeypatch, write_tiny_checkpoint):
    import torch
    from demo.tabs import sample, train
    monkeypatch.setenv("DDPM_WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(write_tiny_checkpoint(tmp_path / "tiny.safetensors")))
    pickle = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, pickle)
    with i18n.use("zh"):
        v = sample.sample("bundled", None, ["3"], 1.0, "DDIM", 3, 0.0, 1.0, 1.0, 0, 2)
        assert "**2 张图像**" in v.info and "每张图 3 次网络调用" in v.info and "类别 3" in v.info
        assert v.xt["label"].startswith("t = ") and "帧" in v.xt["label"]
        with pytest.raises(gr.Error, match="超过了这个模型的扩散步数 T = 100"):
            sample.sample("bundled", None, [], 1.0, "DDIM", 101, 0.0, 1.0, 1.0, 0, 2)
        with pytest.raises(gr.Error) as e:                         # the loader's (core) message, in Chinese
            sample.sample("bundled", str(pickle), [], 1.0, "DDIM", 3, 0.0, 1.0, 1.0, 0, 2)
        assert "pickle" in e.value.message and "从不打开" in e.value.message and "英文原文" not in e.value.message
        with pytest.raises(gr.Error, match="没有可停止的"):
            train.train_stop()
        assert "还没有训练" in train.train_status().status
    with i18n.use("en"):
        v = sample.sample("bundled", None, ["3"], 1.0, "DDIM", 3, 0.0, 1.0, 1.0, 0, 2)
        assert "**2 images**" in v.info and "3 network calls per image" in v.info
        with pytest.raises(gr.Error, match="nothing to stop"):
            train.train_stop()
    train._JOBS.pop(str((tmp_path / "runs").resolve()), None)
