"""中文 and English: the app's catalogues (demo/locales/{en,zh}.toml) and the core's (ddpm/locales/) against the code
that uses them.

Every key the code names exists in both languages with the same placeholders; no key of the app is unused; no
Chinese template keeps an English sentence; no widget text, error or progress line in demo/ is an English literal,
and no English sentence is written for a user outside a catalogue; an unknown language falls back to English with
a note. (tests/test_app_messages.py renders the messages the app meets: the loaders' errors, the job manager's,
the budget's and the cache's, through the handlers.)
"""
from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import gradio as gr
import pytest

from ddpm import messages
from ddpm.messages import Message, placeholders, render
from demo import i18n

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
SOURCES = {p: p.read_text(encoding="utf-8") for p in sorted(DEMO.rglob("*.py"))}
APP = {lang: tomllib.loads((DEMO / "locales" / f"{lang}.toml").read_text(encoding="utf-8")) for lang in ("en", "zh")}
CORE = {lang: tomllib.loads((ROOT / "ddpm" / "locales" / f"{lang}.toml").read_text(encoding="utf-8"))
        for lang in ("en", "zh")}
CJK = re.compile(r"[\u4e00-\u9fff]")
# templates whose Chinese is the English on purpose: symbols and numbers, the same in both
SAME_IN_BOTH = {"compare.eta", "compare.ddim_label", "name.eta", "train.batch_info", "err.core", "note.core",
                "work.plus", "error.untranslated", "data.kind_rgb",
                "name.churn", "name.s_noise", "sample.churn_tmin", "sample.churn_tmax"}   # symbols: S_churn, S_noise, …
# the functions that take a message key: (name, index of the key among the positional arguments)
KEY_ARGS = {"t": 0, "L": 0, "text": 0, "msg": 0, "Message": 0, "number": 0, "choice": 0, "check_upload_size": 1,
            "check_work": 2, "headers": None}
KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)+")


