"""Sample quality against sampling steps for one checkpoint — the shape of the DDIM paper's Table 1:
FID (with the real-vs-real floor beside it), Inception Score, precision/recall and conditional accuracy for
DDPM over all T steps (σ² = β̃ "fixed_small" and β "fixed_large") and DDIM with S ∈ {10, 20, 50, 100, T} ×
η ∈ {0, 0.5, 1}; every row with its network calls and wall time.

    python -m bench.quality_vs_steps [--ckpt checkpoints/digits_tiny.safetensors] [--n 300]
    python -m bench.quality_vs_steps --quick     # n=64, DDIM S ∈ {10, 50} × η ∈ {0, 1}, no DDPM

Every row starts from the SAME x_T (drawn once from --seed) with the same balanced labels (class i % K for
image i) and the same per-step noise generator, so rows differ only by the sampler. Metrics come from the
shipped feature network (diagnostics.features) against the data set's training split, with the held-out
split as the real-vs-real floor at the same n. Digits' held-out split has ~360 images, so n above that makes
the floor use fewer images than the generated set (the JSON says so in "notes").

Results: bench/results/quality_vs_steps.json (read by the app's Compare tab; "by_checkpoint" is keyed by the
checkpoint's SHA-256 prefix and keeps the entries of other checkpoints from earlier runs), plus a
self-contained plotly HTML figure of FID against steps per η, and a PNG when kaleido or matplotlib exists.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import torch

from bench import common
from ddpm.checkpoint import load_checkpoint
from ddpm.data import load_dataset, recorded_holdout
from ddpm.sampling import generate, initial_noise

NAME = "quality_vs_steps"
FULL_STEPS, FULL_ETAS = (10, 20, 50, 100, None), (0.0, 0.5, 1.0)     # None = T
QUICK_STEPS, QUICK_ETAS = (10, 50), (0.0, 1.0)


class Evaluator:
    """Draws samples from a fixed x_T / label set and scores them with diagnostics.metrics.sample_quality."""

    def __init__(self, data_source: str = "digits", image_size: int = 16, n: int = 300, seed: int = 0,
                 extractor=None, data_meta: Optional[dict] = None):
        from diagnostics.features import load_feature_net
        self.extractor = extractor or load_feature_net()
        ex = self.extractor
        data = load_dataset(data_source, image_size=image_size)
        # the split the checkpoint records (data_meta = its meta["data"]), so the floor's images are unseen by it
        self.reference, self.heldout = data.split_as_recorded(data_meta)
        self.num_classes = data.num_classes
        self.n, self.seed = int(n), int(seed)
        self.labels = torch.arange(self.n) % self.num_classes if self.num_classes else None
        self.notes = []
        if self.n > len(self.heldout):
            self.notes.append(f"n={self.n} exceeds the held-out split ({len(self.heldout)} images): the real-vs-real "
                              f"floor uses all {len(self.heldout)} and is biased upwards relative to the generated FID")
        else:
            self.notes.append(f"the held-out split has {len(self.heldout)} images, which caps the floor's n "
                              f"(n={self.n} here, so the floor is at the same n)")
        if self.num_classes and self.n % self.num_classes:
            self.notes.append(f"labels are i % {self.num_classes}; n={self.n} is not a multiple of "
                              f"{self.num_classes}, so the first {self.n % self.num_classes} classes get one more")
        if self.n < ex.num_features:
            self.notes.append(f"n={self.n} is below the feature dimension {ex.num_features}: FID is strongly "
                              "biased upwards; compare FIDs only at the same n")

    def x_T(self, shape) -> torch.Tensor:
        return initial_noise(self.n, shape, self.seed)

    def score(self, images: torch.Tensor) -> dict:
        from diagnostics.metrics import sample_quality
        q = sample_quality(images, self.labels, self.reference, self.heldout, self.extractor, k=3, seed=self.seed)
        return {"fid": q.fid, "fid_floor": q.fid_floor, "inception_score": q.inception_score[0],
                "precision": q.precision, "recall": q.recall, "conditional_accuracy": q.conditional_accuracy,
                "n": q.n_generated, "reference": q.reference, "floor_reference": q.floor_reference,
                "network": q.network, "network_id": q.network_id, "metric_notes": q.notes}

    def sample_and_score(self, model, diffusion, sampler: str, steps: Optional[int], eta: float = 0.0,
                         variance: str = "fixed_small", guidance_scale: float = 1.0, max_batch: int = 512) -> dict:
        cfg = model.config
        x_T = self.x_T((cfg.in_channels, cfg.image_size, cfg.image_size))
        labels = self.labels if cfg.num_classes else None
        res = generate(model, diffusion, sampler=sampler, steps=steps, eta=eta, variance=variance, n=self.n,
                       labels=labels, guidance_scale=guidance_scale if labels is not None else 1.0, seed=self.seed,
                       x_T=x_T, max_batch=max_batch)
        row = {"sampler": sampler, "steps": len(res.timesteps), "eta": eta if sampler == "ddim" else None,
               "variance": variance if sampler == "ddpm" else None, "guidance_scale": guidance_scale}
        t0 = time.perf_counter()
        row.update(self.score(res.images))
        row.update(network_calls=res.network_calls, seconds=res.seconds,
                   images_per_s=self.n / res.seconds, metric_seconds=time.perf_counter() - t0)
        return row


def holdout_note(data_meta: dict, ev: Evaluator) -> str:
    """Whether the floor's held-out images were unseen by the diffusion model (from the checkpoint's data meta)."""
    ex = ev.extractor
    frac, seed = ex.holdout_fraction, ex.split_seed
    h = data_meta.get("holdout")
    if not h:
        return ("the checkpoint records no held-out split (trained on every image), so the diffusion model saw the "
                "'held-out' images: the floor is a real-vs-real reference, not an unseen-data score")
    h, model_seed = recorded_holdout(data_meta)
    if seed is not None and abs(h - frac) < 1e-9 and model_seed == int(seed):
        return (f"the diffusion model was trained on the training split only (holdout {h:g}, seed {seed}, the feature "
                "network's split): the floor's held-out images are unseen by both networks")
    return (f"the diffusion model's held-out split (holdout {h:g}, seed {model_seed}) is unseen by it, but the "
            f"feature network held out another ({frac:g}, seed {seed}): some floor images were in its training data")


def load_for_eval(ckpt: str):
    """(LoadedCheckpoint, sha256 prefix); the hash is taken around the load so a file replaced mid-way is noticed."""
    for _ in range(3):
        before = common.sha256_prefix(ckpt)
        lc = load_checkpoint(ckpt, max_bytes=None)   # a local file the user named: no upload size limit
        if common.sha256_prefix(ckpt) == before:
            return lc, before
    raise RuntimeError(f"{ckpt} keeps changing while it is read (a training run writing it?); copy it first")


def plan_rows(T: int, quick: bool, steps: Optional[Sequence[int]], etas: Optional[Sequence[float]],
              ddpm: Optional[bool]) -> list[tuple]:
    steps = list(steps or (QUICK_STEPS if quick else FULL_STEPS))
    etas = list(etas if etas is not None else (QUICK_ETAS if quick else FULL_ETAS))
    ddpm = (not quick) if ddpm is None else ddpm
    rows = []
    if ddpm:
        rows += [("ddpm", None, None, "fixed_small"), ("ddpm", None, None, "fixed_large")]
    seen = set()
    for s in steps:
        s = T if s is None else min(int(s), T)
        for e in etas:
            if (s, e) not in seen:
                seen.add((s, e))
                rows.append(("ddim", s, float(e), None))
    return rows


def write_figure(rows: list[dict], T: int, floor: Optional[float], title: str, html_path: Path) -> dict:
    """plotly HTML (self-contained) of FID against steps, one line per η, DDPM points at T; a PNG when a
    renderer exists (kaleido, else matplotlib)."""
    out = {"figure_html": None, "figure_png": None, "png_note": None}
    import plotly.graph_objects as go
    fig = go.Figure()
    etas = sorted({r["eta"] for r in rows if r["sampler"] == "ddim"})
    for e in etas:
        rs = sorted((r for r in rows if r["sampler"] == "ddim" and r["eta"] == e), key=lambda r: r["steps"])
        fig.add_trace(go.Scatter(x=[r["steps"] for r in rs], y=[r["fid"] for r in rs], mode="lines+markers",
                                 name=f"DDIM η={e:g}"))
    for r in rows:
        if r["sampler"] == "ddpm":
            fig.add_trace(go.Scatter(x=[r["steps"]], y=[r["fid"]], mode="markers", marker_symbol="diamond",
                                     marker_size=11, name=f"DDPM {r['variance']}"))
    if floor is not None:
        fig.add_hline(y=floor, line_dash="dot", annotation_text=f"real-vs-real floor {floor:.2f}")
    fig.update_layout(title=title, xaxis_title="sampling steps S (network calls per image)", yaxis_title="FID",
                      template="plotly_white", legend_title="sampler")
    fig.update_xaxes(type="log")
    html_path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(html_path), include_plotlyjs=True, full_html=True)
    out["figure_html"] = str(html_path)
    png = html_path.with_suffix(".png")
    try:
        import kaleido  # noqa: F401
        fig.write_image(str(png))
        out["figure_png"] = str(png)
        return out
    except Exception as e:
        kaleido_err = f"{type(e).__name__}: {e}"
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        f, ax = plt.subplots(figsize=(6, 4))
        for e in etas:
            rs = sorted((r for r in rows if r["sampler"] == "ddim" and r["eta"] == e), key=lambda r: r["steps"])
            ax.plot([r["steps"] for r in rs], [r["fid"] for r in rs], "o-", label=f"DDIM η={e:g}")
        for r in rows:
            if r["sampler"] == "ddpm":
                ax.plot([r["steps"]], [r["fid"]], "D", label=f"DDPM {r['variance']}")
        if floor is not None:
            ax.axhline(floor, ls=":", c="grey", label="real-vs-real floor")
        ax.set_xscale("log"); ax.set_xlabel("sampling steps"); ax.set_ylabel("FID"); ax.legend(); ax.set_title(title)
        f.tight_layout(); f.savefig(png, dpi=120); plt.close(f)
        out["figure_png"] = str(png)
    except ImportError:
        out["png_note"] = (f"no PNG: kaleido is not usable ({kaleido_err[:80]}) and matplotlib is not installed; "
                           "the HTML figure is the only rendering")
    return out


def run(quick: bool = False, ckpt: Optional[str] = None, n: Optional[int] = None, seed: int = 0,
        steps: Optional[Sequence[int]] = None, etas: Optional[Sequence[float]] = None, ddpm: Optional[bool] = None,
        guidance_scale: float = 1.0, max_batch: int = 512, figure: bool = True, out_json: Optional[str] = None,
        command: Optional[str] = None, write: bool = True) -> dict:
    started = time.perf_counter()
    ckpt = ckpt or common.default_checkpoint()
    n = n or (64 if quick else 300)
    payload = common.envelope(NAME, quick, command, "cpu")
    lc, sha = load_for_eval(ckpt)
    data_meta = lc.meta.get("data") or {}
    ev = Evaluator(str(data_meta.get("source") or data_meta.get("name") or "digits"),
                   image_size=lc.unet_config.image_size, n=n, seed=seed, data_meta=data_meta)
    T = lc.diffusion.T
    ck_info = {"path": str(ckpt), "sha256": sha, "step": lc.step, "weights": lc.weights}
    x_T = ev.x_T(lc.image_shape)
    rows = []
    for sampler, s, eta, variance in plan_rows(T, quick, steps, etas, ddpm):
        common.log(f"[quality_vs_steps] {sampler} S={s or T} eta={eta} variance={variance} (n={n})")
        r = ev.sample_and_score(lc.model, lc.diffusion, sampler, s, eta or 0.0, variance or "fixed_small",
                                guidance_scale, max_batch)
        r["checkpoint"] = ck_info
        r["label"] = (f"DDPM-{r['steps']} {variance}" if sampler == "ddpm" else f"DDIM-{r['steps']} η={eta:g}")
        rows.append(r)
        common.log(f"  FID {r['fid']:.2f} (floor {r['fid_floor']:.2f}), cond. acc {r['conditional_accuracy']}, "
                   f"{r['seconds']:.1f}s")
    floor = rows[0]["fid_floor"] if rows else None
    path = common.results_path(NAME, quick, out_json)
    notes = list(ev.notes) + [holdout_note(data_meta, ev)]
    payload.update(
        checkpoint=ck_info, n=n, seed=seed, T=T, guidance_scale=guidance_scale,
        labels=f"balanced: image i gets class i % {ev.num_classes}",
        x_T_sha256=hashlib.sha256(x_T.numpy().tobytes()).hexdigest()[:16],
        same_x_T_for_every_row=True,
        reference=rows[0]["reference"] if rows else None, network=rows[0]["network"] if rows else None,
        fid_floor=floor, floor_n=min(n, len(ev.heldout)), heldout_size=len(ev.heldout), notes=notes, rows=rows)
    # keep other checkpoints' entries from an earlier file (the Compare tab reads them by SHA prefix)
    by = {}
    if write and path.exists():
        try:
            by = dict(json.loads(path.read_text()).get("by_checkpoint") or {})
        except (OSError, ValueError):
            by = {}
    by[sha] = {"checkpoint": ck_info, "date": payload["date"], "n": n, "seed": seed, "quick": quick,
               "fid_floor": floor, "reference": payload["reference"], "network": payload["network"], "rows": rows}
    payload["by_checkpoint"] = by
    if figure and rows:
        payload.update(write_figure(rows, T, floor, f"FID vs sampling steps — {Path(ckpt).name} ({sha}), n={n}",
                                    path.with_suffix(".html")))
    payload["tables"] = [common.table(
        f"Quality vs sampling steps: {Path(ckpt).name} (sha256 {sha}, step {lc.step}), n={n}{' [quick]' if quick else ''}",
        ["sampler", "S", "eta", "variance", "FID", "floor", "IS", "precision", "recall", "cond. acc",
         "net calls", "seconds"],
        [[r["sampler"], r["steps"], None if r["eta"] is None else f"{r['eta']:g}", r["variance"], r["fid"],
          r["fid_floor"], r["inception_score"], r["precision"], r["recall"], r["conditional_accuracy"],
          r["network_calls"], r["seconds"]] for r in rows],
        notes=notes + ([payload["png_note"]] if payload.get("png_note") else []))]
    return common.finish_and_write(payload, started, path, write)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.quality_vs_steps", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="n=64, DDIM S in {10, 50} x eta in {0, 1}, no DDPM")
    p.add_argument("--ckpt", default=common.default_checkpoint(), help="default: %(default)s")
    p.add_argument("--n", type=int, help="images per row (default 300; quick 64)")
    p.add_argument("--seed", type=int, default=0, help="x_T, labels and step noise (the same for every row)")
    p.add_argument("--steps", type=int, nargs="+", help="DDIM step counts (default 10 20 50 100 T)")
    p.add_argument("--etas", type=float, nargs="+", help="DDIM etas (default 0 0.5 1)")
    p.add_argument("--ddpm", action=argparse.BooleanOptionalAction, default=None,
                   help="include DDPM over all T steps (default: on; off in quick)")
    p.add_argument("--guidance-scale", type=float, default=1.0)
    p.add_argument("--max-batch", type=int, default=512, help="images per forward pass")
    common.add_threads_arg(p)
    p.add_argument("--out-json")
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    res = run(a.quick, a.ckpt, a.n, a.seed, a.steps, a.etas, a.ddpm, a.guidance_scale, a.max_batch, True,
              a.out_json, common.cli_command("bench.quality_vs_steps", argv))
    for t in res["tables"]:
        common.print_table(t)
    print(f"wrote {res['json']}" + (f" and {res['figure_html']}" if res.get("figure_html") else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
