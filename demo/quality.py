"""Sample quality against sampling steps for one checkpoint: from the benchmark's results when they cover
it, else from a quick on-the-spot measurement cached under runs/app/_cache/quality/<sha256>.json, so the
plot is immediate the next time (the key is the file's hash, so a retrained file is measured afresh).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional

from ddpm import LoadedCheckpoint
from ddpm.messages import Message, MessageError, msg

from . import limits
from .paths import bench_quality_file, cache_dir

ProgressFn = Callable[[float, str], None]


def _rows_of(payload) -> list[dict]:
    if isinstance(payload, list):
        return [r for r in payload if isinstance(r, dict)]
    if isinstance(payload, dict):
        for key in ("rows", "results", "quality_vs_steps"):
            if isinstance(payload.get(key), list):
                return [r for r in payload[key] if isinstance(r, dict)]
    return []


def _checkpoint_ids(d: dict) -> tuple[Optional[str], Optional[str]]:
    """(sha256 or its prefix, file name) a result says it was measured on, if it says."""
    sha = d.get("checkpoint_sha256") or d.get("sha256") or d.get("checkpoint_hash")
    ckpt = d.get("checkpoint")
    if isinstance(ckpt, dict):
        sha = sha or ckpt.get("sha256") or ckpt.get("sha256_prefix")
        ckpt = ckpt.get("path")
    return (str(sha).lower() if sha else None), (Path(str(ckpt)).name if ckpt else None)


def _matches(ids: tuple[Optional[str], Optional[str]], sha: str, path: Path) -> Optional[bool]:
    ref_sha, ref_name = ids
    if ref_sha:
        return sha.startswith(ref_sha) or ref_sha.startswith(sha)
    if ref_name:
        return ref_name == path.name
    return None   # the result does not say


SOLVER_RESULTS = "quality_vs_calls.json"   # bench.quality_vs_steps run for the multistep solvers (same n, x_T, floor)


def _file_rows(f: Path, sha: str, path: Path, is_bundled: bool) -> tuple[list[dict], dict, Optional[Message]]:
    """(rows measured on this checkpoint, the file's entry for it, why there are none) of one results file."""
    if not f.exists():
        return [], {}, msg("steps_quality.no_results", file=f.name)
    try:
        payload = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        return [], {}, msg("steps_quality.unreadable", file=f.name, error=str(e))
    rows, entry = [], None
    if isinstance(payload, dict):
        for key, e in (payload.get("by_checkpoint") or {}).items():
            if isinstance(e, dict) and sha.startswith(str(key).lower()):
                entry, rows = e, _rows_of(e)
                break
    if not rows:
        top = _matches(_checkpoint_ids(payload), sha, path) if isinstance(payload, dict) else None
        for r in _rows_of(payload):
            m = _matches(_checkpoint_ids(r), sha, path)
            m = top if m is None else m
            if m or (m is None and is_bundled):     # a result that names no checkpoint is the bundled model's
                rows.append(r)
        entry = payload if isinstance(payload, dict) else {}
    return rows, entry, None if rows else msg("steps_quality.other_checkpoints", file=f.name)


def _row_key(r: dict) -> tuple:
    return r.get("series") or r.get("sampler"), r.get("network_calls") or r.get("steps")


def network_name(rows: list[dict], entry: Optional[dict] = None) -> Optional[str]:
    """The feature network the numbers were measured with, by its id ("mnist-cnn-64 sha256 4d51676ff96c…"): a name,
    the same in every language (the results' longer "network" text is English)."""
    for r in rows:
        if r.get("network_id"):
            return str(r["network_id"])
    entry = entry or {}
    return str(entry.get("network_id") or entry.get("network") or "") or None


def bench_rows(path: Path, sha: str, is_bundled: bool) -> tuple[list[dict], Message]:
    """Rows of bench/results/quality_vs_steps.json or of a larger run beside it (quality_vs_steps_*.json, e.g. the
    n = 1,000 runs), measured on this checkpoint, and a note saying where they come from (or why there are none).
    FIDs at different n are not comparable, so the rows come from ONE run: the one with the most images per row
    (the main file on a tie); the solvers' quality_vs_calls.json adds its settings when it was measured at that n. A
    file keeps one entry per checkpoint under "by_checkpoint", keyed by the SHA-256 prefix, beside the latest run's
    "checkpoint" and "rows"."""
    f = bench_quality_file()
    found, why = [], None
    for g in [f, *sorted(f.parent.glob(f"{f.stem}_*.json"))]:
        rows, entry, no = _file_rows(g, sha, path, is_bundled)
        if rows:
            found.append((_n_of(rows, entry), g == f, g, rows, entry))
        elif g == f:
            why = no
    if not found:
        return [], why
    n_run, _, g, rows, entry = max(found, key=lambda x: (x[0], x[1]))
    used = [g.name]
    extra, extra_entry, _ = _file_rows(f.with_name(SOLVER_RESULTS), sha, path, is_bundled)
    seen = {_row_key(r) for r in rows}
    extra = [r for r in extra if _row_key(r) not in seen]
    if extra and _n_of(extra, extra_entry) == n_run:
        rows, used = rows + extra, used + [SOLVER_RESULTS]
    n = sorted({r.get("n") for r in rows if r.get("n")} or ({entry.get("n")} if entry.get("n") else set()))
    net = network_name(rows, entry)
    note = msg("steps_quality.source_quick" if entry.get("quick") else "steps_quality.source", files=" + ".join(used),
               n=", ".join(map(str, n)) or "?", features=msg("steps_quality.features", network=net) if net else "")
    return rows, note


def _n_of(rows: list[dict], entry: Optional[dict]) -> int:
    return max([int(r.get("n") or 0) for r in rows] + [int((entry or {}).get("n") or 0)])


def cached_rows(sha: str) -> Optional[dict]:
    f = cache_dir("quality") / f"{sha[:32]}.json"
    try:
        return json.loads(f.read_text())
    except (OSError, ValueError):
        return None


def quick_settings(T: int) -> list:
    """The quick measurement's diagnostics.sweep.SweepSetting list: DDIM at limits.QUICK_QUALITY_STEPS (< T) for
    each of limits.QUICK_QUALITY_ETAS, and DDPM over all T steps (steps=None) when T <=
    limits.QUICK_QUALITY_MAX_DDPM_T (beyond that its T steps would take minutes on a CPU)."""
    from diagnostics.sweep import SweepSetting      # imported here: diagnostics is optional
    settings = [SweepSetting("ddim", s, {"eta": eta}) for eta in limits.QUICK_QUALITY_ETAS
                for s in limits.QUICK_QUALITY_STEPS if s < T]
    if T <= limits.QUICK_QUALITY_MAX_DDPM_T:
        settings.append(SweepSetting("ddpm", None, {"variance": "fixed_small"}))
    return settings


def records_data(ckpt: LoadedCheckpoint) -> bool:
    """Whether the checkpoint records the data set it was trained on (a diffusers model records none)."""
    data = ckpt.meta.get("data") or {}
    return bool(data.get("source") or data.get("name"))


def measure(ckpt: LoadedCheckpoint, sha: str, progress: Optional[ProgressFn] = None,
            n: int = limits.QUICK_QUALITY_N, seed: int = 0, settings: Optional[list] = None,
            reference=None, train_features: bool = False) -> dict:
    """Quick quality-vs-steps for one checkpoint: diagnostics.sweep (the benchmark's sweep) at small n, DDIM at
    limits.QUICK_QUALITY_STEPS for each of limits.QUICK_QUALITY_ETAS, and DDPM over all T steps when T is small
    (limits.QUICK_QUALITY_MAX_DDPM_T). Cached by the file's hash. ValueError (with what to do) when the model's
    data set is not available here or the sweep refuses the checkpoint, as the report's quality check would.
    reference: for a model that records no data set, the real images to compare with (a .zip path or a built-in
    name, read by diagnostics.reference.load_reference, as the report's --reference); train_features: train a
    feature network on it where the shipped one does not fit (a few CPU minutes, cached)."""
    from diagnostics.sweep import QualitySweep      # imported here: diagnostics is optional

    started = time.perf_counter()
    real = feature_net = reference_name = None
    if reference is not None and not records_data(ckpt):
        from diagnostics.reference import load_reference, reference_feature_net
        real, data_meta = load_reference(reference, ckpt)
        # the reference stands in for the data the model never recorded; what it saw of it is not known
        ckpt = replace(ckpt, meta={**ckpt.meta, "data": {**data_meta, "trained_on": "unknown"}})
        feature_net, why = reference_feature_net(real, bool(train_features))
        if why:
            raise MessageError("steps_quality.reference_no_net", why=why)
        reference_name = str(real.name)
    else:
        data = ckpt.meta.get("data") or {}
        source = str(data.get("source") or data.get("name") or "digits")
        if source != "digits":
            raise MessageError("steps_quality.needs_data", data=str(data.get("name") or source))
    sweep = QualitySweep(ckpt, n=n, seed=seed, real=real, feature_net=feature_net)
    settings = settings or quick_settings(ckpt.diffusion_config.T)
    rows = [r.as_dict() for r in sweep.run(settings, progress)]
    payload = {"checkpoint_sha256": sha, "checkpoint": os.path.basename(ckpt.path), "n": n, "seed": seed,
               "seconds": time.perf_counter() - started, "reference": rows[0]["reference"],
               "network": rows[0]["network"], "network_id": network_name(rows), "notes": [str(n) for n in sweep.notes],
               "reference_set": reference_name, "rows": rows}
    f = cache_dir("quality") / f"{sha[:32]}.json"
    tmp = f.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, f)
    return payload