def _keys_in(node: ast.AST) -> tuple[set[str], set[str]]:
    """(literal keys, prefixes of f-string keys) in an argument: a constant, either branch of `a if c else b`, or
    an f-string's constant head."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.fullmatch(node.value):
        return {node.value}, set()
    if isinstance(node, ast.IfExp):
        a, b = _keys_in(node.body), _keys_in(node.orelse)
        return a[0] | b[0], a[1] | b[1]
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) and \
            re.fullmatch(r"[a-z][a-z0-9_]*\.[a-z0-9_.]*", node.values[0].value):
        return set(), {node.values[0].value}
    return set(), set()


def used_keys(sources) -> tuple[set[str], set[str]]:
    """(literal keys, f-string key prefixes) the code passes to t / L / text / msg / Message / number / choice /
    check_upload_size / check_work / headers and to every *Error(...) constructor (MessageError and its kin)."""
    literal, prefixes = set(), set()
    for src in sources:
        for node in ast.walk(ast.parse(src)):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func).rsplit(".", 1)[-1]
            if name in KEY_ARGS or name.endswith(("Error", "TooLarge", "NotFound", "Unavailable")):
                at = KEY_ARGS.get(name, 0)
                for arg in node.args if at is None else node.args[at:at + 1]:
                    keys, heads = _keys_in(arg)
                    literal |= keys
                    prefixes |= heads
    return literal, prefixes


def mentioned(key: str, sources) -> bool:
    return any(f'"{key}"' in src for src in sources)


def test_every_key_the_app_uses_is_in_its_catalogue_and_none_is_unused():
    literal, prefixes = used_keys(SOURCES.values())
    assert {"tab.sample", "job.busy", "work.too_much", "cache.too_large", "toast.error"} <= literal
    assert {"state.", "train.head.", "job.ended_", "diag.mode_"} <= prefixes
    known = set(messages.catalogue("en"))
    assert sorted(literal - known) == []
    for p in prefixes:
        assert any(k.startswith(p) for k in APP["en"]), p
    for state in ("idle", "starting", "running", "stopping", "finished", "stopped", "failed"):
        assert f"state.{state}" in APP["en"] and (state == "idle" or f"train.head.{state}" in APP["en"])
    for state in ("finished", "stopped"):
        assert f"job.ended_{state}" in APP["en"]
    orphans = [k for k in APP["en"] if k not in literal and not mentioned(k, SOURCES.values())
               and not any(k.startswith(p) for p in prefixes)]
    assert orphans == []


CORE_PREFIXES = ("data.", "image.", "zip.", "checkpoint.", "config.", "diffusers.", "precision.", "guidance.", "error.")


def test_every_key_the_core_uses_is_in_its_catalogue_and_the_loaders_keys_are_used():
    sources = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "ddpm").rglob("*.py"))]
    literal, _ = used_keys(sources)
    assert {"data.single_class", "zip.traversal", "checkpoint.pickle", "image.total_too_large"} <= literal
    assert sorted(k for k in literal if k.startswith(CORE_PREFIXES) and k not in CORE["en"]) == []
    text = "\n".join(sources)
    unused = [k for k in CORE["en"] if k.startswith(CORE_PREFIXES) and f'"{k}"' not in text]
    assert unused == []


@pytest.mark.parametrize("table", ["app", "core"])
def test_each_message_has_both_languages_with_the_same_placeholders_and_chinese_in_its_chinese(table):
    cat = APP if table == "app" else CORE
    assert sorted(cat["en"]) == sorted(cat["zh"])
    for key, en in cat["en"].items():
        zh = cat["zh"][key]
        assert en.strip() and zh.strip(), key
        assert placeholders(en) == placeholders(zh), key
        words = re.sub(r"\{[^}]*\}|`[^`]*`|'[^']*'", "", en)
        if key not in SAME_IN_BOTH and re.search(r"[A-Za-z]{3,}", words):
            assert CJK.search(zh), f"{key}: the Chinese has no Chinese in it: {zh!r}"


ENGLISH_RUN = re.compile(r"\b[A-Za-z][a-z]+(?:-[a-z]+)* [A-Za-z][a-z]+(?:-[a-z]+)* [A-Za-z][a-z]+(?:-[a-z]+)*\b")


def english_left(zh: str) -> list[str]:
    """Three English words in a row in a Chinese text, outside `code`, quotes and placeholders."""
    return ENGLISH_RUN.findall(re.sub(r"`[^`]*`|'[^']*'|\{[^}]*\}|\([^()]*\.(?:py|json|toml)\)", "", zh))


def test_no_chinese_template_keeps_an_english_sentence():
    for cat in (APP, CORE):
        found = {k: english_left(v) for k, v in cat["zh"].items() if k not in SAME_IN_BOTH}
        assert {k: v for k, v in found.items() if v} == {}


def test_the_app_s_catalogue_is_registered_and_renders_numbers_per_template():
    assert "tab.sample" in messages.catalogue("zh")       # demo.i18n registered demo/locales on import
    m = Message("train.progress_step", {"step": 1200, "total": 5000, "pct": 24.0})
    assert render(m, "en") == "step 1,200 / 5,000 (24%)" and render(m, "zh") == "第 1,200 / 5,000 步（24%）"
    with pytest.raises(KeyError):
        i18n.t("no.such.key")


WIDGET_TEXT = ("label", "info", "placeholder", "value")
WIDGET_ARG = ("gr.Markdown", "gr.Button", "gr.Tab", "gr.Accordion", "gr.HTML")
ERRORS = ("user_error", "c.user_error", "gr.Error", "gr.Warning", "gr.Info", "warning", "info", "c.warning", "c.info")


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
        if name in ERRORS:
            texts += node.args[:1] + [k.value for k in node.keywords if k.arg == "title"]     # a popup and its title
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
gr.Info("an info popup", title="Some title")
"""
    lines = [line for line, _ in english_literals(made_up)]
    assert lines == [2, 2, 3, 4, 5, 6, 7, 7, 8, 9, 10, 12, 12], lines


