"""Reference data for a model that brings none (a diffusers model records no data set): a folder or .zip of images
(class folders or flat, whatever ddpm.data.load_dataset reads) or a built-in data set name, loaded at
the model's image size and channels; and the feature network the sample-quality metrics need for it: the shipped
one where it fits, else (when asked) one trained on the labelled reference set, cached by the reference's hash
outside the checkout.

    real, data_meta = load_reference("my_images.zip", ck)
    extractor, note = reference_feature_net(real, train=True)        # None, why: the report says what is missing
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePath
from typing import Callable, Optional

from ddpm import LoadedCheckpoint
from ddpm.data import ImageDataset, load_dataset
from ddpm.images import to_channels
from ddpm.messages import MessageError

FEATURE_STEPS = 400          # as the shipped network (python -m diagnostics.features --steps 400)
HOLDOUT, SPLIT_SEED = 0.2, 0
GREY_CHROMA = 0.01           # mean (max − min) over a pixel's R, G, B (in [-1, 1]) below this: the images are grey


def load_reference(source, ck: LoadedCheckpoint) -> tuple[ImageDataset, dict]:
    """(the reference set at the model's size and channels, the data record the checks cut it by).
    source: an ImageDataset, a folder / .zip path or a built-in name; ValueError / FileNotFoundError say why not.
    A path (the Diagnostics tab's upload too) is read by the training data's loader, so it meets the same caps
    before anything is decoded or unpacked: ddpm.data's pixel caps on the image headers, ddpm.safezip's on the
    zip's central directory (ImageTooLarge, UnsafeZipError: both ValueError).
    A grey reference for a colour model, or a colour one for a grey model, is refused (MessageError) saying what to
    give instead (grey images stored as RGB are converted for a grey model; a folder mixing grey and colour images
    is read as colour, the grey ones converted and counted)."""
    size, channels = ck.unet_config.image_size, ck.unet_config.in_channels
    ds = source if isinstance(source, ImageDataset) else load_dataset(str(source), image_size=size)  # as stored
    ds = _as_model_channels(ds, channels)
    if (ds.channels, ds.image_size) != (channels, size):
        raise MessageError("reference.shape", c=ds.channels, s=ds.image_size, model_c=channels, model_s=size)
    meta = {"name": ds.name, "source": source_name(source), "image_size": size, "channels": channels,
            "holdout": HOLDOUT, "split_seed": SPLIT_SEED, "reference": True}
    return ds, meta


def is_grey(ds: ImageDataset) -> bool:
    """Whether a data set holds grey images: one channel, or three that agree (a grey image saved as RGB)."""
    x = ds.images
    return x.shape[1] == 1 or bool(len(x) == 0 or (x.amax(1) - x.amin(1)).mean() < GREY_CHROMA)


def _as_model_channels(ds: ImageDataset, channels: int) -> ImageDataset:
    """ds with the model's channels: grey stored as RGB becomes one channel for a grey model; grey images for a
    colour model, or colour ones for a grey model, are refused with what to give instead. (RGB files that happen to
    be grey stay acceptable for a colour model: it may have been trained on such files.)"""
    if channels not in (1, 3) or ds.channels not in (1, 3):
        return ds                                   # the shape check of load_reference says what does not fit
    if channels == 3 and ds.channels == 1:
        raise MessageError("reference.grey_for_colour", name=ds.name)
    if channels == 1 and not is_grey(ds):
        raise MessageError("reference.colour_for_grey", name=ds.name)
    if channels == 1 and ds.channels == 3:
        return ImageDataset(to_channels(ds.images, 1), ds.labels, list(ds.class_names), ds.name, list(ds.notes),
                            ds.skipped)
    return ds


def source_name(source) -> str:
    """What the report records as the reference's source: a data set's or built-in's name, or a file's or folder's
    own name, never the path it was read from (an upload's is a server path, which the report's reader sees in its
    HTML and JSON)."""
    if isinstance(source, ImageDataset):
        return source.name
    text = os.fspath(source) if isinstance(source, os.PathLike) else str(source)
    if text.lower().startswith("hf:"):            # hf:NAME[:SPLIT]: a Hub id names no file here, a local folder does
        body = text[3:]
        name, _, split = body.rpartition(":")
        if not name or "/" in split or "\\" in split:
            name, split = body, ""
        if not Path(name).expanduser().exists():
            return text
        return f"hf:{_file_name(name)}" + (f":{split}" if split else "")
    return _file_name(text)


def _file_name(path: str) -> str:
    return PurePath(path.rstrip("/\\")).name or path


def reference_hash(ds: ImageDataset) -> str:
    """SHA-256 (first 16 hex digits) of the images, labels and class names: the feature-net cache key."""
    h = hashlib.sha256()
    h.update(ds.images.contiguous().numpy().tobytes())
    h.update(ds.labels.contiguous().numpy().tobytes())
    h.update("\0".join(ds.class_names).encode())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """Where trained feature networks are kept: $DDPM_WORKBENCH_CACHE, else ~/.cache/ddpm-workbench (never the checkout)."""
    return Path(os.environ.get("DDPM_WORKBENCH_CACHE") or Path.home() / ".cache" / "ddpm-workbench") / "features"


def shipped_net_fits(ds: ImageDataset) -> Optional[str]:
    """None if the shipped feature network scores this reference set, else why not."""
    from .features import default_feature_net, load_feature_net
    net = load_feature_net(default_feature_net(ds.name))          # features_mnist for mnist, else the digits one
    if str(net.dataset) != str(ds.name):
        return f"the shipped feature network was trained on {net.dataset!r}, the reference set is {ds.name!r}"
    if (net.image_size, net.in_channels) != (ds.image_size, ds.channels):
        return (f"the shipped feature network takes {net.in_channels}×{net.image_size}×{net.image_size} images, the "
                f"model makes {ds.channels}×{ds.image_size}×{ds.image_size}")
    return None


def reference_feature_net(ds: ImageDataset, train: bool = False, steps: int = FEATURE_STEPS,
                          log: Optional[Callable[[str], None]] = None) -> tuple[Optional[object], str]:
    """(extractor, "") to use for this reference set, (None, "") for the shipped one, or (None, what is missing)."""
    misfit = shipped_net_fits(ds)
    if misfit is None:
        return None, ""
    if not train:
        return None, (f"{misfit}; pass --train-features (python -m diagnostics report ... --reference DATA "
                      "--train-features) to train one on the labelled reference set, a few CPU minutes, cached")
    if ds.num_classes < 2:
        return None, (f"{misfit}, and the reference set has no class folders to train one on: upload it as "
                      "<class>/<image>.png (two or more classes)")
    from .features import load_feature_net, save_feature_net, train_feature_net
    digest = reference_hash(ds)
    path = cache_dir() / f"{ds.name}-{ds.channels}x{ds.image_size}-{digest}.safetensors"
    # named by what it was trained on, never as the shipped net ("mnist-cnn-64": other weights, other FIDs)
    name = lambda features: f"{ds.name}-{ds.channels}x{ds.image_size}-ref-{digest[:8]}-cnn-{features}"   # noqa: E731
    if not path.exists():
        train_split, held = ds.split(HOLDOUT, seed=SPLIT_SEED)
        if log:
            log(f"training a feature network on {len(train_split)} reference images ({steps} steps) -> {path}")
        net, acc = train_feature_net(train_split, held, steps=steps, seed=0)
        save_feature_net(net, path, dict(dataset=ds.name, name=name(net.config.num_features), test_accuracy=acc,
                                         class_names=list(ds.class_names), n_train=len(train_split), n_test=len(held),
                                         split=dict(holdout_fraction=HOLDOUT, seed=SPLIT_SEED),
                                         command=f"diagnostics.reference (steps={steps}, reference {digest})"))
    extractor = load_feature_net(path)
    extractor.name = name(extractor.num_features)      # also for a file cached before these nets were named so
    return extractor, ""
