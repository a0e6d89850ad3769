"""The report rendered: report.md (a short table) and report.html (one self-contained page: plotly.js inlined once,
the figures, the sample grid as a base64 PNG, a verdict badge, the rule and the fix of every check), in English or
中文. Every word on the page is a message of diagnostics/locales (diagnostics.text): the checks store keys and
values, and this module picks the language and formats the numbers, once, through each template.

    from diagnostics.render import to_html, to_markdown
    page = to_html(report, "zh")
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import torch

from ddpm.recommended import guidance_text

from .plots import draw_figures
from .text import Message, check_title, msg, say, unknown, verdict_word, weights_word

GRID_IMAGES = 100          # samples shown in the report's grid
BADGE_COLORS = {"ok": "#1a7f37", "warn": "#b35900", "fail": "#c62828", "skip": "#6e7781"}
VERDICT_ICONS = {"ok": "✅", "warn": "⚠️", "fail": "❌", "skip": "⏭️"}


def jsonable(x: Any) -> Any:
    """Strict JSON: NaN/Inf become null, tensors and numpy values become lists and numbers, messages
    {"key", "values"}."""
    if isinstance(x, Message):
        return jsonable(x.as_dict())
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if torch.is_tensor(x):
        return jsonable(x.tolist())
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):     # numpy arrays and scalars
        return jsonable(x.tolist())
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return str(x)


def _fmt(v: Any, lang: str = "en") -> str:
    """A value as shown: a message in `lang`, a number rounded, a short list or dict inline."""
    if isinstance(v, Message) or (isinstance(v, (list, tuple)) and v and all(isinstance(e, Message) for e in v)):
        return say(v, lang)
    if v is None:
        return say(unknown(None), lang)
    if isinstance(v, bool):
        return say(msg("text.yes" if v else "text.no"), lang)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)) and len(v) <= 8 and all(not isinstance(e, (dict, list)) for e in v):
        return "[" + ", ".join(_fmt(e, lang) for e in v) + "]"
    if isinstance(v, dict) and len(v) <= 12 and all(not isinstance(e, (dict, list)) for e in v.values()):
        return ", ".join(f"{k}: {_fmt(e, lang)}" for k, e in v.items())
    return str(v)


def _md_text(s) -> str:
    """Uploader-named text for Markdown: & and < escaped (no tag or entity can form); > kept, as in "t > 0"."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;")


def _md_cell(s: str) -> str:
    return _md_text(s).replace("|", "\\|").replace("\n", " ")


def _refuse_legacy(report, lang: str) -> None:
    if lang == "zh" and report.legacy:
        raise ValueError(say(msg("report.legacy_zh", path=Path(report.checkpoint).name)))


def overall_text(report, lang: str = "en") -> str:
    """The overall verdict naming the skipped checks, e.g. "ok, 2 of 9 checks skipped: …"."""
    return say(report.overall_summary, lang)


def sampler_words(settings: dict, lang: str = "en") -> str:
    """A report's sampler as a reader needs it: "DDIM η=1, classifier-free guidance w=1.5" (η only when > 0,
    guidance only when on)."""
    name = str(settings.get("sampler")).upper()
    words = msg("report.sampler_eta", sampler=name, eta=float(settings["eta"])) if settings.get("eta") else name
    w = float(settings.get("guidance_scale", 1.0) or 1.0)
    if w == 1.0:
        return say(words, lang)
    return say(msg("report.guided", sampler=words, w=guidance_text(w, settings.get("guidance_interval"))), lang)


def _mode(settings: dict) -> Message:
    mode = settings.get("mode")
    return msg("report.mode", mode=msg(f"report.mode_{mode}") if mode in ("quick", "full") else str(mode))


