"""Train a noise-aware classifier p(y | x_t, t) for classifier guidance.

    python -m ddpm.train_classifier --ckpt checkpoints/digits_tiny.safetensors --steps 1500 \
        --out checkpoints/digits_tiny_classifier.safetensors

The data set, image size and noise schedule are taken from the diffusion checkpoint (so the classifier
sees exactly the x_t the sampler will produce); --data overrides the data set.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from .checkpoint import read_metadata
from .classifier import ClassifierConfig, NoisyClassifier, save_classifier
from .data import load_dataset, recorded_holdout
from .device import pick_device
from .diffusion import DiffusionConfig, GaussianDiffusion
from .messages import MessageError, msg, render
from .paths import resolve_checkpoint
from .threads import add_threads_arg, set_threads


def train_classifier(data_source: str, image_size: int, diffusion_config: DiffusionConfig, out: str, *,
                     steps: int = 1500, batch_size: int = 128, lr: float = 1e-3, base_channels: int = 32,
                     seed: int = 0, device: str = "auto", data_meta: Optional[dict] = None,
                     callback: Optional[Callable[[int, int, float], None]] = None) -> dict:
    """Cross-entropy on x_t = q_sample(x_0, t) with t uniform in [0, T). Returns accuracy at a few t
    on the held-out split: the diffusion checkpoint's (data_meta = its meta["data"], see
    ddpm.data.recorded_holdout), so the classifier never trains on the images the metrics hold out."""
    if steps < 1 or batch_size < 1:
        raise MessageError("classifier.steps_batch", steps=steps, batch_size=batch_size)
    data = load_dataset(data_source, image_size=image_size)
    if data.num_classes < 2:
        raise MessageError("classifier.needs_labels", data=data_source, k=data.num_classes)
    fraction, split_seed = recorded_holdout(data_meta)
    train, held = data.split(fraction, seed=split_seed)
    dev = pick_device(device)
    diffusion = GaussianDiffusion(diffusion_config)
    torch.manual_seed(seed)
    cfg = ClassifierConfig(image_size=data.image_size, in_channels=data.channels, num_classes=data.num_classes,
                           base_channels=base_channels)
    model = NoisyClassifier(cfg, diffusion_config).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for step in range(steps):
        idx = torch.randint(len(train.images), (batch_size,), generator=g)
        x0, y = train.images[idx].to(dev), train.labels[idx].to(dev)
        t = torch.randint(diffusion.T, (batch_size,), generator=g).to(dev)
        x_t = diffusion.q_sample(x0, t, torch.randn(x0.shape, generator=g).to(dev))
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + torch.cos(torch.tensor(torch.pi * step / steps)).item())
        loss = F.cross_entropy(model(x_t, t), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if callback is not None and (step + 1) % 50 == 0:
            callback(step + 1, steps, loss.item())
    model.eval()
    accuracy = {}
    with torch.no_grad():
        for frac in (0.0, 0.25, 0.5, 0.75):
            t_val = int(frac * (diffusion.T - 1))
            x0 = held.images.to(dev)
            tt = torch.full((len(x0),), t_val, device=dev, dtype=torch.long)
            gen = torch.Generator().manual_seed(seed + 1)
            x_t = diffusion.q_sample(x0, tt, torch.randn(x0.shape, generator=gen).to(dev))
            accuracy[str(t_val)] = (model(x_t, tt).argmax(1).cpu() == held.labels).float().mean().item()
    seconds = time.perf_counter() - start
    save_classifier(out, model.cpu(), data.class_names,
                    {"data": {"source": data_source, "image_size": data.image_size, "holdout": fraction,
                              "split_seed": split_seed},
                     "heldout_accuracy_by_t": accuracy, "steps": steps, "seed": seed, "seconds": seconds})
    return {"heldout_accuracy_by_t": accuracy, "seconds": seconds, "out": out}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ddpm.train_classifier", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--ckpt", required=True, help="the diffusion checkpoint the classifier will guide (a path, or a "
                                                  "bundled model's name: digits, mnist)")
    p.add_argument("--data", default="", help="data set (default: the checkpoint's)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--base-channels", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="where to write the classifier (.safetensors)")
    add_threads_arg(p)
    p.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the messages: en or zh (中文)")
    a = p.parse_args(argv)
    try:
        set_threads(a.threads)
        meta = read_metadata(resolve_checkpoint(a.ckpt))
        source = a.data or meta.get("data", {}).get("source") or meta.get("data", {}).get("name", "digits")
        print(render(msg("train.loading_data", data=source), a.lang), file=sys.stderr)
        res = train_classifier(source, meta["model"]["image_size"], DiffusionConfig.from_dict(meta["diffusion"]),
                               a.out, steps=a.steps, batch_size=a.batch_size, lr=a.lr, base_channels=a.base_channels,
                               seed=a.seed, device=a.device, data_meta=meta.get("data"),
                               callback=lambda s, n, l: print(
                                   render(msg("classifier.step", step=s, steps=n, loss=l), a.lang), file=sys.stderr))
    except (ValueError, FileNotFoundError, PermissionError) as e:
        print(render(msg("cli.error", error=getattr(e, "message", str(e))), a.lang), file=sys.stderr)
        return 2
    acc = ", ".join(f"t={t}: {v:.1%}" for t, v in res["heldout_accuracy_by_t"].items())
    print(render(msg("classifier.wrote", out=str(res["out"]), seconds=res["seconds"], accuracy=acc), a.lang))
    return 0


if __name__ == "__main__":
    sys.exit(main())
