"""The diagnostics report: run every check on a checkpoint and write one self-contained HTML file (plotly.js
inlined, the sample grid as a base64 PNG, readable offline), a JSON file with every number, and a short
Markdown summary.

    from diagnostics.report import run_report
    files = run_report("checkpoints/digits_tiny.safetensors", "reports/tiny", quick=True)
    print(files.report.overall, files.html_path)

Or `python -m diagnostics report CKPT --out DIR [--quick]`.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import platform
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import torch

from ddpm import LoadedCheckpoint, count_parameters, load_checkpoint, pick_device
from ddpm.unet import preset_name
from ddpm.checkpoint import DEFAULT_MAX_BYTES, atomic_write
from ddpm.data import ImageDataset, load_dataset, make_grid

from .checks.result import CheckResult, StageFn, overall_summary, worst_verdict
from .checks.runner import mode_settings, run_checks
from .i18n import language, sampler_words, sentence, title as check_title, tr, verdict_word
from .plots import draw_figures
from .reference import load_reference, reference_feature_net
from .thresholds import DEFAULT_THRESHOLDS, Thresholds

GRID_IMAGES = 100          # samples shown in the report's grid
BADGE_COLORS = {"ok": "#1a7f37", "warn": "#b35900", "fail": "#c62828", "skip": "#6e7781"}


@dataclass
class Report:
    checkpoint: str                   # the path the checks ran on
    created: str                      # ISO 8601, UTC
    settings: dict                    # mode, n, sampler, steps, seed, device, versions, thresholds
    checks: list[CheckResult]
    overall: str                      # the worst verdict of the checks (skips ignored: see overall_summary)
    model: dict                       # preset, sizes, parameters, step, data set, schedule, objective
    seconds: float = 0.0              # wall time of the whole report
    sample_grid_png: Optional[bytes] = field(default=None, repr=False)   # the shared samples, as a PNG

    def check(self, key: str) -> CheckResult:
        for c in self.checks:
            if c.key == key:
                return c
        raise KeyError(f"no check {key!r}; the report has {[c.key for c in self.checks]}")

    @property
    def overall_summary(self) -> str:
        """The overall verdict naming the skipped checks, e.g. "ok, 2 of 9 checks skipped: Sample quality, …"."""
        return overall_summary(self.checks)

    def as_dict(self) -> dict:
        return {"checkpoint": self.checkpoint, "created": self.created, "overall": self.overall,
                "overall_summary": self.overall_summary,
                "seconds": self.seconds, "model": self.model, "settings": self.settings,
                "counts": {v: sum(c.verdict == v for c in self.checks) for v in ("ok", "warn", "fail", "skip")},
                "checks": [c.as_dict() for c in self.checks]}


@dataclass
class ReportFiles:
    report: Report
    html_path: Path
    json_path: Path
    md_path: Path
    grid_path: Optional[Path] = None


# -------------------------------------------------------------------------------------------- model facts
def model_summary(ck: LoadedCheckpoint) -> dict:
    u, d = ck.unet_config, ck.diffusion_config
    data = dict(ck.meta.get("data") or {})
    train = dict(ck.meta.get("train") or {})
    return {
        "preset": preset_name(u), "parameters": count_parameters(ck.model),
        "image_size": u.image_size, "channels": u.in_channels, "base_channels": u.base_channels,
        "channel_mult": list(u.channel_mult), "num_res_blocks": u.num_res_blocks,
        "attention_resolutions": list(u.attention_resolutions),
        "num_classes": u.num_classes, "class_names": list(ck.class_names),
        "step": ck.step, "weights": ck.weights,
        "data_set": data.get("name"), "data_source": data.get("source"),
        "schedule": d.schedule, "T": d.T, "objective": d.objective,
        "train": {k: train[k] for k in ("steps", "batch_size", "lr", "ema_decay", "loss", "weighting",
                                        "label_dropout") if k in train},
    }


def load_real_data(ck: LoadedCheckpoint) -> tuple[Optional[ImageDataset], str]:
    """The checkpoint's whole data set, at the size it was trained at (meta["data"]: source, image_size,
    channels), or (None, why not); run_checks cuts it as the checkpoint records (split_real_data) into the
    training split the model learnt from and the held-out split it never saw. Built-in digits always load;
    an absent folder or a missing optional dependency does not."""
    data = dict(ck.meta.get("data") or {})
    source = data.get("source") or data.get("name")
    if not source:
        return None, ("the checkpoint does not record its data set: give a reference set (--reference FOLDER_OR_ZIP "
                      "of images, or a data set name such as digits; in the app, upload a .zip of images)")
    try:
        ds = load_dataset(str(source), image_size=data.get("image_size") or ck.unet_config.image_size,
                          channels=data.get("channels") or ck.unet_config.in_channels,
                          image_column=data.get("image_column"), label_column=data.get("label_column"))
    except Exception as e:    # a missing folder, torchvision absent, no network for a download: all mean "skip"
        first = str(e).split(". ")[0]
        return None, f"its data set {str(source)!r} could not be loaded ({type(e).__name__}: {first})"
    if (ds.channels, ds.image_size) != (ck.unet_config.in_channels, ck.unet_config.image_size):
        return None, (f"its data set {str(source)!r} loads as {ds.channels}×{ds.image_size}×{ds.image_size}, the "
                      f"model makes {ck.unet_config.in_channels}×{ck.unet_config.image_size}²")
    return ds, ""


def _grid_png(images: torch.Tensor, labels: Optional[torch.Tensor], num_classes: int) -> bytes:
    from PIL import Image
    imgs = images[:GRID_IMAGES]
    # one column per class, as the samples were drawn with the classes cycled
    grid = make_grid(imgs, nrow=num_classes if labels is not None and num_classes else None)
    scale = max(1, min(8, 256 // max(1, images.shape[-1])))
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    buf = io.BytesIO()
    Image.fromarray(grid).save(buf, format="PNG")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------- run
def run_report(checkpoint: str | os.PathLike | LoadedCheckpoint, out_dir: str | os.PathLike, *, quick: bool = False,
               n: Optional[int] = None, seed: int = 0, device: str = "cpu", callback: Optional[StageFn] = None,
               max_bytes: int = DEFAULT_MAX_BYTES, sampler: Optional[str] = None, steps: Optional[int] = None,
               guidance_scale: float = 1.0, feature_net=None, real: Optional[ImageDataset] = None,
               thresholds: Thresholds = DEFAULT_THRESHOLDS, likelihood: Optional[bool] = None,
               reference=None, train_features: bool = False, amp: str = "off", lang: str = "en",
               eta: float = 0.0) -> ReportFiles:
    """Run every check and write report.html, report.json, report.md and samples.png into out_dir.

    checkpoint: a path (loaded with load_checkpoint; CheckpointError / FileNotFoundError propagate before any
    work) or a LoadedCheckpoint. device: cpu | cuda | cuda:N | mps | auto (ValueError if not available).
    quick: DDIM-20, n=64, short timings; full: DDPM over all T steps, n=500.
    real: the whole real data set, split as the checkpoint records; default: its own from meta["data"].
    reference: a folder / .zip of images or a data set name (diagnostics.reference) for a model that records no
    data set (a diffusers model); train_features: train a feature network on it where the shipped one does not fit.
    callback(stage, fraction) reports progress. likelihood: compute bits/dim (default: in full mode only).
    amp: the network's precision while drawing the shared samples ("off" = fp32, "auto", "bf16"; see
    ddpm.device.resolve_precision); the other checks run in fp32.
    lang: "en" or "zh", the language of report.html and report.md (report.json keeps the English texts).
    eta: DDIM's η for the shared samples (0 deterministic, 1 as noisy as DDPM's posterior).
    """
    started = time.perf_counter()
    if isinstance(checkpoint, LoadedCheckpoint):
        ck = checkpoint
    else:
        ck = load_checkpoint(checkpoint, device=pick_device(device), max_bytes=max_bytes)
    settings = mode_settings(quick, ck.diffusion.T, n, sampler, steps, likelihood, amp, eta)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise PermissionError(f"cannot write to {str(out)!r}; choose another --out")
    if callback:
        callback("data", 0.0)
    real_reason = ""
    if reference is not None:
        real, data_meta = load_reference(reference, ck)
        if not (ck.meta.get("data") or {}).get("name"):     # the reference stands in for the data it never recorded
            ck = replace(ck, meta={**ck.meta, "data": data_meta})
        if feature_net is None:
            feature_net, _ = reference_feature_net(real, train_features)
    if real is None:
        real, real_reason = load_real_data(ck)
    run = run_checks(ck, real, seed=seed, callback=callback, settings=settings, feature_net=feature_net,
                     real_reason=real_reason, guidance_scale=guidance_scale, thresholds=thresholds)
    grid = _grid_png(run.samples.images, run.samples.labels, ck.num_classes)
    report = Report(
        checkpoint=str(ck.path),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        settings={"mode": "quick" if settings.quick else "full", **settings.as_dict(), "seed": seed,
                  "device": str(next(ck.model.parameters()).device),
                  "guidance_scale": guidance_scale if ck.num_classes else 1.0,   # as applied: none without classes
                  "sampling_seconds": run.samples.seconds,
                  "precision": run.samples.settings.get("precision", "fp32"),   # what amp resolved to
                  "real_data": (f"{real.name}: {len(real)} images" if real is not None else f"none ({real_reason})"),
                  "torch": torch.__version__, "python": platform.python_version(),
                  "threads": torch.get_num_threads(), "thresholds": thresholds.as_dict()},
        checks=run.results, overall=worst_verdict([c.verdict for c in run.results]), model=model_summary(ck),
        sample_grid_png=grid)
    report.seconds = time.perf_counter() - started
    return write_report(report, out, lang)


def write_report(report: Report, out_dir: str | os.PathLike, lang: str = "en", data: bool = True) -> ReportFiles:
    """report.md and report.html (in `lang`: en or zh; another falls back to English with a warning), and with
    `data` report.json and samples.png, into out_dir."""
    lang = language(lang)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise PermissionError(f"cannot write to {str(out)!r}; choose another --out")
    html_path, json_path, md_path, grid_path = (out / "report.html", out / "report.json", out / "report.md",
                                                out / "samples.png")
    if data and report.sample_grid_png:
        atomic_write(grid_path, lambda tmp: Path(tmp).write_bytes(report.sample_grid_png))
    if data:
        atomic_write(json_path, lambda tmp: Path(tmp).write_text(to_json(report), encoding="utf-8"))
    atomic_write(md_path, lambda tmp: Path(tmp).write_text(to_markdown(report, lang), encoding="utf-8"))
    atomic_write(html_path, lambda tmp: Path(tmp).write_text(to_html(report, lang), encoding="utf-8"))
    return ReportFiles(report, html_path, json_path, md_path, grid_path if data and report.sample_grid_png else None)


def load_report(json_path: str | os.PathLike) -> Report:
    """A report back from its report.json (samples.png beside it, if there), e.g. to render it in another
    language: `write_report(load_report("docs/report/report.json"), "docs/report/zh", lang="zh")`."""
    path = Path(json_path)
    d = json.loads(path.read_text(encoding="utf-8"))
    names = {f.name for f in CheckResult.__dataclass_fields__.values()}
    checks = [CheckResult(**{k: v for k, v in c.items() if k in names}) for c in d["checks"]]
    grid = path.with_name("samples.png")
    return Report(checkpoint=d["checkpoint"], created=d["created"], settings=d["settings"], checks=checks,
                  overall=d["overall"], model=d["model"], seconds=d.get("seconds", 0.0),
                  sample_grid_png=grid.read_bytes() if grid.exists() else None)


# --------------------------------------------------------------------------------------------- renderers
def _jsonable(x: Any) -> Any:
    """Strict JSON: NaN/Inf become null, tensors and numpy values become lists and numbers."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if torch.is_tensor(x):
        return _jsonable(x.tolist())
    if hasattr(x, "tolist") and not isinstance(x, (str, bytes)):     # numpy arrays and scalars
        return _jsonable(x.tolist())
    if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return str(x)


