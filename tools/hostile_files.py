"""The files a hostile or careless user uploads (tools/hostile_requests.py sends them): image and zip bombs, zips
that lie about their sizes, checkpoint headers edited to break the loader, NaN weights, diffusers zips nested too
deep. Each is made with the project's own code from the bundled digits model."""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "checkpoints" / "digits_tiny.safetensors"
BIG = 10_000_000                 # characters of the "10 MB value" cases


def png(width: int, height: int, rows: Optional[int] = None) -> bytes:
    """A greyscale PNG declaring width × height, its pixels zero: the whole image (a bomb: tiny packed, huge
    unpacked), or only `rows` of it (a header that lies)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    z = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    packed = io.BytesIO()
    block = row * max(1, (1 << 22) // len(row))
    left = height if rows is None else rows
    while left > 0:
        k = min(left, len(block) // len(row))
        packed.write(z.compress(block[:k * len(row)]))
        left -= k
    packed.write(z.flush())
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", packed.getvalue()) + chunk(b"IEND", b""))


def lie_about_sizes(path: Path, size: int) -> None:
    """Rewrite every member's declared unpacked size (local header and central directory) to `size`."""
    data = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        while i >= 0:
            data[i + offset:i + offset + 4] = struct.pack("<I", size)
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))


def header(path: Path, raw_meta: str, tensors: Optional[dict] = None) -> Path:
    """The bundled checkpoint with its "ddpm" config replaced by `raw_meta` (any text) and, if given, other
    tensors (name -> tensor, same names and shapes)."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(str(BUNDLED), framework="pt") as f:
        ts = {k: f.get_tensor(k) for k in f.keys()}
    ts.update(tensors or {})
    save_file(ts, str(path), metadata={"ddpm": raw_meta})
    return path


def bundled_meta() -> dict:
    from safetensors import safe_open
    with safe_open(str(BUNDLED), framework="pt") as f:
        return json.loads(f.metadata()["ddpm"])


def edited(path: Path, edit: Callable[[dict], Any]) -> Path:
    meta = bundled_meta()
    edit(meta)
    return header(path, json.dumps(meta))


def make_files(tmp: Path, bomb_side: int = 12_000, bomb_mb: int = 300,
               attention_size: int = 1024) -> dict[str, Path]:
    """Every bad file the cases upload. bomb_side: the side of the one-image PNG bomb; bomb_mb: the unpacked size
    of the high-ratio zip member; attention_size: the resolution the attention checkpoint attends at."""
    import torch
    f: dict[str, Path] = {}

    def put(name: str, data: bytes) -> Path:
        (tmp / name).write_bytes(data)
        return tmp / name
    f["pickle"] = put("model.safetensors.pt", b"\x80\x04\x95" + os.urandom(64))
    f["text"] = put("notes.safetensors", b"this is not a checkpoint\n")
    f["empty"] = put("empty.safetensors", b"")
    raw = json.dumps({"__metadata__": {"ddpm": "{not json"}}).encode()
    f["bad_meta"] = put("bad_meta.safetensors", struct.pack("<Q", len(raw)) + raw)
    f["truncated"] = put("truncated.safetensors", struct.pack("<Q", 10_000) + b'{"a":')
    f["not_zip"] = put("data.zip", b"PK\x03\x04 definitely not a zip")
    f["traversal_zip"] = tmp / "traversal.zip"
    with zipfile.ZipFile(f["traversal_zip"], "w") as z:
        z.writestr("../../evil/0.png", b"x")
        z.writestr("/abs/1.png", b"x")
    f["empty_zip"] = tmp / "noimages.zip"
    with zipfile.ZipFile(f["empty_zip"], "w") as z:
        z.writestr("readme.txt", "no images here")
    f["small"] = put("small.txt", b"a file to learn where uploads go\n")

    # checkpoint headers that once broke the loader (issue 22), and NaN weights
    f["version_str"] = edited(tmp / "version_str.safetensors", lambda m: m.update(version="1"))
    f["version_list"] = edited(tmp / "version_list.safetensors", lambda m: m.update(version=[1]))
    f["version_huge"] = header(tmp / "version_huge.safetensors",
                                json.dumps(bundled_meta()).replace('"version": 1', '"version": ' + "9" * 5000))
    f["header_list"] = header(tmp / "header_list.safetensors", json.dumps([bundled_meta()]))
    f["header_string"] = header(tmp / "header_string.safetensors", json.dumps("ddpm-workbench"))
    f["header_deep"] = header(tmp / "header_deep.safetensors", "[" * 200_000 + "]" * 200_000)
    f["header_deep_obj"] = header(tmp / "header_deep_obj.safetensors", '{"a":' * 100_000 + "1" + "}" * 100_000)
    f["format_big"] = edited(tmp / "format_big.safetensors", lambda m: m.update(format="x" * 1_000_000))
    f["model_list"] = edited(tmp / "model_list.safetensors", lambda m: m.update(model=[1, 2]))
    f["data_str"] = edited(tmp / "data_str.safetensors", lambda m: m.update(data="digits"))
    f["train_list"] = edited(tmp / "train_list.safetensors", lambda m: m.update(train=[1]))
    f["names_dict"] = edited(tmp / "names_dict.safetensors", lambda m: m.update(class_names={"a": 1}))
    f["dropout_nan"] = header(tmp / "dropout_nan.safetensors",
                               json.dumps(bundled_meta()).replace('"dropout": 0.0', '"dropout": NaN'))
    f["T_float"] = edited(tmp / "T_float.safetensors", lambda m: m["diffusion"].update(T=1000.5))
    f["schedule_big"] = edited(tmp / "schedule_big.safetensors", lambda m: m["diffusion"].update(schedule="s" * BIG))
    from safetensors import safe_open
    with safe_open(str(BUNDLED), framework="pt") as sf:
        keys = list(sf.keys())
        weights = {k: sf.get_tensor(k) for k in keys}
    f["nan_all"] = header(tmp / "nan_all.safetensors", json.dumps(bundled_meta()),
                           {k: torch.full_like(v, float("nan")) for k, v in weights.items() if v.is_floating_point()})
    one = next(k for k in keys if k.startswith("ema.") and weights[k].is_floating_point())
    f["inf_one"] = header(tmp / "inf_one.safetensors", json.dumps(bundled_meta()),
                           {one: torch.full_like(weights[one], float("inf"))})
    markup = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "**bold**", "a&amp;b", "<b>4</b>",
              "5", "6", "7", "8", "<!-- 9"]
    f["markup_names"] = edited(tmp / "markup_names.safetensors", lambda m: m.update(class_names=markup))

    # attention at a large resolution: a tiny network whose one attention layer sees attention_size² positions
    from ddpm import DiffusionConfig, UNet, UNetConfig, save_checkpoint
    cfg = UNetConfig(image_size=attention_size, in_channels=1, base_channels=8, channel_mult=(1,), num_res_blocks=1,
                     attention_resolutions=(attention_size,), num_heads=1, groups=8)
    save_checkpoint(tmp / "attention.safetensors", model=UNet(cfg), ema_model=None,
                    diffusion_config=DiffusionConfig(T=100), class_names=[], step=0)
    f["attention"] = tmp / "attention.safetensors"

    # diffusers zips: configs that break a JSON reader, and NaN weights in a pipeline that otherwise loads
    f["diffusers_deep"] = tmp / "diffusers_deep.zip"
    with zipfile.ZipFile(f["diffusers_deep"], "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model_index.json", "[" * 200_000 + "]" * 200_000)
    f["diffusers_list"] = tmp / "diffusers_list.zip"
    with zipfile.ZipFile(f["diffusers_list"], "w") as z:
        z.writestr("model_index.json", "[1, 2, 3]")
    f["diffusers_nan"] = diffusers_zip(tmp / "diffusers_nan.zip", nan=True)

    # image and zip bombs (their fixes are made beside this tool)
    f["png_bomb"] = tmp / "png_bomb.zip"
    with zipfile.ZipFile(f["png_bomb"], "w", zipfile.ZIP_STORED) as z:
        z.writestr("a/0.png", png(bomb_side, bomb_side))
        z.writestr("b/0.png", png(8, 8))
    f["png_header_lie"] = tmp / "png_header_lie.zip"
    with zipfile.ZipFile(f["png_header_lie"], "w", zipfile.ZIP_STORED) as z:
        z.writestr("a/0.png", png(100_000, 100_000, rows=1))
        z.writestr("b/0.png", png(8, 8))
    f["declared_huge"] = tmp / "declared_huge.zip"
    with zipfile.ZipFile(f["declared_huge"], "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"{'ab'[i % 2]}/{i}.png", png(8, 8))
    lie_about_sizes(f["declared_huge"], 0xFFFF_FFFE)                         # 3 × 4 GB declared
    f["ratio_bomb"] = tmp / "ratio_bomb.zip"
    with zipfile.ZipFile(f["ratio_bomb"], "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("a/0.png", "w", force_zip64=True) as m:
            chunk = b"\0" * 2**20
            for _ in range(bomb_mb):
                m.write(chunk)
        z.writestr("b/0.png", png(8, 8))
    return f


def diffusers_zip(path: Path, nan: bool) -> Path:
    """A DDPMPipeline .zip of an 8×8 tiny U-Net, written without diffusers (ddpm.formats.diffusers' own mapping)."""
    import torch
    from safetensors.torch import save
    from ddpm import DiffusionConfig, GaussianDiffusion, UNet, preset_config
    from ddpm.diffusion import SamplingDefaults
    from ddpm.formats.diffusers import unet2d_config, unet2d_state_dict
    from ddpm.formats.diffusers_config import diffusion_to_scheduler
    torch.manual_seed(0)
    cfg = preset_config("tiny", image_size=8, base_channels=16, num_classes=0)
    state = unet2d_state_dict(UNet(cfg).state_dict())
    if nan:
        state = {k: torch.full_like(v, float("nan")) for k, v in state.items()}
    dcfg = DiffusionConfig(T=100)
    sched = diffusion_to_scheduler(dcfg, GaussianDiffusion(dcfg).float64["betas"], SamplingDefaults())
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model_index.json", json.dumps({"_class_name": "DDPMPipeline", "unet": ["diffusers", "UNet2DModel"],
                                                   "scheduler": ["diffusers", "DDPMScheduler"]}))
        z.writestr("unet/config.json", json.dumps({"_class_name": "UNet2DModel", **unet2d_config(cfg)}))
        z.writestr("scheduler/scheduler_config.json", json.dumps({"_class_name": "DDPMScheduler", **sched}))
        z.writestr(zipfile.ZipInfo("unet/diffusion_pytorch_model.safetensors"),     # stored: NaN packs 300:1
                   save({k: v.contiguous() for k, v in state.items()}), zipfile.ZIP_STORED)
    return path
