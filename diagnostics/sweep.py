"""One quality sweep: sample quality against sampling cost for one checkpoint, FID_s = FID(features of the
samples of setting s, features of the training split), every setting s starting from the same x_T ~ N(0, I)
(drawn once from `seed`) with the same labels (class i % K for image i), so settings differ only by the
sampler. Each row is scored by `diagnostics.metrics.sample_quality` beside its real-vs-real floor (held-out
images of the split the checkpoint records, at the same n and class mix).

    from diagnostics.sweep import QualitySweep, SweepSetting
    sweep = QualitySweep(load_checkpoint("checkpoints/digits_tiny.safetensors"), n=300)
    rows = sweep.run([SweepSetting("ddim", 10, {"eta": 0.0}), SweepSetting("ddpm", None)])

Settings are sampler-agnostic: a sampler name `ddpm.generate` knows, its steps, and any other generate()
keywords (eta, variance, guidance_scale, ...). Rows are typed (`SweepRow`) and carry the network calls per
image, the x-axis of every quality-vs-cost plot. Used by `python -m bench.quality_vs_steps`, bench.guidance,
bench.recipes and the app's quick measurement; it refuses what the report's quality check refuses (a feature
network that does not fit the model's images, a data set that cannot be loaded), with the reason.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional, Sequence

import torch

from ddpm import LoadedCheckpoint, generate, initial_noise
from ddpm.messages import MessageError
from ddpm.sampling import SampleResult

from .checks.quality import feature_net_mismatch
from .extractors import CachedEmbeddings, load_extractor
from .splits import RealSplits, split_real_data
from .intervals import Interval
from .text import say

ProgressFn = Callable[[float, str], None]     # (fraction of the whole sweep done in [0, 1], current setting)
DISPLAY = {"ddpm": "DDPM", "ddim": "DDIM", "dpmpp_2m": "DPM-Solver++(2M)", "dpmpp_2m_sde": "SDE-DPM-Solver++(2M)",
           "unipc": "UniPC", "edm_heun": "EDM Heun", "restart": "Restart"}


class SweepRefused(MessageError):
    """The sweep cannot score this checkpoint here; the message (a ValueError's text in English, .message in any
    language) says why and what to do."""


@dataclass
class SweepSetting:
    """One row of a sweep: a sampler by name, its steps (None: the sampler's own, T for DDPM) and any other
    keywords of ddpm.generate (eta, variance, guidance_scale, classifier_scale, ...)."""
    sampler: str
    steps: Optional[int] = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def series(self) -> str:
        """The line this setting belongs to in a plot over steps: 'DDIM η=0', 'DDPM (fixed_large)', …"""
        name = DISPLAY.get(self.sampler, self.sampler)
        extra = []
        for k, v in self.options.items():
            if k == "eta":
                name += f" η={float(v):g}"
            elif isinstance(v, str) or hasattr(v, "__dataclass_fields__"):   # a Churn, RestartSpec, EpsScaling
                extra.append(str(v))
            else:
                extra.append(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}")
        return name + (f" ({', '.join(extra)})" if extra else "")


@dataclass
class SweepRow:
    """One setting's samples, scored. fid_floor is the real-vs-real FID at the same n and class mix;
    fid_matched the samples' FID at the floor's n (differs from fid when the held-out split is smaller)."""
    series: str                        # e.g. "DDIM η=0"; a plot draws one line per series
    label: str                         # e.g. "DDIM η=0, 10 steps"
    sampler: str
    steps: int                         # timesteps the sampler visited
    network_calls: int                 # forward passes of the network per image: the cost axis
    options: dict[str, Any]
    fid: float
    fid_floor: Optional[float]
    fid_floor_std: Optional[float]     # the floor's uncertainty (see metrics.real_vs_real_floor)
    fid_matched: Optional[float]
    n_floor: int
    floor_classes: str                 # "matched" (the samples' class counts) | "random" (classes fall at random)
    inception_score: float
    precision: float
    recall: float
    conditional_accuracy: Optional[float]
    n: int                             # generated images
    seconds: float                     # sampling wall time
    metric_seconds: float              # scoring wall time
    reference: str
    floor_reference: Optional[str]
    network: str
    network_id: str
    metric_notes: list[str] = field(default_factory=list)
    fid_ratio: Optional[Interval] = None   # FID (at the floor's n) / floor with its bootstrap interval

    def as_dict(self) -> dict:
        """Flat JSON-able row: the generate() options appear as their own keys (eta and variance always, None
        where the sampler has none), as the benchmark's JSON and the app's plot read them."""
        d = asdict(self)
        opts = {k: v for k, v in d.pop("options").items() if isinstance(v, (int, float, str, bool)) or v is None}
        return {"sampler": self.sampler, "steps": self.steps, "eta": None, "variance": None, **opts, **d,
                "images_per_s": self.n / self.seconds if self.seconds > 0 else None}


class QualitySweep:
    """The fixed parts of a sweep for one checkpoint: feature network, real data cut as recorded, labels, x_T.

    ck: a LoadedCheckpoint. real: its whole data set (default: diagnostics.report.load_real_data(ck)).
    feature_net: a FeatureExtractor, a path, or None for the shipped one. classifier: a noise-aware
    classifier for settings with classifier_scale > 0. Raises SweepRefused (a ValueError) when the data set
    cannot be loaded or the feature network does not fit the model's images, as the report's quality check
    skips then.
    """

    def __init__(self, ck: LoadedCheckpoint, n: int = 300, seed: int = 0, *, real=None, feature_net=None,
                 classifier=None, max_batch: int = 512, k: int = 3):
        if not isinstance(n, int) or n < 2:
            raise SweepRefused("sweep.bad_n", n=repr(n))
        self.ck, self.n, self.seed, self.k, self.max_batch, self.classifier = ck, n, int(seed), k, max_batch, classifier
        self.data_meta = dict(ck.meta.get("data") or {})
        if real is None and not (self.data_meta.get("source") or self.data_meta.get("name")):
            raise SweepRefused("sweep.no_data_record")     # the cause, before any feature network is blamed
        self.extractor, why_not = load_extractor(feature_net, self.data_meta)
        if self.extractor is None:
            raise SweepRefused("sweep.no_numbers", why=why_not)
        mismatch = feature_net_mismatch(self.extractor, {**self.data_meta,
                                                         "image_size": ck.unet_config.image_size,
                                                         "channels": ck.unet_config.in_channels})
        if mismatch:
            raise SweepRefused("sweep.net_mismatch", why=mismatch)
        if real is None:
            from .report import load_real_data
            real, reason = load_real_data(ck)
            if real is None:
                raise SweepRefused("sweep.no_real", why=reason)
        self.splits: RealSplits = split_real_data(real, self.data_meta)
        held = () if self.splits.heldout is None else (self.splits.heldout.images,)
        self.extractor = CachedEmbeddings(self.extractor, self.splits.reference.images, *held)
        self.num_classes = ck.num_classes
        self.labels = torch.arange(n) % ck.num_classes if ck.num_classes else None
        self.x_T = initial_noise(n, ck.image_shape, self.seed)
        self.notes = self._notes()

    @property
    def reference(self):
        return self.splits.reference

    @property
    def heldout(self):
        return self.splits.heldout

    def _notes(self) -> list[str]:
        notes, ex, held = [say(n) for n in self.splits.notes], self.extractor, self.splits.heldout
        if held is not None and self.n > len(held):
            notes.append(f"n={self.n} exceeds the held-out split ({len(held)} images): the floor uses all of them and "
                         f"the samples are also scored at that n (fid_matched) for the comparison")
        elif held is not None:
            notes.append(f"the held-out split has {len(held)} images, which caps the floor's n (n={self.n} here, so "
                         "the floor is at the same n)")
        if self.num_classes and self.n % self.num_classes:
            notes.append(f"labels are i % {self.num_classes}; n={self.n} is not a multiple of {self.num_classes}, "
                         f"so the first {self.n % self.num_classes} classes get one more")
        if self.n < ex.num_features:
            notes.append(f"n={self.n} is below the feature dimension {ex.num_features}: FID is strongly biased "
                         "upwards; compare FIDs only at the same n")
        notes.append(self.holdout_note())
        return notes

    def holdout_note(self) -> str:
        """Whether the floor's held-out images are unseen by the diffusion model and by the feature network."""
        s, ex = self.splits, self.extractor
        if s.heldout is None:
            return "no held-out split: the rows have no real-vs-real floor"
        if s.heldout_seen:
            return ("the checkpoint records no held-out split (trained on every image), so the diffusion model saw the "
                    "'held-out' images: the floor is a real-vs-real reference, not an unseen-data score")
        frac, seed = getattr(ex, "holdout_fraction", None), getattr(ex, "split_seed", None)
        if (frac is not None and seed is not None and math.isfinite(frac)
                and (abs(frac - s.holdout_fraction) > 1e-9 or int(seed) != s.split_seed)):
            return (f"the diffusion model's held-out split (holdout {s.holdout_fraction:g}, seed {s.split_seed}) is "
                    f"unseen by it, but the feature network held out another ({frac:g}, seed {seed}): some floor "
                    "images were in its training data, so the floor may read a little low")
        return (f"the diffusion model was trained on the training split only (holdout {s.holdout_fraction:g}, seed "
                f"{s.split_seed}, the feature network's split too): the floor's held-out images are unseen by both")

    def conditioned(self, setting: SweepSetting) -> bool:
        """Whether the samples follow their labels: not for an unconditional model, nor at guidance scale 0
        without a classifier (ε̂ is then the null label's), whose classes fall as they may."""
        o = setting.options
        return bool(self.num_classes) and not (float(o.get("guidance_scale", 1.0)) == 0.0
                                               and not float(o.get("classifier_scale", 0.0)))

    def row(self, setting: SweepSetting, callback: Optional[Callable[[int, int], None]] = None) -> SweepRow:
        """Sample n images with one setting from the shared x_T and score them."""
        return self.score(setting, self.sample(setting, callback))

    def sample(self, setting: SweepSetting, callback: Optional[Callable[[int, int], None]] = None) -> SampleResult:
        """n images of one setting from the shared x_T and labels (ddpm.generate; callback(done, total))."""
        opts = dict(setting.options)
        if self.labels is None:
            opts.pop("guidance_scale", None)
        if float(opts.get("classifier_scale", 0.0) or 0.0):
            opts["classifier"] = self.classifier
        return generate(self.ck.model, self.ck.diffusion, sampler=setting.sampler, steps=setting.steps, n=self.n,
                        labels=self.labels, seed=self.seed, x_T=self.x_T, max_batch=self.max_batch,
                        callback=callback, **opts)

    def score(self, setting: SweepSetting, res: SampleResult) -> SweepRow:
        """The row of one setting's samples: diagnostics.metrics.sample_quality beside the matching floor
        (class-matched when the samples follow their labels, drawn at random otherwise: see `conditioned`)."""
        from .metrics import sample_quality
        t0 = time.perf_counter()
        q = sample_quality(res.images, res.labels, self.splits.reference, self.splits.heldout, self.extractor,
                           k=self.k, seed=self.seed, conditional_floor=self.conditioned(setting))
        steps = len(res.timesteps)
        return SweepRow(
            series=setting.series, label=f"{setting.series}, {steps} steps", sampler=setting.sampler, steps=steps,
            network_calls=res.network_calls, options=dict(setting.options), fid=q.fid, fid_floor=q.fid_floor,
            fid_floor_std=q.fid_floor_std, fid_matched=q.fid_matched, n_floor=q.n_floor,
            floor_classes="matched" if self.conditioned(setting) else "random",
            inception_score=float(q.inception_score[0]), precision=q.precision, recall=q.recall,
            conditional_accuracy=q.conditional_accuracy, n=q.n_generated, seconds=res.seconds,
            metric_seconds=time.perf_counter() - t0, reference=q.reference, floor_reference=q.floor_reference,
            network=q.network, network_id=q.network_id, metric_notes=[say(n) for n in q.notes], fid_ratio=q.fid_ratio)

    def run(self, settings: Sequence[SweepSetting], progress: Optional[ProgressFn] = None) -> list[SweepRow]:
        """Every setting in order; progress(fraction, label) weighted by each setting's steps (T when None)."""
        T = self.ck.diffusion.T
        weights = [max(1, min(int(s.steps or T), T)) for s in settings]
        total, done, rows = sum(weights) or 1, 0, []
        for setting, w in zip(settings, weights):
            label = setting.series + (f", {setting.steps} steps" if setting.steps else "")

            def cb(i: int, of: int, done=done, w=w, label=label) -> None:
                if progress is not None:
                    progress(min((done + w * i / max(of, 1)) / total, 1.0), label)
            rows.append(self.row(setting, cb))
            done += w
        if progress is not None:
            progress(1.0, "done")
        return rows
