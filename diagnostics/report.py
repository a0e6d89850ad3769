"""The diagnostics report: run every check on a checkpoint and write one self-contained HTML file (plotly.js
inlined, the sample grid as a base64 PNG, readable offline), a JSON file with every number, and a short
Markdown summary.

    from diagnostics.report import run_report
    files = run_report("checkpoints/digits_tiny.safetensors", "reports/tiny", quick=True)
    print(files.report.overall, files.html_path)

Or `python -m diagnostics report CKPT --out DIR [--quick]`. Rendering (the words, in English or 中文) is
diagnostics.render; to_html and to_markdown are re-exported here.
"""
from __future__ import annotations

import io
import json
import os
import platform
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import torch

from ddpm import LoadedCheckpoint, count_parameters, load_checkpoint, pick_device
from ddpm.unet import preset_name
from ddpm.checkpoint import DEFAULT_MAX_BYTES, FolderNotWritable, atomic_write
from ddpm.data import ImageDataset, load_dataset, make_grid
from ddpm.messages import MessageError
from ddpm.guidance import as_guidance_interval

from .checks.result import CheckResult, StageFn, overall_summary, worst_verdict
from .checks.model import architecture, schedule_name
from .checks.runner import mode_settings, run_checks
from .splits import TRAINED_ON
from .reference import load_reference, reference_feature_net
from .render import GRID_IMAGES, jsonable, to_html, to_markdown
from .text import Message, language, msg, revive, say
from .thresholds import DEFAULT_THRESHOLDS, Thresholds


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
    def overall_summary(self) -> Message:
        """The overall verdict naming the skipped checks, e.g. "ok, 2 of 9 checks skipped: Sample quality, …"."""
        return overall_summary(self.checks)

    @property
    def legacy(self) -> bool:
        """Read from a report.json written before the checks stored their messages: English text only."""
        return not all(c.messages_only for c in self.checks)

    def as_dict(self) -> dict:
        """JSON-ready; a setting that is a Message (real_data) is its English text, and under "setting_messages"
        its key and values, from which load_report reads it back."""
        worded = {k: v for k, v in self.settings.items() if isinstance(v, Message)}
        return {"checkpoint": self.checkpoint, "created": self.created, "overall": self.overall,
                "overall_summary": say(self.overall_summary), "seconds": self.seconds, "model": self.model,
                "settings": {k: say(v) if k in worded else v for k, v in self.settings.items()},
                "setting_messages": {k: v.as_dict() for k, v in worded.items()},
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
def model_summary(ck: LoadedCheckpoint, reference: Optional[str] = None) -> dict:
    """What the checkpoint file says about the model, None where it says nothing; reference: the name of the
    reference set the checks used instead of a data record the file lacks (kept apart from "data_set")."""
    u, d = ck.unet_config, ck.diffusion_config
    data = {} if (ck.meta.get("data") or {}).get("reference") else dict(ck.meta.get("data") or {})
    train = dict(ck.meta.get("train") or {})
    return {
        "preset": preset_name(u), "architecture": architecture(ck), "parameters": count_parameters(ck.model),
        "image_size": u.image_size, "channels": u.in_channels, "base_channels": u.base_channels,
        "channel_mult": list(u.channel_mult), "num_res_blocks": u.num_res_blocks,
        "attention_resolutions": list(u.attention_resolutions),
        "num_classes": u.num_classes, "class_names": list(ck.class_names),
        # a diffusers folder records no training step (its loader says 0): "unknown", not step 0
        "step": None if ck.meta.get("format") == "diffusers" and not ck.step else ck.step, "weights": ck.weights,
        "data_set": data.get("name"), "data_source": data.get("source"), "reference": reference,
        "schedule": schedule_name(d, ck.meta.get("scheduler") if ck.meta.get("format") == "diffusers" else None),
        "T": d.T, "objective": d.objective,
        "train": {k: train[k] for k in ("steps", "batch_size", "lr", "ema_decay", "loss", "weighting",
                                        "label_dropout") if k in train},
    }


def load_real_data(ck: LoadedCheckpoint) -> tuple[Optional[ImageDataset], Optional[Message]]:
    """The checkpoint's whole data set, at the size it was trained at (meta["data"]: source, image_size,
    channels), or (None, why not); run_checks cuts it as the checkpoint records (split_real_data) into the
    training split the model learnt from and the held-out split it never saw. Built-in digits always load;
    an absent folder or a missing optional dependency does not."""
    data = dict(ck.meta.get("data") or {})
    source = data.get("source") or data.get("name")
    if not source:
        return None, msg("data.not_recorded")
    try:
        ds = load_dataset(str(source), image_size=data.get("image_size") or ck.unet_config.image_size,
                          channels=data.get("channels") or ck.unet_config.in_channels,
                          image_column=data.get("image_column"), label_column=data.get("label_column"))
    except Exception as e:    # a missing folder, torchvision absent, no network for a download: all mean "skip"
        error = getattr(e, "message", None) or f"{type(e).__name__}: {str(e).split('. ')[0]}"
        return None, msg("data.not_loaded", source=str(source), error=error)
    if (ds.channels, ds.image_size) != (ck.unet_config.in_channels, ck.unet_config.image_size):
        return None, msg("data.wrong_shape", source=str(source), c=ds.channels, size=ds.image_size,
                         mc=ck.unet_config.in_channels, msize=ck.unet_config.image_size)
    return ds, None


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
               eta: float = 0.0, reference_trained: str = "unknown", guidance_interval=None) -> ReportFiles:
    """Run every check and write report.html, report.json, report.md and samples.png into out_dir.

    checkpoint: a path (loaded with load_checkpoint; CheckpointError / FileNotFoundError propagate before any
    work) or a LoadedCheckpoint. device: cpu | cuda | cuda:N | mps | auto (ValueError if not available).
    quick: DDIM-20, n=64, short timings; full: DDPM over all T steps, n=500.
    real: the whole real data set, split as the checkpoint records; default: its own from meta["data"].
    reference: a folder / .zip of images or a data set name (diagnostics.reference) for a model that records no
    data set (a diffusers model); train_features: train a feature network on it where the shipped one does not fit.
    reference_trained: what such a model saw of the reference: "unknown" (default: the checks comparing training and
    held-out images assume the trainer's 80/20 cut and say so), "all" (every image: no held-out baseline) or "none"
    (none of them: no training images to compare with).
    callback(stage, fraction) reports progress. likelihood: compute bits/dim (default: in full mode only).
    amp: the network's precision while drawing the shared samples ("off" = fp32, "auto", "bf16"; see
    ddpm.device.resolve_precision); the other checks run in fp32.
    lang: "en" or "zh", the language of report.html and report.md (report.json keeps every message as its key and
    values, beside its English text, so `render` writes either language later).
    eta: DDIM's η for the shared samples (0 deterministic, 1 as noisy as DDPM's posterior).
    guidance_interval: (s_lo, s_hi), the shared samples' classifier-free guidance only where s_lo < σ/α ≤ s_hi
    (ddpm.guidance.GuidanceInterval; None: every step).
    """
    started = time.perf_counter()
    if reference_trained not in TRAINED_ON:
        raise MessageError("settings.bad_reference_trained", value=repr(reference_trained),
                           choices=", ".join(TRAINED_ON))
    if isinstance(checkpoint, LoadedCheckpoint):
        ck = checkpoint
    else:
        ck = load_checkpoint(checkpoint, device=pick_device(device), max_bytes=max_bytes)
    settings = mode_settings(quick, ck.diffusion.T, n, sampler, steps, likelihood, amp, eta)
    interval = as_guidance_interval(guidance_interval) if ck.num_classes and guidance_scale != 1.0 else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not os.access(out, os.W_OK):
        raise FolderNotWritable("checkpoint.folder_not_writable", folder=str(out))
    if callback:
        callback("data", 0.0)
    real_reason, own = None, ck         # own: the checkpoint as its file describes it, for the model line
    if reference is not None:
        real, data_meta = load_reference(reference, ck)
        if not (ck.meta.get("data") or {}).get("name"):     # the reference stands in for the data it never recorded
            ck = replace(ck, meta={**ck.meta, "data": {**data_meta, "trained_on": reference_trained}})
        if feature_net is None:
            feature_net, _ = reference_feature_net(real, train_features)
    if real is None:
        real, real_reason = load_real_data(ck)
    run = run_checks(ck, real, seed=seed, callback=callback, settings=settings, feature_net=feature_net,
                     real_reason=real_reason, guidance_scale=guidance_scale, thresholds=thresholds,
                     guidance_interval=interval)
    grid = _grid_png(run.samples.images, run.samples.labels, ck.num_classes)
    report = Report(
        checkpoint=str(ck.path),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        settings={"mode": "quick" if settings.quick else "full", **settings.as_dict(), "seed": seed,
                  "device": str(next(ck.model.parameters()).device),
                  "guidance_scale": guidance_scale if ck.num_classes else 1.0,   # as applied: none without classes
                  "guidance_interval": None if interval is None else interval.as_list(),
                  "sampling_seconds": run.samples.seconds,
                  "precision": run.samples.settings.get("precision", "fp32"),   # what amp resolved to
                  "real_data": (msg("report.real_data", name=str(real.name), n=len(real)) if real is not None
                                else msg("report.no_real_data", why=real_reason)),
                  **({"reference_trained": reference_trained} if reference is not None else {}),
                  "torch": torch.__version__, "python": platform.python_version(),
                  "threads": torch.get_num_threads(), "thresholds": thresholds.as_dict()},
        checks=run.results, overall=worst_verdict([c.verdict for c in run.results]),
        model=model_summary(own, None if reference is None else str(real.name)),
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
        raise FolderNotWritable("checkpoint.folder_not_writable", folder=str(out))
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
    language: `write_report(load_report("reports/tiny/report.json"), "reports/tiny/zh", lang="zh")`. A report.json
    written before the checks stored their messages (no "messages" in its checks) renders in English only."""
    path = Path(json_path)
    d = json.loads(path.read_text(encoding="utf-8"))
    checks = [CheckResult.from_dict(c) for c in d["checks"]]
    grid = path.with_name("samples.png")
    settings = {**d["settings"], **revive(d.get("setting_messages") or {})}
    return Report(checkpoint=d["checkpoint"], created=d["created"], settings=settings, checks=checks,
                  overall=d["overall"], model=revive(d["model"]), seconds=d.get("seconds", 0.0),
                  sample_grid_png=grid.read_bytes() if grid.exists() else None)


# --------------------------------------------------------------------------------------------- renderers
def to_json(report: Report) -> str:
    """Every number of every check (NaN/Inf written as null), the settings and the model summary."""
    return json.dumps(jsonable(report.as_dict()), indent=1, ensure_ascii=False, allow_nan=False)
