"""Sample-quality metrics on features and class probabilities (numpy float64), and `sample_quality`,
which ties them to a feature extractor and a reference data set.

Every number depends on three things besides the model, so every result states them (users' most common
FID complaint, ANCHORS.md): n (FID is biased upwards at small n, roughly by tr(Sigma)/n per set, so
compare FIDs only at the same n), the reference set, and the feature network (FIDs from different
networks are different units; see diagnostics/features.py).

- FID (Heusel et al. 2017): fit Gaussians N(mu_r, Sigma_r), N(mu_g, Sigma_g) to the two feature sets,

      FID = ||mu_r - mu_g||^2 + Tr(Sigma_r + Sigma_g - 2 (Sigma_r Sigma_g)^{1/2})

  Covariances are unbiased (ddof = 1), as in pytorch-fid and torchmetrics.
- Inception Score (Salimans et al. 2016):  IS = exp( E_x KL( p(y|x) || p(y) ) ),  p(y) = E_x p(y|x);
  1 <= IS <= K (K classes): K when every image is a confident prediction and the classes are balanced.
- Precision / recall (Kynkaanniemi et al. 2019): the real manifold is the union of balls around every
  real feature r_i with radius NN_k(r_i), the distance to its k-th nearest real neighbour (itself
  excluded); precision = fraction of generated features inside the real manifold, recall = fraction of
  real features inside the generated manifold.
- Conditional accuracy: fraction of class-conditional samples the feature network classifies as the
  class they were asked for (overall and per class).
- Real-vs-real floor: the FID that real held-out images (never seen by the diffusion model or the feature
  network) get against the same reference, at the same n and with the same images per class as the
  samples, i.e. what a perfect generator would score; a generated FID is judged against it, not against
  0. It can be approached but, beyond its noise, not beaten. Copying training images does not beat it by
  much (verbatim training images score about 0.8x the floor on digits, well inside its noise at n=64),
  so FID cannot detect memorisation; the nearest-neighbour check in diagnostics.checks.memorisation can.
  Its ± is the spread across independent sets of unseen images (diagnostics.fid.floor_uncertainty, from
  disjoint subsets of the held-out split), not the spread of overlapping draws.

FID and the floor are computed in diagnostics.fid and re-exported here.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np
from scipy.special import xlogy

from ddpm.messages import MessageError
from .fid import (FLOOR_DRAWS, FloorResult, FloorUncertainty, as_2d, draw_indices, fid_number, subsample,
                  fid_from_features, floor_uncertainty, frechet_distance, gaussian_stats, real_vs_real_floor)
from .intervals import RESAMPLES, Interval, bootstrap_floor_comparisons
from .kid import FIDCurve, KIDResult, fid_against_n, kernel_inception_distance
from .text import Message, Text, msg, say

__all__ = [
    "frechet_distance", "gaussian_stats", "fid_from_features", "inception_score", "precision_recall",
    "conditional_accuracy", "per_class_accuracy", "FloorResult", "FloorUncertainty", "floor_uncertainty",
    "real_vs_real_floor", "QualityMetrics", "sample_quality",
]


# ----------------------------------------------------------------------------------------------- IS
def inception_score(probs, splits: int = 1) -> tuple[float, float]:
    """Inception Score of class probabilities probs (N, K) -> (mean, std) over `splits` contiguous parts:

        IS = exp( 1/N sum_i KL(p(y|x_i) || p(y)) ),   p(y) = 1/N sum_i p(y|x_i),
        KL(p || q) = sum_y p_y (log p_y - log q_y)   (0 log 0 = 0)

    std is the population std (ddof = 0) over splits as in the original code (0 for splits=1); rows are
    not shuffled (torchmetrics shuffles and uses ddof = 1). Rows must be probabilities (sum to 1).
    """
    p = as_2d(probs, "probs")
    if splits < 1 or splits > len(p):
        raise MessageError("metrics.splits", n=len(p), splits=splits)
    if (p < 0).any() or not np.allclose(p.sum(1), 1.0, atol=1e-4):
        raise MessageError("metrics.probs")
    scores = []
    for part in np.array_split(p, splits):                                   # (n_s, K)
        py = part.mean(0, keepdims=True)                                     # (1, K)
        kl = (xlogy(part, part) - xlogy(part, np.broadcast_to(py, part.shape))).sum(1)   # (n_s,)
        scores.append(math.exp(float(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------------------------- P/R
def _kth_nn_radii(feats: np.ndarray, k: int) -> np.ndarray:
    """(N, D) -> (N,) distance of every point to its k-th nearest neighbour in the set, itself excluded."""
    from sklearn.neighbors import NearestNeighbors
    if len(feats) < k + 1:
        raise MessageError("metrics.knn_points", k=k, k1=k + 1, n=len(feats))
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(feats).kneighbors(feats)   # (N, k+1), col 0 = itself
    return dist[:, k]


def _inside(query: np.ndarray, support: np.ndarray, radii: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """(Q,) bool: query point q lies in some ball B(support_j, radii_j), i.e. ||q - s_j|| <= r_j."""
    out = np.zeros(len(query), dtype=bool)
    s2 = (support ** 2).sum(1)                                               # (S,)
    for i in range(0, len(query), chunk):
        q = query[i:i + chunk]                                               # (B, D)
        d2 = (q ** 2).sum(1)[:, None] + s2[None] - 2.0 * q @ support.T      # (B, S)
        d = np.sqrt(np.maximum(d2, 0.0))
        out[i:i + chunk] = (d <= radii[None] * (1 + 1e-9) + 1e-12).any(1)    # tolerance: round-off at equality
    return out


def precision_recall(real_feats, fake_feats, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of fake (N_g, D) against real (N_r, D):

        precision = 1/N_g sum_j 1[ exists i: ||g_j - r_i|| <= NN_k(r_i) ]
        recall    = 1/N_r sum_i 1[ exists j: ||r_i - g_j|| <= NN_k(g_j) ]

    NN_k(x) is the distance from x to its k-th nearest neighbour in its own set (itself excluded). The
    paper uses equal set sizes (radii shrink as a set grows); sample_quality subsamples to equal n.
    Caveat: images the feature network cannot classify (pure noise) land near the centre of the real
    features, inside the balls of atypical real images, so precision alone overstates their quality
    (Gaussian noise scores ~0.4 with the digits network, recall ~0.03, FID ~900x the floor); read
    precision together with recall and FID.
    """
    r, g = as_2d(real_feats, "real_feats"), as_2d(fake_feats, "fake_feats")
    if r.shape[1] != g.shape[1]:
        raise MessageError("metrics.dims_differ", a=r.shape[1], b=g.shape[1])
    if k < 1:
        raise MessageError("metrics.k", k=k)
    precision = float(_inside(g, r, _kth_nn_radii(r, k)).mean())
    recall = float(_inside(r, g, _kth_nn_radii(g, k)).mean())
    return precision, recall


