"""Our U-Net (tiny preset, class-conditional, 16×16) against diffusers' UNet2DModel configured to the same
architecture, in the same run: training steps/s and forward (sampling) images/s, in eager mode, with
channels_last, with bfloat16 autocast and with torch.compile; achieved GFLOP/s against a torch.mm baseline.

    python -m bench.speed              # CPU (or CUDA when visible: --device cuda)
    python -m bench.speed --quick      # no torch.compile, small batches, few steps

The diffusers model mirrors ours block for block: channels (32, 64, 64), one ResNet per down level and two
per up level, self-attention at 4×4 and in the middle (heads of 16 channels), GroupNorm(8), a 128-d time
embedding plus an 11-row class embedding (10 classes + the null label). Both parameter counts and FLOPs per
image are in the output. The training step is the same for both: x_t = √ᾱ x_0 + √(1−ᾱ) ε, MSE to ε,
backward, AdamW — on a fixed batch, so data handling is not timed.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench import common
from ddpm.diffusion import DiffusionConfig, GaussianDiffusion
from ddpm.unet import UNet, count_parameters, preset_config

NAME = "speed"
IMAGE_SIZE, CHANNELS, NUM_CLASSES = 16, 1, 10
ALL_VARIANTS = ("eager", "channels_last", "bf16", "compile", "compile+bf16")
QUICK_VARIANTS = ("eager", "channels_last", "bf16")


def build_ours() -> nn.Module:
    return UNet(preset_config("tiny", image_size=IMAGE_SIZE, in_channels=CHANNELS, num_classes=NUM_CLASSES))


def build_diffusers() -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from diffusers import UNet2DModel
    return UNet2DModel(
        sample_size=IMAGE_SIZE, in_channels=CHANNELS, out_channels=CHANNELS, block_out_channels=(32, 64, 64),
        layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), attention_head_dim=16, norm_num_groups=8,
        num_class_embeds=NUM_CLASSES + 1)


class DiffusersAdapter(nn.Module):
    """Calls UNet2DModel as (x, t, y) -> tensor, like ours."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, t, y=None):
        return self.model(x, t, class_labels=y, return_dict=False)[0]


MODELS: dict[str, Callable[[], nn.Module]] = {
    "ours": build_ours, "diffusers": lambda: DiffusersAdapter(build_diffusers())}


def flops_per_image(model: nn.Module, device, train: bool) -> float:
    x, t, y = inputs(2, device)
    with FlopCounterMode(display=False) as fc:
        if train:
            model(x, t, y).square().mean().backward()
        else:
            with torch.no_grad():
                model(x, t, y)
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops() / 2


def inputs(batch: int, device, channels_last: bool = False, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, CHANNELS, IMAGE_SIZE, IMAGE_SIZE, generator=g).to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    t = torch.randint(0, 1000, (batch,), generator=g).to(device)
    y = torch.randint(0, NUM_CLASSES, (batch,), generator=g).to(device)
    return x, t, y


def _autocast(device: torch.device, bf16: bool):
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def prepare(name: str, variant: str, device: torch.device, train: bool):
    torch.manual_seed(0)
    model = MODELS[name]().to(device)
    model.train(train)
    cl = variant.startswith("channels_last")     # "channels_last" or "channels_last+bf16" (bench/amp.py)
    if cl:
        model = model.to(memory_format=torch.channels_last)
    net = model
    if variant.startswith("compile"):
        torch._dynamo.reset()      # a cold compile for every cell, so first_call_s is comparable
        net = torch.compile(model)
    return model, net, cl, variant.endswith("bf16")


