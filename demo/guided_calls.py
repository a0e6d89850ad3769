"""How many of a run's network calls classifier-free guidance doubles, counted before the run for the work budget
(demo/limits.py). With guidance on an interval of noise levels only (ddpm.guidance), the calls outside it run one
pass, not two; which calls those are depends on the sampler, its steps and its options (EDM Heun and Restart call
the network between their steps too). So the count is not derived again here: the very sampling loop runs once on
a stand-in network of the model's channels and classes, at one 1×1 image, and the stand-in counts the calls that
came as a doubled batch. It computes nothing (it returns zeros), so the dry run costs a few milliseconds a step."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Optional

import torch

from ddpm import generate


class _CallCounter(torch.nn.Module):
    """A stand-in network with the model's channels, classes and variance output, on 1×1 images: it returns zeros
    and counts the calls whose batch came doubled (the conditional and the unconditional pass as one batch)."""

    def __init__(self, config):
        super().__init__()
        learn_sigma = bool(getattr(config, "learn_sigma", False))
        self.config = SimpleNamespace(num_classes=getattr(config, "num_classes", 0), has_null_class=True,
                                      learn_sigma=learn_sigma, in_channels=config.in_channels, image_size=1)
        self.out_channels = config.in_channels * (2 if learn_sigma else 1)
        self.device_anchor = torch.nn.Parameter(torch.zeros(()), requires_grad=False)   # generate() reads a device
        self.doubled = 0

    def forward(self, x, t, y=None):
        self.doubled += int(len(x) == 2)
        return torch.zeros(len(x), self.out_channels, 1, 1)


def doubled_calls(ckpt, sampler: str, steps: Optional[int], guidance_scale: float, interval,
                  **options) -> Optional[int]:
    """The network calls per image that run a doubled batch when `ckpt` samples with `sampler` at `steps` (and the
    sampler's options, as generate() takes them) and guidance w on `interval`; None when every call is doubled
    (no interval) or when the dry run cannot say (the budget then counts every call doubled, on the safe side)."""
    if interval is None:
        return None
    try:
        counter = _CallCounter(ckpt.model.config)          # a configuration without channels: AttributeError
        generate(counter, ckpt.diffusion, sampler=sampler, steps=steps, n=1, labels=[0],
                 guidance_scale=guidance_scale, guidance_interval=interval, seed=0, trajectory_frames=0, amp="off",
                 **options)
    except (ValueError, TypeError, AttributeError, RuntimeError):
        return None
    return counter.doubled
