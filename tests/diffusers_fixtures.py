"""A small diffusers model made with diffusers alone (no project code): a UNet2DModel + DDPMScheduler trained for
a few dozen steps on scikit-learn's 8×8 digits by a plain diffusers training loop, saved with save_pretrained."""
from __future__ import annotations

import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

UNET_KW = dict(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16, 32), layers_per_block=1,
               down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
               norm_num_groups=8, attention_head_dim=8)


def digits_8x8() -> torch.Tensor:  # (1797, 1, 8, 8) in [-1, 1]
    from sklearn.datasets import load_digits
    return torch.from_numpy(load_digits().images).float()[:, None] / 8.0 - 1.0


def train_pipeline(out: Path, steps: int = 40, seed: int = 0, T: int = 1000, **unet_kw) -> DDPMPipeline:
    """The diffusers training loop of its own examples (train_unconditional.py), shortened."""
    torch.manual_seed(seed)
    unet = UNet2DModel(**{**UNET_KW, **unet_kw})
    scheduler = DDPMScheduler(num_train_timesteps=T, beta_schedule="linear")
    opt = torch.optim.AdamW(unet.parameters(), lr=2e-3)
    data = digits_8x8()
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x0 = data[torch.randint(0, len(data), (32,), generator=g)]
        noise = torch.randn(x0.shape, generator=g)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (32,), generator=g)
        labels = {"class_labels": torch.randint(0, unet.config.num_class_embeds, (32,), generator=g)} \
            if unet.config.num_class_embeds else {}
        loss = F.mse_loss(unet(scheduler.add_noise(x0, noise, t), t, **labels).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
    pipe = DDPMPipeline(unet=unet.eval(), scheduler=scheduler)
    pipe.save_pretrained(out)
    return pipe


class TinyNet(torch.nn.Module):
    """A small random network with a non-zero output that depends on x and t: a stand-in for a denoiser in sampler
    parity tests (called as net(x, t), 1 channel)."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.a = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.b = torch.nn.Conv2d(8, 1, 3, padding=1)

    def forward(self, x, t):
        h = torch.nn.functional.silu(self.a(x) + torch.sin(t.view(-1, 1, 1, 1).to(x.dtype) / 150))
        return self.b(h) + 0.3 * x
