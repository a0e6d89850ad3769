"""The real data cut as the model was trained (`split_real_data`): its training split, the held-out split every
floor and baseline uses, and what a reader of the numbers needs to know about the cut (a reference set for a model
that records no data, a model that saw every image)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ddpm.data import DEFAULT_HOLDOUT, DEFAULT_SPLIT_SEED, recorded_holdout

from .text import Text, msg


@dataclass
class RealSplits:
    """The real data cut as the model was trained."""
    reference: object                  # ImageDataset: the images the model was trained on (its training split)
    heldout: Optional[object]          # ImageDataset: real images it never saw; None when none can be held out
    heldout_seen: bool = False         # the model trained on every image, the held-out split included
    notes: list[Text] = field(default_factory=list)     # Messages: what a reader of the numbers needs to know
    holdout_fraction: float = DEFAULT_HOLDOUT   # the split used: share of every class held out, and its seed
    split_seed: int = DEFAULT_SPLIT_SEED
    trained_on: Optional[str] = None   # a reference set: what the model saw of it (TRAINED_ON); None: its own record

    @property
    def assumed(self) -> bool:
        """The split is a guess: a reference set for a model that records no training data, and nobody said more."""
        return self.trained_on == "unknown"

    def said(self, r):
        """r, a CheckResult comparing training and held-out images, with its summary saying the split it rests on is
        assumed (a reference set cut by our split), not recorded by the model."""
        if self.assumed and r.verdict != "skip":
            r.summary = msg("split.assumed_summary", summary=r.summary, fraction=self.holdout_fraction,
                            train=1 - self.holdout_fraction)
            r.numbers["split_assumed"] = True
        return r


def split_real_data(real, data_meta: dict) -> RealSplits:
    """Cut `real`, the checkpoint's whole data set, as the trainer did: meta["data"]["holdout"] of every class
    with seed meta["data"]["split_seed"] (ddpm.data.recorded_holdout). A checkpoint trained on every image
    (holdout 0, or an older one that records no hold-out and trained on more images than the training split
    holds) gets the default split and heldout_seen=True."""
    holdout, trained_on = data_meta.get("holdout"), data_meta.get("num_images")
    try:
        fraction, seed = recorded_holdout(data_meta)
    except ValueError as e:            # a damaged record: say so rather than guess which images were held out
        return RealSplits(real, None, notes=[msg("split.damaged", error=str(e))])
    try:
        reference, heldout = real.split(fraction, seed=seed)
    except ValueError:                 # too few images per class to hold any out: no floor, no copy baseline
        return RealSplits(real, None, notes=[msg("split.too_few")],
                          holdout_fraction=fraction, split_seed=seed)
    if data_meta.get("reference"):     # diagnostics.reference: images the model's file never named
        return _reference_splits(real, str(data_meta.get("trained_on") or "unknown"), reference, heldout, fraction,
                                 seed)
    seen = holdout == 0 or (holdout is None and trained_on != len(reference))
    notes = []
    if seen:
        notes.append(msg("split.seen", fraction=fraction, default=DEFAULT_HOLDOUT,
                         why=msg("split.says_zero" if holdout == 0 else "split.records_none")))
    elif trained_on is not None and trained_on != len(reference):
        notes.append(msg("split.changed", trained=trained_on, n=len(reference)))
    return RealSplits(reference, heldout, seen, notes, fraction, seed)


TRAINED_ON = ("unknown", "all", "none")     # what a reference set is to a model without a data record


def _reference_splits(real, trained_on: str, reference, heldout, fraction: float, seed: int) -> RealSplits:
    """A reference set cut as the trainer cuts, read as the user says the model saw it: "unknown" (the cut is
    assumed, and every check comparing the two splits says so), "all" (every image seen: no held-out baseline) or
    "none" (every image unseen: no training images to compare with, an honest floor)."""
    name = str(real.name)
    if trained_on == "all":
        note = msg("split.reference_all", name=name)
    elif trained_on == "none":
        note = msg("split.reference_none", name=name, fraction=fraction, train=1 - fraction)
    else:
        note = msg("split.assumed", name=name, fraction=fraction, train=1 - fraction, seed=seed)
    return RealSplits(reference, heldout, trained_on == "all", [note], fraction, seed, trained_on)
