"""The app's page: an introduction, the language switch and four tabs (Train, Sample, Compare, Diagnostics),
each built by its own module in demo/tabs/ with its handlers beside it.

Each tab's main action is a public API endpoint (api_name); the helpers that only keep the page in step
(timer ticks, dropdown refreshes, the trajectory slider, the language switch) are private.
"""
from __future__ import annotations

import json

import gradio as gr

from . import common, i18n, limits, picker
from .i18n import L
from .tabs import compare, diagnose, sample, train

CSS = """
.pixelated img, .pixelated canvas { image-rendering: pixelated; }
.caption p { margin: 0.2em 0; }
#diagnose-summary td:nth-child(2), #diagnose-summary th:nth-child(2) { white-space: nowrap; }
#language { max-width: 260px; margin-left: auto; }
"""

# A change of the switch sets the cookie, which every later request carries, so the handlers answer in that
# language (demo/i18n.py); the switch starts from that cookie, else the browser's Accept-Language. The tables
# whose headers follow the language are inputs too (their rows are kept), so the function hands them on.
_SET_COOKIE_JS = f"""(lang, ...tables) => {{
  document.cookie = "{i18n.COOKIE}=" + lang + "; path=/; max-age=31536000; SameSite=Lax";
  return [lang, ...tables];
}}"""


def toast_css() -> str:
    """The popups' titles in the page's language: gradio 6 titles a popup by its kind ("Error", "Warning", "Info"),
    whatever title it is given, so the page's language (<html lang>, set by the switch) picks the title's text from
    the catalogues (toast.error, toast.warning, toast.info) by CSS."""
    rules = []
    for lang in i18n.LANGUAGES:
        for kind in ("error", "warning", "info"):
            title = json.dumps(i18n.text(f"toast.{kind}", lang), ensure_ascii=False)
            rules.append(f'html[lang="{lang}"] .toast-title.{kind} {{ font-size: 0; }}\n'
                         f'html[lang="{lang}"] .toast-title.{kind}::before {{ content: {title}; '
                         f'font-size: var(--text-lg); }}')
    return "\n".join(rules + ['html[lang] .toast-title .toast-count { font-size: var(--text-lg); }'])


def launch_kwargs() -> dict:
    """What gradio 6 takes at launch() rather than in Blocks(): theme, CSS, the translations of the static
    labels (call after build_demo, which registers the formatted ones); plus the upload limit."""
    return dict(theme=gr.themes.Soft(), css=CSS + toast_css(), max_file_size=f"{limits.MAX_UPLOAD_MB}mb",
                i18n=i18n.gr_i18n())


def build_demo() -> gr.Blocks:
    classes, T = common.bundled_classes_and_T()
    with gr.Blocks(title="DDPM Workbench", analytics_enabled=False, delete_cache=(1800, 3600)) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(L("app.intro"))
            language = gr.Radio([("English", "en"), ("中文", "zh")], value=i18n.DEFAULT, label=L("app.language"),
                                elem_id="language", scale=0, min_width=220)
        with gr.Tabs(selected="sample"):
            train_tab = train.build()
            sample_tab = sample.build(demo, classes, T)
            compare_tab = compare.build(classes, T)
            diagnose_tab = diagnose.build()
        # a run that finishes joins every tab's checkpoint list (beside an upload in use there)
        signatures = train.poll(demo, train_tab)
        picker.follow_listing(signatures[0], [(tab.checkpoint, tab.upload)
                                              for tab in (sample_tab, compare_tab, diagnose_tab)])
        _language_switch(demo, language, signatures)
    common.refuse_malformed_requests(demo)       # guards every endpoint, so it is installed on the Blocks here
    return demo


def _language_switch(demo: gr.Blocks, language: gr.Radio, signatures: list) -> None:
    """On load: the switch and every static text in the request's language (its cookie, else the browser's
    Accept-Language; one this app does not have gives English, with a note under the switch). On a change of
    the switch: the cookie, and every static text in the chosen language; the cleared signatures make the next
    poll redraw the training status and the checkpoint lists in it too."""
    found = i18n.translatable(demo)
    texts = [block for block, _, _ in found]
    tables = list(dict.fromkeys(block for block, prop, _ in found if prop == "headers"))   # rows kept on a switch

    def initial(*values):
        lang = i18n.current()
        updates = i18n.relabel(found, lang, dict(zip(tables, values)))
        label = {k: v for k, v in updates.get(language, {}).items() if k != "__type__"}
        note = i18n.language_note()                 # a browser language this app does not have: said so
        if note:
            label["info"] = note
        return {**updates, language: gr.update(value=lang, **label)}

    def switch(lang: str, *values):
        return {**i18n.relabel(found, lang, dict(zip(tables, values))), **{s: None for s in signatures}}
    demo.load(initial, tables, [language, *texts], **common.QUIET, queue=False)
    language.input(switch, [language, *tables], [*texts, *signatures], js=_SET_COOKIE_JS, **common.QUIET,
                   queue=False)
    # the page's language on <html lang> (on load and on a switch), which the popups' titles follow (toast_css)
    language.change(None, language, None, js="(lang) => { document.documentElement.lang = lang; }", **common.QUIET,
                    queue=False)