def to_json(report: Report) -> str:
    """Every number of every check (NaN/Inf written as null), the settings and the model summary."""
    return json.dumps(_jsonable(report.as_dict()), indent=1, ensure_ascii=False, allow_nan=False)


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
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
        return "[" + ", ".join(_fmt(e) for e in v) + "]"
    if isinstance(v, dict) and len(v) <= 12 and all(not isinstance(e, (dict, list)) for e in v.values()):
        return ", ".join(f"{k}: {_fmt(e)}" for k, e in v.items())
    return str(v)


def _md_text(s) -> str:
    """Uploader-named text for Markdown: & and < escaped (no tag or entity can form); > kept, as in "t > 0"."""
    return str(s).replace("&", "&amp;").replace("<", "&lt;")


def _md_cell(s: str) -> str:
    return _md_text(s).replace("|", "\\|").replace("\n", " ")


VERDICT_ICONS = {"ok": "✅ ok", "warn": "⚠️ warn", "fail": "❌ fail", "skip": "⏭️ skip"}


def _skipped_clause(report: Report, lang: str = "en") -> str:
    """", 2 of 9 checks skipped: Sample quality, Memorisation" (or "" when every check ran): the overall
    summary after its verdict, so a report that skipped checks never reads as a plain "ok"."""
    text = _overall_summary(report, lang)
    head = verdict_word(report.overall, lang)
    return text[len(head):] if text.startswith(head) else f" ({text})"