def test_the_widgets_errors_and_progress_in_demo_are_not_english_literals():
    """Texts a user sees go through the catalogues (english_literals finds none in demo/)."""
    offenders = [f"{path.relative_to(ROOT)}:{line}: {text}" for path, src in SOURCES.items()
                 for line, text in english_literals(src)]
    assert offenders == []


# Not for users: log lines, the launcher's --help, the operator's environment variables, how far a request's work
# got (said in the log when its client leaves), the note of an unsupported language code (English by design).
NOT_FOR_USERS = {"demo/launch.py"}
ALLOWED = ("must be a positive number; unset it", "is not a number; set it to a positive number",
           "waiting for a slot, before any work", "is not available; showing English")


def demo_sentences() -> list[tuple[str, str]]:
    """(where, text) of every English sentence literal in demo/ outside docstrings and log calls, with each
    f-string field written as "1"."""
    out = []
    for path, src in SOURCES.items():
        rel = str(path.relative_to(ROOT))
        if rel in NOT_FOR_USERS:
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
            if re.search(r"[A-Za-z]{2,} [A-Za-z]{2,} [A-Za-z]{2,}", text) and not any(a in text for a in ALLOWED):
                out.append((f"{rel}:{node.lineno}", text))
    return out


def test_the_demo_writes_no_english_sentence_for_a_user_outside_its_catalogue():
    """The job manager's statuses, the budget's and the cache's refusals, where the quality numbers come from: all
    are Messages now (no table of English patterns translates them back)."""
    assert demo_sentences() == []
    assert not (DEMO / "messages.py").exists() and not (DEMO / "strings.py").exists()
    assert not hasattr(i18n, "message") and "MESSAGES" not in "".join(SOURCES.values())


def test_the_scan_for_english_sentences_can_fail(tmp_path, monkeypatch):
    monkeypatch.setitem(SOURCES, DEMO / "made_up.py", 'x = f"run {r} is training now"\nlog.info("a log line here")\n')
    assert [t for _, t in demo_sentences()] == ["run 1 is training now"]


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
    # radio choices follow the page too: the report's quick / full, the training data
    radios = {tuple(v for _, v in u["choices"]): [c for c, _ in u["choices"]] for b, u in zh.items()
              if isinstance(b, gr.Radio) and "choices" in u}
    assert radios[("quick", "full")] == ["快速", "完整"]
    assert radios[("digits", "mnist", "emoji", "zip")][3] == "我的 .zip 图像"
    # the precision picker's info says what auto means here, in both languages, with nothing left in English
    infos = [k for _, prop, k in found if prop == "info" and k.startswith("precision.info:")]
    assert infos and all(english_left(translations["zh"][k]) == [] and CJK.search(translations["zh"][k])
                         for k in infos)
    # the samplers table's column headers follow the page too (the handler answers with them in its language)
    tables = [b for b in zh if isinstance(b, gr.Dataframe)]
    assert [zh[b]["value"]["headers"] for b in tables] == [["采样器", "网络调用次数", "秒", "均方根差异"],
                                                           ["采样器", "网络调用次数", "FID 值", "FID / 下限（95% 区间）",
                                                            "FID / ODE 的 FID（配对 95% 区间）", "灰色像素 − 真实图像"]]
    import pandas as pd                   # the rows a user has are kept through a switch
    shown = {tables[0]: pd.DataFrame([["DDIM", 10, 0.5, 0.0]], columns=["采样器", "网络调用次数", "秒", "均方根差异"])}
    en = i18n.relabel(found, "en", shown)[tables[0]]["value"]
    assert en == {"headers": ["sampler", "network calls", "seconds", "RMS difference"], "data": [["DDIM", 10, 0.5, 0.0]]}
    empty = pd.DataFrame([["", "", "", ""]], columns=["a", "b", "c", "d"])       # gradio's empty table
    assert i18n.relabel(found, "zh", {tables[0]: empty})[tables[0]]["value"]["data"] == []