# ----------------------------------------------------------------------------------------------- accuracy
def _check_probs_labels(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    p, y = as_2d(probs, "probs"), np.asarray(labels).astype(np.int64).reshape(-1)
    if len(p) != len(y):
        raise MessageError("metrics.rows_labels", rows=len(p), labels=len(y))
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise MessageError("metrics.label_range", k=p.shape[1], lo=int(y.min()), hi=int(y.max()))
    return p, y


def conditional_accuracy(probs, labels) -> float:
    """Fraction of samples whose predicted class argmax_y p(y|x) equals the class they were generated for:
    probs (N, K), labels (N,) -> float in [0, 1]."""
    p, y = _check_probs_labels(probs, labels)
    if len(y) == 0:
        raise MessageError("metrics.no_samples")
    return float((p.argmax(1) == y).mean())


def per_class_accuracy(probs, labels) -> dict[int, float]:
    """{class index: accuracy among the samples generated for that class}, for every class present."""
    p, y = _check_probs_labels(probs, labels)
    pred = p.argmax(1)
    return {int(c): float((pred[y == c] == c).mean()) for c in np.unique(y)}


# ----------------------------------------------------------------------------------------------- result
@dataclass
class QualityMetrics:
    """Sample-quality numbers with everything needed to read them: n, reference set, feature network."""
    fid: float
    fid_floor: Optional[float]                 # real-vs-real FID (held-out vs reference); None without held-out
    inception_score: tuple[float, float]       # (mean, std over splits); at most num_classes
    precision: float
    recall: float
    conditional_accuracy: Optional[float]      # None when unconditional
    per_class_accuracy: Optional[dict[str, float]]   # class name -> accuracy; None when unconditional
    n_generated: int
    n_reference: int
    reference: str                             # e.g. "digits training split (1437 images, 16×16)" (English)
    floor_reference: Optional[str]             # e.g. "digits held-out split, n=300" (English)
    network: str                               # FeatureExtractor.describe() (English)
    k: int                                     # neighbourhood size of precision/recall
    network_id: str = ""                       # short: "digits-cnn-64 sha256 1a2b3c4d5e6f…"
    num_classes: int = 0                       # K: the upper bound of the Inception Score
    n_pr: int = 0                              # points per set used for precision/recall
    is_splits: int = 1
    notes: list[Message] = field(default_factory=list)
    fid_matched: Optional[float] = None        # generated FID at the floor's n and class counts: the number to set
                                               # beside fid_floor (equals fid unless the held-out split limits n)
    n_floor: int = 0                           # images in each set of the floor comparison
    fid_floor_std: Optional[float] = None      # the floor's sigma across independent draws (fid.floor_uncertainty);
                                               # None: no floor, or not estimable at this n
    floor_draws: int = 0                       # held-out draws the floor averages over (0: no floor)
    kid: Optional[KIDResult] = None            # KID (unbiased at small n) with its spread over subsets (diagnostics.kid)
    fid_curve: Optional[FIDCurve] = None       # FID against n and the n a stable FID needs (diagnostics.kid)
    kid_floor: Optional[KIDResult] = None      # KID of real held-out images drawn like the floor's (the samples'
                                               # class counts) against the same reference: what real data scores
    fid_ratio: Optional[Interval] = None       # FID (at the floor's n) / floor, with its bootstrap interval
    kid_excess: Optional[Interval] = None      # KID − its floor, with its bootstrap interval (diagnostics.intervals)
    texts: dict = field(default_factory=dict)  # the descriptions above as Messages: "reference", "split" (the
                                               # reference set's name and role), "floor_reference", "network"

    METRICS = ("fid", "fid_floor", "inception_score", "precision", "recall", "precision_recall",
               "conditional_accuracy")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["inception_score"] = list(self.inception_score)
        return d

    def comparisons(self) -> str:
        """FID / floor and KID against its floor, each with its interval (or why there is none), in English."""
        return say(self.comparison_messages())

    def comparison_messages(self) -> list[Message]:
        parts = []
        if self.fid_ratio is not None:
            parts.append(msg("quality.fid_ratio", ratio=self.fid_ratio.message()))
        if self.kid_excess is not None and self.kid_floor is not None:
            parts.append(msg("quality.kid_excess_floor", excess=self.kid_excess.message(".3g"),
                             floor=self.kid_floor.kid))
        return parts

    def label(self, metric: str = "fid") -> str:
        """A caption that states n, the reference set and the feature network, in English (see `caption`), e.g.
        'FID 12.3 (n=300 generated vs digits training split n=1437; features: digits-cnn-64 sha256 …;
        real-vs-real floor 4.1)'."""
        return say(self.caption(metric))

    def caption(self, metric: str = "fid") -> Message:
        """label() as a Message, rendered in the report's language."""
        feats = self.texts.get("network_id", self.network_id) or self.texts.get("network", self.network)
        ref = self.texts.get("split", self.reference.split(" (")[0])
        if metric == "fid":
            if self.fid_floor is not None:
                floor = msg("quality.caption_floor", floor=fid_number(self.fid_floor),
                            where=self.texts.get("floor_reference", self.floor_reference))
            else:
                floor = msg("quality.caption_no_floor")
            matched = (msg("quality.caption_matched", fid=fid_number(self.fid_matched), n=self.n_floor)
                       if self.fid_matched is not None and self.n_floor < self.n_generated else "")
            return msg("quality.caption_fid", fid=fid_number(self.fid), n=self.n_generated, ref=ref,
                       n_ref=self.n_reference, feats=feats, matched=matched, floor=floor)
        if metric == "fid_floor":
            if self.fid_floor is None:
                return msg("quality.caption_floor_none")
            return msg("quality.caption_fid_floor", floor=fid_number(self.fid_floor),
                       where=self.texts.get("floor_reference", self.floor_reference), ref=ref, n_ref=self.n_reference,
                       feats=feats)
        if metric == "inception_score":
            m, s = self.inception_score
            return msg("quality.caption_is", m=m, s=s, k=self.num_classes, n=self.n_generated, splits=self.is_splits,
                       feats=feats)
        if metric in ("precision", "recall", "precision_recall"):
            pr = {"precision": msg("quality.precision", p=self.precision),
                  "recall": msg("quality.recall", r=self.recall),
                  "precision_recall": msg("quality.precision_recall", p=self.precision, r=self.recall)}[metric]
            return msg("quality.caption_pr", what=pr, k=self.k, n=self.n_pr, ref=ref, feats=feats)
        if metric == "conditional_accuracy":
            if self.conditional_accuracy is None:
                return msg("quality.caption_acc_none")
            return msg("quality.caption_acc", acc=self.conditional_accuracy, n=self.n_generated,
                       network=self.texts.get("network", self.network))
        raise MessageError("choice.unknown", kind="metric", value=metric, choices=self.METRICS)


def network_message(extractor) -> Message:
    """What a feature network is, e.g. "digits-cnn-64 (sha256 1a2b3c4d5e6f…, test accuracy 98.9% on the held-out 20%
    of digits)" (FeatureExtractor.describe() in words), or torchvision's Inception-v3 with its caveat."""
    if getattr(extractor, "generic", False):
        return msg("quality.network_inception", name=extractor.name, sha=extractor.sha256)
    frac = float(getattr(extractor, "holdout_fraction", math.nan))
    if math.isfinite(frac):
        return msg("quality.network", name=extractor.name, sha=extractor.sha256, acc=extractor.test_accuracy,
                   frac=frac, data=str(extractor.dataset))
    return msg("quality.network_heldout", name=extractor.name, sha=extractor.sha256, acc=extractor.test_accuracy,
               data=str(extractor.dataset))


def sample_quality(fake_images, fake_labels, reference, heldout=None, extractor=None, k: int = 3,
                   seed: int = 0, is_splits: int = 1, reference_role: Optional[Text] = None,
                   heldout_role: Optional[Text] = None, floor_draws: int = FLOOR_DRAWS,
                   conditional_floor: bool = True, resamples: int = RESAMPLES) -> QualityMetrics:
    """All sample-quality metrics of generated images against a reference ImageDataset.

    fake_images (N, C, H, W) in [-1, 1]; fake_labels (N,) class indices or None (unconditional);
    reference: the data set the model was trained on (usually the training split); heldout: real images
    the model never saw, for the real-vs-real floor (None: no floor); extractor: a FeatureExtractor
    (default: load_feature_net()). FID uses all N generated vs the whole reference. The floor draws N
    held-out images with the samples' class counts (at random when unconditional) against the same
    reference, averaged over floor_draws draws; when the held-out split has fewer, the floor uses what
    there is and `fid_matched` scores the samples at the floor's n and class counts, so the two numbers to
    compare always share n, reference and class mix. Precision/recall use min(N, N_ref) points of each
    (subsampled with `seed`), as the k-NN radii depend on set size. conditional_floor=False draws the floor at
    random even with labels: for samples their labels did not steer (guidance scale 0, the null label), whose
    classes fall as an unconditional model's do; conditional accuracy is still reported against the labels.

    KID gets its floor the same way (the KID of held-out draws with the samples' class counts: a class-balanced set
    of real images scores below 0 against a reference whose classes fall at random, and so do good samples), and
    FID / floor and KID − floor get a bootstrap interval over all three sets (diagnostics.intervals; `resamples`
    0: none, e.g. for a sweep that only ranks settings).
    """
    if extractor is None:
        from .features import load_feature_net
        extractor = load_feature_net()
    reference_role = reference_role or msg("quality.training_split")
    notes: list[Message] = []
    fake_f, fake_p = extractor.embed(fake_images)                  # (N, D), (N, K)
    if extractor.last_note:
        h, w = tuple(fake_images.shape[-2:])
        notes.append(msg("quality.note_resized_inception") if getattr(extractor, "generic", False) else
                     msg("quality.note_resized", h=h, w=w, size=extractor.image_size))
    ref_f, _ = extractor.embed(reference.images)                   # (N_ref, D)
    n, n_ref = len(fake_f), len(ref_f)
    if n < 2:
        raise MessageError("metrics.fid_n", n=n)
    labels = None
    if fake_labels is not None:
        labels = np.asarray(fake_labels.cpu() if hasattr(fake_labels, "cpu") else fake_labels).reshape(-1)
        if getattr(extractor, "generic", False):        # ImageNet classes: no accuracy, labels still set the floor
            notes.append(msg("quality.note_imagenet_classes", name=extractor.name))
        elif fake_p.shape[1] != reference.num_classes:
            raise MessageError("metrics.classes_differ", k_net=fake_p.shape[1], k_ref=reference.num_classes)
        else:
            _check_probs_labels(fake_p, labels)
        labels = labels.astype(np.int64)
    if getattr(extractor, "dataset", None) not in (None, reference.name):
        notes.append(msg("quality.note_other_data", data=str(extractor.dataset), reference=str(reference.name)))
    if n < fake_f.shape[1]:
        notes.append(msg("quality.note_singular", n=n, d=fake_f.shape[1]))
    fid = fid_from_features(ref_f, fake_f)

    floor = floor_std = floor_ref = kid_floor = fid_ratio = kid_excess = None
    texts = _texts(reference, reference_role, extractor)
    fid_matched, n_floor, draws = fid, n, 0
    kid = kernel_inception_distance(ref_f, fake_f, seed=seed)
    if heldout is not None:
        held_f, _ = extractor.embed(heldout.images)
        counts = (None if labels is None or not conditional_floor
                  else np.bincount(labels, minlength=reference.num_classes))
        fr = real_vs_real_floor(ref_f, held_f, n=n, seed=seed, heldout_labels=heldout.labels.cpu().numpy(),
                                class_counts=counts, draws=floor_draws)
        texts["floor_reference"] = fr.message(msg("quality.split", name=str(heldout.name),
                                                  role=heldout_role or msg("quality.heldout_split")))
        floor, floor_std, floor_ref = fr.fid, fr.std, say(texts["floor_reference"])
        n_floor, draws = fr.n, fr.draws
        if fr.limited:
            rng = np.random.default_rng(seed + 1)
            subsets = [fake_f[draw_indices(n, fr.n, rng, labels, fr.class_counts)] for _ in range(floor_draws)]
            fid_matched = float(np.mean([fid_from_features(ref_f, sub) for sub in subsets]))
            notes.append(msg("quality.note_limited", n=n, n_floor=fr.n, fid=fid_number(fid_matched), draws=floor_draws))
        held_labels = heldout.labels.cpu().numpy().astype(np.int64)
        kid_floor = _kid_floor(ref_f, held_f, held_labels, fr, floor_draws, seed)
        fid_ratio, kid_excess = bootstrap_floor_comparisons(
            ref_f, fake_f, held_f, labels if fr.class_counts is not None else None, held_labels,
            None if fr.class_counts is None else np.asarray(fr.class_counts), fid_matched / max(floor, 1e-12),
            resamples=resamples, draws=floor_draws, seed=seed)
    rng = np.random.default_rng(seed)
    n_pr = min(n, n_ref)
    precision, recall = precision_recall(subsample(ref_f, n_pr, rng), subsample(fake_f, n_pr, rng), k=k)
    cond = per_class = None
    if labels is not None and not getattr(extractor, "generic", False):
        cond = conditional_accuracy(fake_p, labels)
        per_class = {reference.class_names[c]: a for c, a in per_class_accuracy(fake_p, labels).items()}

    s = reference.image_size
    texts["reference"] = msg("quality.reference", split=texts["split"], n=n_ref, size=s)
    return QualityMetrics(
        fid=fid, fid_floor=floor, inception_score=inception_score(fake_p, splits=is_splits),
        precision=precision, recall=recall, conditional_accuracy=cond, per_class_accuracy=per_class,
        n_generated=n, n_reference=n_ref,
        reference=say(texts["reference"]), floor_reference=floor_ref,
        network=extractor.describe(), k=k, network_id=f"{extractor.name} sha256 {extractor.sha256}…",
        num_classes=int(fake_p.shape[1]), n_pr=n_pr, is_splits=is_splits, notes=notes, fid_matched=fid_matched,
        n_floor=n_floor, fid_floor_std=floor_std, floor_draws=draws,
        kid=kid, fid_curve=fid_against_n(ref_f, fake_f, seed=seed), kid_floor=kid_floor, fid_ratio=fid_ratio,
        kid_excess=kid_excess, texts=texts)


def _texts(reference, role: Text, extractor) -> dict[str, Message]:
    """The descriptions QualityMetrics.texts starts with: the reference set's name and role, the network."""
    return {"split": msg("quality.split", name=str(reference.name), role=role), "network": network_message(extractor),
            "network_id": msg("quality.network_id", name=extractor.name, sha=extractor.sha256)}


def _kid_floor(ref_f: np.ndarray, held_f: np.ndarray, held_labels: np.ndarray, fr: FloorResult, draws: int,
               seed: int) -> KIDResult:
    """KID of real held-out sets drawn as the FID floor's are (fr: its n and class counts) against the reference,
    pooled over `draws` draws: the KID a perfect generator scores with these class counts."""
    rng = np.random.default_rng(seed + 2)
    counts = None if fr.class_counts is None else np.asarray(fr.class_counts)
    labels = held_labels if counts is not None else None
    per_draw = [kernel_inception_distance(ref_f, held_f[draw_indices(len(held_f), fr.n, rng, labels, counts)],
                                          subsets=20, seed=seed + i) for i in range(draws)]
    means, stds = np.array([k.kid for k in per_draw]), np.array([k.std for k in per_draw])
    pooled_std = math.sqrt(float(np.mean(stds ** 2) + np.var(means)))     # the std over all the draws' subsets
    first = per_draw[0]
    return KIDResult(float(means.mean()), pooled_std, first.subsets * len(per_draw), first.subset_size, first.n_real,
                     first.n_generated)