def _overall_summary(report: Report, lang: str) -> str:
    if lang != "zh":
        return report.overall_summary
    skipped = [check_title(c.key, c.title, lang) for c in report.checks if c.verdict == "skip"]
    if not skipped:
        return verdict_word(report.overall, lang)
    if report.overall == "skip":
        return tr("all_skipped", lang, n=len(report.checks))
    return tr("skipped", lang, verdict=verdict_word(report.overall, lang), k=len(skipped), n=len(report.checks),
              titles="、".join(skipped))


def _icon(verdict: str, lang: str) -> str:
    return VERDICT_ICONS[verdict].split(" ")[0] + " " + verdict_word(verdict, lang)


def to_markdown(report: Report, lang: str = "en") -> str:
    """A short summary: the overall verdict, the model in one line and a table of checks with their fixes."""
    m, s = report.model, report.settings
    run = tr("run", lang, sampler=sampler_words(s, lang), steps=s.get("steps"), n=s.get("n"), seed=s.get("seed"),
             precision=s.get("precision", "fp32"))
    lines = [
        f"# {tr('md_title', lang, name=_md_text(Path(report.checkpoint).name))}", "",
        tr("md_head", lang, overall=tr("overall", lang), verdict=_icon(report.overall, lang)
           + _skipped_clause(report, lang), created=report.created, mode=tr("mode", lang, mode=s.get("mode")),
           run=run, seconds=f"{report.seconds:.0f}"), "",
        tr("model_line", lang, preset=m["preset"], params=m["parameters"], c=m["channels"], size=m["image_size"],
           classes=m["num_classes"] or tr("no", lang), step=m["step"], weights=m["weights"],
           data=_md_text(m["data_set"]), schedule=m["schedule"], T=m["T"], objective=m["objective"]),
        "",
        f"| {tr('check', lang)} | {tr('verdict', lang)} | {tr('summary', lang)} | {tr('fix', lang)} |",
        "|---|---|---|---|",
    ]
    for c in report.checks:
        lines.append(f"| {_md_cell(check_title(c.key, c.title, lang))} | {_icon(c.verdict, lang)} | "
                     f"{_md_cell(sentence(c.summary, lang))} | {_md_cell(sentence(c.fix, lang) or '—')} |")
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
details{margin:6px 0} summary{cursor:pointer;color:#0969da}
.check{margin-bottom:28px}
"""


def _badge(verdict: str, lang: str = "en") -> str:
    return (f'<span class="badge" style="background:{BADGE_COLORS[verdict]}">'
            f'{html.escape(verdict_word(verdict, lang))}</span>')


def _text(v, lang: str) -> str:
    """A value of the numbers as shown: a description (or a list of them) in `lang`, anything else formatted."""
    if isinstance(v, list) and v and all(isinstance(e, str) for e in v) and lang == "zh":
        return "；".join(sentence(e, lang) for e in v)
    return sentence(v, lang) if isinstance(v, str) else _fmt(v)


def _table_html(rows: list[dict], lang: str = "en") -> str:
    cols: list[str] = []
    for r in rows:
        for k in r:
            if k not in cols:
                cols.append(k)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{html.escape(_text(v, lang))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _numbers_html(numbers: dict, lang: str = "en") -> str:
    scalars, tables, nested = [], [], []
    parts = []
    captions = numbers.get("captions")
    if isinstance(captions, dict) and captions:
        # sample-quality numbers are only meaningful with their n, reference set and network: caption each
        parts.append("<ul>" + "".join(f"<li>{html.escape(sentence(str(c), lang))}</li>" for c in captions.values())
                     + "</ul>")
    for k, v in numbers.items():
        interval = isinstance(v, dict) and {"low", "method"} <= set(v)      # shown by its caption instead
        if k == "captions" or (isinstance(v, (list, dict)) and not v) or interval:
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
        def cell(v) -> str:
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            return f"<td{cls}>{html.escape(_text(v, lang))}</td>"
        rows = "".join(f"<tr><th>{html.escape(k)}</th>{cell(v)}</tr>" for k, v in scalars)
        parts.append(f"<table>{rows}</table>")
    for k, rows in tables:
        parts.append(f"<div class=\"muted\">{html.escape(k)}</div>{_table_html(rows, lang)}")
    for k, v in nested:
        text = json.dumps(_jsonable(v), ensure_ascii=False)
        if len(text) > 4000:
            text = text[:4000] + " …"
        parts.append(f"<details><summary>{html.escape(tr('raw', lang, k=k))}</summary>"
                     f"<pre style=\"white-space:pre-wrap;font-size:.8em\">{html.escape(text)}</pre></details>")
    return "".join(parts)


def to_html(report: Report, lang: str = "en") -> str:
    """One self-contained HTML page: plotly.js inlined once (no CDN), figures, the sample grid as a base64 PNG,
    a verdict badge, the rule and the fix for every check."""
    m = report.model
    esc = html.escape
    first_plot = [True]

    def fig_html(fig) -> str:
        include = first_plot[0]
        first_plot[0] = False
        return fig.to_html(full_html=False, include_plotlyjs=include,
                           config={"displaylogo": False, "responsive": True})

    T = lambda key, **kw: esc(tr(key, lang, **kw))      # noqa: E731
    name = lambda c: esc(check_title(c.key, c.title, lang))     # noqa: E731
    out = [f"<!DOCTYPE html><html lang=\"{'zh-CN' if lang == 'zh' else 'en'}\"><head><meta charset=\"utf-8\">",
           f"<title>{T('title')}: {esc(Path(report.checkpoint).name)}</title>",
           f"<style>{_CSS}</style></head><body>",
           f"<h1>{T('title')} {_badge(report.overall, lang)}</h1>",
           f"<p><b>{T('overall')}: {esc(_overall_summary(report, lang))}</b></p>",
           f"<div class=\"muted\">{esc(report.checkpoint)} · {esc(report.created)} · "
           f"{T('mode', mode=report.settings.get('mode'))} · {report.seconds:.1f} s</div>"]
    counts = {v: sum(c.verdict == v for c in report.checks) for v in ("ok", "warn", "fail", "skip")}
    out.append("<p>" + " ".join(f"{_badge(v, lang)} {counts[v]}" for v in counts) + "</p>")
    # summary table
    out.append(f"<h2>{T('summary')}</h2><table><tr><th>{T('check')}</th><th>{T('verdict')}</th><th>{T('summary')}"
               f"</th><th>{T('fix')}</th></tr>")
    for c in report.checks:
        out.append(f"<tr><td><a href=\"#{esc(c.key)}\">{name(c)}</a></td><td>{_badge(c.verdict, lang)}</td>"
                   f"<td>{esc(sentence(c.summary, lang))}</td><td>{esc(sentence(c.fix, lang)) or '—'}</td></tr>")
    out.append("</table>")
    # model and samples
    out.append(f"<h2>{T('model')}</h2>")
    value = tr("value", lang)
    model_rows = [{"": k, value: _fmt(v)} for k, v in m.items() if k not in ("train", "class_names")]
    model_rows.append({"": tr("class_names", lang), value: ", ".join(m.get("class_names") or []) or "—"})
    model_rows.append({"": tr("training", lang), value: _fmt(m.get("train") or {})})
    out.append(_table_html(model_rows))
    s = report.settings
    if report.sample_grid_png:
        b64 = base64.b64encode(report.sample_grid_png).decode("ascii")
        out.append(f"<h2>{T('samples')}</h2><div class=\"muted\">"
                   + T("samples_note", k=min(GRID_IMAGES, int(s.get("n") or 0)), n=s.get("n"),
                       sampler=sampler_words(s, lang), steps=s.get("steps"), seed=s.get("seed"))
                   + (T("per_class") if m.get("num_classes") else "") + ("。" if lang == "zh" else ".") + "</div>"
                   f"<div class=\"grid\"><img alt=\"sample grid\" src=\"data:image/png;base64,{b64}\"></div>")
    # checks
    for c in report.checks:
        out.append(f"<div class=\"check\" id=\"{esc(c.key)}\"><h2>{name(c)} {_badge(c.verdict, lang)}</h2>")
        out.append(f"<p>{esc(sentence(c.summary, lang))}</p>")
        if c.threshold:
            out.append(f"<div class=\"rule\"><b>{T('rule')}:</b> {esc(sentence(c.threshold, lang))}</div>")
        if c.fix:
            out.append(f"<div class=\"fix\"><b>{T('fix')}:</b> {esc(sentence(c.fix, lang))}</div>")
        extra = [f"n = {c.n}"] if c.n is not None else []
        extra.append(f"{c.seconds:.2f} s")
        out.append("<div class=\"muted\">" + esc(" · ".join(extra)) + "</div>")
        drawn = draw_figures(c, lang)
        notes = c.notes + drawn.not_drawn
        if notes:
            out.append("<ul class=\"muted\">" + "".join(f"<li>{esc(sentence(nt, lang))}</li>" for nt in notes)
                       + "</ul>")
        for fig in drawn.figures:
            out.append(fig_html(fig))
        if c.numbers:
            out.append(_numbers_html(c.numbers, lang))
        out.append("</div>")
    # settings
    th = s.get("thresholds") or {}
    shown = {k: v for k, v in s.items() if k != "thresholds"}
    out.append(f"<h2>{T('settings')}</h2>"
               + _table_html([{tr("setting", lang): k, value: _fmt(v)} for k, v in shown.items()]))
    if th:
        out.append(f"<details><summary>{T('thresholds')}</summary>"
                   + _table_html([{tr("threshold", lang): k, value: v} for k, v in th.items()]) + "</details>")
    out.append(f"<p class=\"muted\">{T('footer')}</p>")
    out.append("</body></html>")
    return "\n".join(out)