def time_train(name: str, variant: str, device: torch.device, batch: int, warmup: int, steps: int) -> dict:
    model, net, cl, bf16 = prepare(name, variant, device, train=True)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    diffusion = GaussianDiffusion(DiffusionConfig())
    x0, t, y = inputs(batch, device, cl)
    noise = torch.randn_like(x0)
    x_t = diffusion.q_sample(x0, t, noise)

    def step():
        with _autocast(device, bf16):
            out = net(x_t, t, y)
        loss = F.mse_loss(out.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    step()
    common.sync(device)
    first = time.perf_counter() - t0
    times = common.time_calls(step, max(0, warmup - 1), steps, device)
    return {"first_call_s": first, "seconds": common.median(times), "times": times}


def time_forward(name: str, variant: str, device: torch.device, batch: int, warmup: int, repeats: int) -> dict:
    model, net, cl, bf16 = prepare(name, variant, device, train=False)
    x, t, y = inputs(batch, device, cl)

    def fwd():
        with torch.no_grad(), _autocast(device, bf16):
            net(x, t, y)

    t0 = time.perf_counter()
    fwd()
    common.sync(device)
    first = time.perf_counter() - t0
    times = common.time_calls(fwd, max(0, warmup - 1), repeats, device)
    return {"first_call_s": first, "seconds": common.median(times), "times": times}


def run(quick: bool = False, variants: Optional[Sequence[str]] = None, train_batch: Optional[int] = None,
        sample_batch: Optional[int] = None, steps: Optional[int] = None, device: str = "auto",
        out_json: Optional[str] = None, command: Optional[str] = None, write: bool = True) -> dict:
    started = time.perf_counter()
    dev = common.resolve_device(device)
    variants = list(variants or (QUICK_VARIANTS if quick else ALL_VARIANTS))
    train_batch = train_batch or (32 if quick else 128)
    sample_batch = sample_batch or (64 if quick else 256)
    steps = steps or (3 if quick else 10)
    warmup = 1 if quick else 3
    payload = common.envelope(NAME, quick, command, dev)

    info = {}
    for name, build in MODELS.items():
        m = build().to(dev)
        info[name] = {"parameters": count_parameters(m),
                      "forward_gflop_per_image": flops_per_image(m.eval(), dev, train=False) / 1e9,
                      "train_gflop_per_image": flops_per_image(m.train(), dev, train=True) / 1e9}
        common.log(f"[speed] {name}: {info[name]['parameters']:,} parameters, "
                   f"{info[name]['forward_gflop_per_image']:.4f} GFLOP/image forward")
        del m
    # quick: smaller problems, since a CPU without native bf16 emulates it (~30 s per 2048² bf16 product on AVX2)
    mm_n, conv_batch = (512, 8) if quick else (2048, 64)
    mm = {"fp32": common.matmul_gflops(dev, mm_n, torch.float32, repeats=3 if quick else 10),
          "bf16": common.matmul_gflops(dev, mm_n, torch.bfloat16, repeats=3 if quick else 10)}
    conv = {"fp32": common.conv_gflops(dev, batch=conv_batch, dtype=torch.float32, repeats=3 if quick else 10),
            "bf16": common.conv_gflops(dev, batch=conv_batch, dtype=torch.bfloat16, repeats=3 if quick else 10)}
    common.log(f"[speed] torch.mm {mm_n}²: fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} GFLOP/s; "
               f"3x3 conv 128ch 16x16 batch {conv_batch}: fp32 {conv['fp32']:.0f}, bf16 {conv['bf16']:.0f} GFLOP/s")

    rows = []
    for variant in variants:
        for name in MODELS:   # both models back to back, so they see the same machine state
            common.log(f"[speed] {name} / {variant}: training (batch {train_batch}), forward (batch {sample_batch})")
            try:
                tr = time_train(name, variant, dev, train_batch, warmup, steps)
                fw = time_forward(name, variant, dev, sample_batch, warmup, max(3, steps))
            except Exception as e:   # e.g. torch.compile without a C compiler: record, keep going
                rows.append({"model": name, "variant": variant, "error": f"{type(e).__name__}: {e}"[:500]})
                common.log(f"[speed]   failed: {rows[-1]['error']}")
                continue
            base = mm["bf16" if variant.endswith("bf16") else "fp32"]
            tg = info[name]["train_gflop_per_image"] * train_batch / tr["seconds"]
            fg = info[name]["forward_gflop_per_image"] * sample_batch / fw["seconds"]
            rows.append({
                "model": name, "variant": variant, "compiled": variant.startswith("compile"),
                "channels_last": variant.startswith("channels_last"), "bf16_autocast": variant.endswith("bf16"),
                "train_batch": train_batch, "train_steps_per_s": 1 / tr["seconds"],
                "train_images_per_s": train_batch / tr["seconds"], "train_gflops": tg,
                "train_pct_of_matmul": 100 * tg / base, "train_first_call_s": tr["first_call_s"],
                "sample_batch": sample_batch, "forward_images_per_s": sample_batch / fw["seconds"],
                "forward_gflops": fg, "forward_pct_of_matmul": 100 * fg / base,
                "forward_first_call_s": fw["first_call_s"], "timed_steps": steps,
            })
    ok = [r for r in rows if "error" not in r]
    by = {(r["model"], r["variant"]): r for r in ok}
    for r in ok:   # ours relative to diffusers in the same variant
        other = by.get(("diffusers", r["variant"]))
        if r["model"] == "ours" and other:
            r["train_speedup_vs_diffusers"] = r["train_steps_per_s"] / other["train_steps_per_s"]
            r["forward_speedup_vs_diffusers"] = r["forward_images_per_s"] / other["forward_images_per_s"]
    payload.update(
        models=info, matmul_gflops=mm, matmul_size=mm_n, conv_batch=conv_batch, conv_gflops=conv,
        conv_reference="one Conv2d(128, 128, 3, padding=1) on (64, 128, 16, 16), forward", variants=variants, rows=rows,
        diffusers_config=dict(block_out_channels=[32, 64, 64], layers_per_block=1,
                              down_block_types=["DownBlock2D", "DownBlock2D", "AttnDownBlock2D"],
                              up_block_types=["AttnUpBlock2D", "UpBlock2D", "UpBlock2D"], attention_head_dim=16,
                              norm_num_groups=8, num_class_embeds=NUM_CLASSES + 1),
        method="median step time after warmup; first_call_s includes torch.compile's compilation; FLOPs counted by "
               "torch.utils.flop_counter.FlopCounterMode (convolutions and matmuls; attention via SDPA may be "
               "uncounted on CPU; elementwise ops and norms are not counted); % of matmul against torch.mm "
               f"{mm_n}² in "
               "the same dtype (bf16 for bf16-autocast variants)")
    tables = [common.table(
        "Models compared", ["model", "parameters", "GFLOP/img fwd", "GFLOP/img train"],
        [[n, i["parameters"], i["forward_gflop_per_image"], i["train_gflop_per_image"]] for n, i in info.items()]),
        common.table(
            f"Ours vs diffusers UNet2DModel on {dev}{' [quick]' if quick else ''}",
            ["model", "variant", "train steps/s", "train img/s", "train GFLOP/s", "fwd img/s", "fwd GFLOP/s",
             "% of mm (train/fwd)", "first call s (train/fwd)"],
            [[r["model"], r["variant"], r["train_steps_per_s"], r["train_images_per_s"], r["train_gflops"],
              r["forward_images_per_s"], r["forward_gflops"],
              f"{r['train_pct_of_matmul']:.0f}/{r['forward_pct_of_matmul']:.0f}",
              f"{r['train_first_call_s']:.1f}/{r['forward_first_call_s']:.1f}"] for r in ok]
            + [[r["model"], r["variant"], "error", r["error"][:60], "", "", "", "", ""] for r in rows if "error" in r],
            notes=[f"train batch {train_batch}, forward batch {sample_batch}; torch.mm {mm_n}²: "
                   f"fp32 {mm['fp32']:.0f} GFLOP/s, bf16 {mm['bf16']:.0f} GFLOP/s",
                   f"a single 3x3 conv (128 ch, 16x16, batch {conv_batch}) reaches fp32 {conv['fp32']:.0f}, bf16 "
                   f"{conv['bf16']:.0f} GFLOP/s: where it beats torch.mm, '% of mm' can exceed 100"]
            + ([] if any(v.startswith("compile") for v in variants) else ["torch.compile skipped (quick mode)"]))]
    payload["tables"] = tables
    return common.finish_and_write(payload, started, common.results_path(NAME, quick, out_json), write)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="no torch.compile, batch 32/64, 3 steps")
    p.add_argument("--variants", nargs="+", choices=ALL_VARIANTS)
    p.add_argument("--train-batch", type=int, help="default 128 (quick 32)")
    p.add_argument("--sample-batch", type=int, help="forward batch, default 256 (quick 64)")
    p.add_argument("--steps", type=int, help="timed steps / forwards per cell, default 10 (quick 3)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    common.add_threads_arg(p)
    p.add_argument("--out-json")
    a = p.parse_args(argv)
    common.set_threads(a.threads)
    res = run(a.quick, a.variants, a.train_batch, a.sample_batch, a.steps, a.device, a.out_json,
              common.cli_command("bench.speed", argv))
    common.print_result(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