def model_line(report, lang: str = "en", escape=_md_text) -> str:
    """"Model: small U-Net, 1,114,209 parameters, …" in `lang`; "unknown" for what the file does not record."""
    m = report.model
    k = m.get("num_classes")
    data, reference = m.get("data_set"), m.get("reference")
    arch = m.get("architecture") or msg("report.arch_preset", preset=unknown(m.get("preset")))
    if isinstance(arch, Message):     # a diffusers config names the class: uploader-written text
        arch = Message(arch.key, {k: escape(v) if isinstance(v, str) else v for k, v in arch.values.items()})
    if not data and reference:        # the file records no data set: the reference stood in for it, and says so
        data = msg("report.data_reference", name=escape(reference))
    return say(msg("report.model_line", arch=arch, params=m.get("parameters") or 0,
                   c=m.get("channels"), size=m.get("image_size"),
                   classes=msg("report.classes", k=k) if k else msg("report.no_classes"), step=unknown(m.get("step")),
                   weights=weights_word(m.get("weights")),
                   data=data if isinstance(data, Message) else unknown(escape(data) if data else None),
                   schedule=unknown(m.get("schedule")), T=m.get("T"), objective=unknown(m.get("objective"))), lang)


def _icon(verdict: str, lang: str) -> str:
    return VERDICT_ICONS[verdict] + " " + verdict_word(verdict, lang)


def _skipped_clause(report, lang: str) -> str:
    """", 2 of 9 checks skipped: …" (or "" when every check ran): the overall summary after its verdict, so a report
    that skipped checks never reads as a plain "ok"."""
    text, head = overall_text(report, lang), verdict_word(report.overall, lang)
    return text[len(head):] if text.startswith(head) else f" ({text})"


def to_markdown(report, lang: str = "en") -> str:
    """A short summary: the overall verdict, the model in one line and a table of checks with their fixes."""
    _refuse_legacy(report, lang)
    s = report.settings
    run = say(msg("report.run", sampler=sampler_words(s, lang), steps=s.get("steps"), n=s.get("n"), seed=s.get("seed"),
                  precision=s.get("precision", "fp32")), lang)
    T = lambda key, **kw: say(msg(key, **kw), lang)      # noqa: E731
    lines = [
        f"# {T('report.md_title', name=_md_text(Path(report.checkpoint).name))}", "",
        T("report.md_head", overall=msg("report.overall"), verdict=_icon(report.overall, lang)
          + _skipped_clause(report, lang), created=report.created, mode=_mode(s), run=run, seconds=report.seconds), "",
        model_line(report, lang), "",
        f"| {T('report.check')} | {T('report.verdict')} | {T('report.summary')} | {T('report.fix')} |",
        "|---|---|---|---|",
    ]
    for c in report.checks:
        lines.append(f"| {_md_cell(check_title(c.key, c.title, lang))} | {_icon(c.verdict, lang)} | "
                     f"{_md_cell(say(c.summary, lang))} | {_md_cell(say(c.fix, lang) or '—')} |")
    lines.append("")
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:24px;
color:#1f2328;line-height:1.45}
h1{font-size:1.6em;margin-bottom:4px} h2{font-size:1.25em;margin-top:36px;border-bottom:1px solid #d0d7de;
padding-bottom:4px} .muted{color:#57606a;font-size:.92em}
.badge{display:inline-block;padding:1px 9px;border-radius:10px;color:#fff;font-weight:600;font-size:.85em;
text-transform:uppercase;letter-spacing:.03em;vertical-align:middle}
table{border-collapse:collapse;margin:8px 0 14px;font-size:.9em} td,th{border:1px solid #d0d7de;padding:4px 8px;
text-align:left;vertical-align:top} th{background:#f6f8fa} td.num{text-align:right;font-variant-numeric:tabular-nums}
.fix{background:#fff8c5;border-left:4px solid #d4a72c;padding:6px 10px;margin:8px 0}
.rule{background:#f6f8fa;border-left:4px solid #8c959f;padding:6px 10px;margin:8px 0;font-size:.92em}
.grid img{image-rendering:pixelated;border:1px solid #d0d7de;max-width:100%}
details{margin:6px 0} summary{cursor:pointer;color:#0969da} code{font-size:.92em}
.check{margin-bottom:28px}
"""


def _badge(verdict: str, lang: str = "en") -> str:
    return (f'<span class="badge" style="background:{BADGE_COLORS[verdict]}">'
            f'{html.escape(verdict_word(verdict, lang))}</span>')


def _code(name: str) -> str:
    """An identifier (a number's or a column's name in report.json) as code: the same in every language."""
    return f"<code>{html.escape(str(name))}</code>"


def _label(prefix: str, key: str, lang: str) -> str:
    """A table's row name: its words (prefix.key) where the catalogue has them, else the identifier as code."""
    try:
        return html.escape(say(Message(f"{prefix}.{key}"), lang))
    except KeyError:
        return _code(key)


def _cell(v, lang: str) -> str:
    if isinstance(v, dict) and v:             # e.g. the training options: identifiers and their values, as code
        return f"<td>{_code(_fmt(v, lang))}</td>"
    cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
    return f"<td{cls}>{html.escape(_fmt(v, lang))}</td>"


def _table_html(rows: list[dict], lang: str = "en") -> str:
    """Rows of numbers under their column names (identifiers, as in report.json: shown as code)."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    head = "".join(f"<th>{_code(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell(r.get(c, ""), lang) for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _named_rows(items, prefix: str, lang: str, head: str) -> str:
    """A two-column table: each name in words (prefix.name) or as code, and its value."""
    rows = "".join(f"<tr><th>{_label(prefix, k, lang)}</th>{_cell(v, lang)}</tr>" for k, v in items)
    return f"<table><tr><th></th><th>{html.escape(head)}</th></tr>{rows}</table>"


def _numbers_html(numbers: dict, lang: str = "en") -> str:
    scalars, tables, nested = [], [], []
    parts = []
    captions = numbers.get("captions")
    if isinstance(captions, dict) and captions:
        # sample-quality numbers are only meaningful with their n, reference set and network: caption each
        parts.append("<ul>" + "".join(f"<li>{html.escape(say(c, lang))}</li>" for c in captions.values()) + "</ul>")
    for k, v in numbers.items():
        interval = isinstance(v, dict) and {"low", "method"} <= set(v)      # shown by its caption instead
        if k in ("captions", "texts", "notes") or (isinstance(v, (list, dict)) and not v) or interval:
            continue
        if isinstance(v, list) and v and all(isinstance(e, dict) for e in v):
            tables.append((k, v))
        elif isinstance(v, dict) and any(isinstance(e, (list, dict)) for e in v.values()):
            nested.append((k, v))
        elif isinstance(v, list) and len(v) > 8:
            nested.append((k, v))
        else:
            scalars.append((k, v))
    if scalars:
        parts.append("<table>" + "".join(f"<tr><th>{_code(k)}</th>{_cell(v, lang)}</tr>" for k, v in scalars)
                     + "</table>")
    for k, rows in tables:
        parts.append(f"<div class=\"muted\">{_code(k)}</div>{_table_html(rows, lang)}")
    for k, v in nested:
        text = json.dumps(jsonable(v), ensure_ascii=False)
        if len(text) > 4000:
            text = text[:4000] + " …"
        parts.append(f"<details><summary>{html.escape(say(msg('report.raw', k=k), lang))}</summary>"
                     f"<pre style=\"white-space:pre-wrap;font-size:.8em\">{html.escape(text)}</pre></details>")
    return "".join(parts)


def _check_html(c, lang: str, fig_html) -> list[str]:
    esc = html.escape

    def boxed(key: str, text) -> str:
        """"<b>Rule:</b> text" / "<b>规则：</b>text": the label in bold, with its language's colon and spacing."""
        head = say(msg("report.labelled", label=Message(key), text="\x00"), lang).split("\x00")[0]
        return f"<b>{esc(head.rstrip())}</b>{' ' if head.endswith(' ') else ''}{esc(say(text, lang))}"
    out = [f"<div class=\"check\" id=\"{esc(c.key)}\"><h2>{esc(check_title(c.key, c.title, lang))} "
           f"{_badge(c.verdict, lang)}</h2>", f"<p>{esc(say(c.summary, lang))}</p>"]
    if c.threshold:
        out.append(f"<div class=\"rule\">{boxed('report.rule', c.threshold)}</div>")
    if c.fix:
        out.append(f"<div class=\"fix\">{boxed('report.fix', c.fix)}</div>")
    extra = [f"n = {c.n}"] if c.n is not None else []
    extra.append(say(msg("unit.s", v=c.seconds), lang))
    out.append("<div class=\"muted\">" + esc(" · ".join(extra)) + "</div>")
    drawn = draw_figures(c, lang)
    notes = c.notes + drawn.not_drawn
    if notes:
        out.append("<ul class=\"muted\">" + "".join(f"<li>{esc(say(nt, lang))}</li>" for nt in notes) + "</ul>")
    out += [fig_html(fig) for fig in drawn.figures]
    if c.numbers:
        out.append(_numbers_html(c.numbers, lang))
    out.append("</div>")
    return out


def to_html(report, lang: str = "en") -> str:
    """One self-contained HTML page: plotly.js inlined once (no CDN), figures, the sample grid as a base64 PNG,
    a verdict badge, the rule and the fix for every check."""
    _refuse_legacy(report, lang)
    m, s = report.model, report.settings
    esc = html.escape
    first_plot = [True]

    def fig_html(fig) -> str:
        include = first_plot[0]
        first_plot[0] = False
        return fig.to_html(full_html=False, include_plotlyjs=include, config={"displaylogo": False, "responsive": True})

    T = lambda key, **kw: esc(say(msg(key, **kw), lang))      # noqa: E731
    head = T("report.head", path="\x00", created=report.created, mode=_mode(s), seconds=report.seconds)
    head = head.replace("\x00", _code(report.checkpoint))          # the file's path, as code
    out = [f"<!DOCTYPE html><html lang=\"{'zh-CN' if lang == 'zh' else 'en'}\"><head><meta charset=\"utf-8\">",
           f"<title>{T('report.labelled', label=msg('report.title'), text=Path(report.checkpoint).name)}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>{T('report.title')} {_badge(report.overall, lang)}</h1>",
           f"<p><b>{T('report.labelled', label=msg('report.overall'), text=report.overall_summary)}</b></p>",
           f"<div class=\"muted\">{head}</div>"]
    counts = {v: sum(c.verdict == v for c in report.checks) for v in ("ok", "warn", "fail", "skip")}
    out.append("<p>" + " ".join(f"{_badge(v, lang)} {counts[v]}" for v in counts) + "</p>")
    out.append(f"<h2>{T('report.summary')}</h2><table><tr><th>{T('report.check')}</th><th>{T('report.verdict')}</th>"
               f"<th>{T('report.summary')}</th><th>{T('report.fix')}</th></tr>")
    for c in report.checks:
        out.append(f"<tr><td><a href=\"#{esc(c.key)}\">{esc(check_title(c.key, c.title, lang))}</a></td>"
                   f"<td>{_badge(c.verdict, lang)}</td><td>{esc(say(c.summary, lang))}</td>"
                   f"<td>{esc(say(c.fix, lang)) or '—'}</td></tr>")
    out.append("</table>")
    out.append(f"<h2>{T('report.model')}</h2><p>{esc(model_line(report, lang, escape=str))}</p>")
    rows = [(k, weights_word(v) if k == "weights" else v) for k, v in m.items() if k not in ("train", "class_names")]
    rows += [("class_names", ", ".join(m.get("class_names") or []) or "—"), ("train", m.get("train") or {})]
    out.append(_named_rows(rows, "model", lang, say(msg("report.value"), lang)))
    if report.sample_grid_png:
        b64 = base64.b64encode(report.sample_grid_png).decode("ascii")
        note = "report.samples_note_classes" if m.get("num_classes") else "report.samples_note"
        out.append(f"<h2>{T('report.samples')}</h2><div class=\"muted\">"
                   + T(note, k=min(GRID_IMAGES, int(s.get("n") or 0)), n=s.get("n"), sampler=sampler_words(s, lang),
                       steps=s.get("steps"), seed=s.get("seed")) + "</div>"
                   f"<div class=\"grid\"><img alt=\"{T('report.grid_alt')}\" src=\"data:image/png;base64,{b64}\">"
                   "</div>")
    for c in report.checks:
        out += _check_html(c, lang, fig_html)
    th = s.get("thresholds") or {}
    shown = [(k, _mode(s) if k == "mode" else v) for k, v in s.items() if k != "thresholds"]
    out.append(f"<h2>{T('report.settings')}</h2>" + _named_rows(shown, "setting", lang, say(msg("report.value"), lang)))
    if th:
        out.append(f"<details><summary>{T('report.thresholds')}</summary>"
                   + _named_rows(list(th.items()), "threshold", lang, say(msg("report.threshold"), lang))
                   + "</details>")
    out.append(f"<p class=\"muted\">{T('report.footer')}</p>")
    out.append("</body></html>")
    return "\n".join(out)
