"""Send the app the requests a hostile or careless user would, and record what each one cost the server.

    python tools/hostile_requests.py http://127.0.0.1:7860/ --log app.log          # the server found by its port
    python tools/hostile_requests.py http://127.0.0.1:7860/ --log app.log --pid 1234 --json out.json

Every request here is bad: out-of-range or wrong-type values, 10 MB values, unknown names, traversal paths, uploads
that are folders (gradio's upload folder itself), URLs or no file at all, files that are not checkpoints or not
zips, checkpoint headers edited to break the loader (a string version, a list, 200,000 levels of nesting, NaN
weights), image and zip bombs, requests with values missing. A few are valid requests the app once failed on
(DDIM with 1 step, class names holding markup): those must be answered, and answered safely.

Each is sent on its own, through gradio_client (uploads as a browser sends them) or as the raw JSON a script can
post (FileData with any path, fewer values than the endpoint takes). For each the tool records the reply, its
time, the growth of the app's peak resident memory (VmHWM in /proc/PID/status, reset before each request through
/proc/PID/clear_refs; the app's process is found by the port it listens on, or --pid) and the lines it left in the
server log (--log). Prints one line per request and a summary; exits 1 if a request had another outcome than
expected, a reply showed a server path, the log holds a traceback, or a refusal took over --max-seconds or grew
the app's memory by over --max-growth-mb.

A case marked "pending" waits for a fix outside the files this tool was written with (it names which); it is judged
like the others, shown as PND and counted apart in the summary.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import struct
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import zipfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:             # run as a script: the files are made with the project's own code
    sys.path.insert(0, str(ROOT))
BUNDLED = ROOT / "checkpoints" / "digits_tiny.safetensors"
SAMPLE = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, sampler="DDIM", steps=5, eta=0.0,
              temperature=1.0, noise_temperature=1.0, seed=0, n=4)
COMPARE = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, steps=5, eta=0.0, seed=0, n=2)
SAMPLERS = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, samplers=["DDIM", "UniPC"],
                calls=3, seed=0, n=2)
DIAGNOSE = dict(checkpoint="bundled", upload=None, mode="quick", seed=0)
TRAIN = dict(data="digits", zip_file=None, preset="tiny", schedule="linear", objective="eps", weighting="simple",
             steps=10, batch_size=8, lr=1e-3, label_dropout=0.1, sample_every=0, image_size=8, base_channels=16,
             T=100)
BIG = 10_000_000                 # characters of the "10 MB value" cases
MAX_ECHO = 1_000                 # a reply longer than this echoed what it was sent
SLOTS = [("/sample", SAMPLE, "upload"), ("/compare", COMPARE, "upload"), ("/compare_samplers", SAMPLERS, "upload"),
         ("/quality", dict(checkpoint="bundled", upload=None), "upload"),
         ("/quality_plot", dict(checkpoint="bundled", upload=None), "upload"),
         ("/diagnose", DIAGNOSE, "upload"), ("/diagnose", DIAGNOSE, "reference"),
         ("/train_start", dict(TRAIN, data="zip"), "zip_file"), ("/train_resume", dict(run=None), "zip_file")]


@dataclass
class Case:
    name: str
    api: str                         # "/sample"
    args: Any                        # keyword arguments (gradio_client), or the JSON list `data` when raw
    raw: bool = False                # posted as JSON as it is: no client-side file handling, no defaults filled in
    expect: str = "refused"          # or "answered": a valid request that must work
    check: Optional[Callable[[Any], str]] = None    # for an answered case: what is wrong with the reply ("" = fine)
    pending: str = ""                # the parallel fix this case waits for, if any
    body: Optional[bytes] = None     # raw: this request body instead of {"data": args}


@dataclass
class Outcome:
    name: str
    api: str
    refused: bool                    # the server (or the client, before sending) answered with an error
    message: str                     # the error, or the start of the reply
    seconds: float
    growth_mb: Optional[float]       # the app's peak resident memory during the request, above its level before
    log_lines: list = field(default_factory=list)
    expect: str = "refused"
    pending: str = ""
    problem: str = ""                # why this outcome is bad ("" = as expected)

    @property
    def ok(self) -> bool:
        return not self.problem


# ------------------------------------------------------------------------------------------- the server
def find_pid(port: int) -> Optional[int]:
    """The process listening on 127.0.0.1:port (or any address), by the socket's inode in /proc/net/tcp[6]."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


class Watch:
    """The app's memory and log around one request."""

    def __init__(self, pid: Optional[int], log: Optional[Path]):
        self.pid, self.log = pid, log
        self._rss = 0
        self._mark = 0

    def _status(self, key: str) -> Optional[int]:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        except (OSError, TypeError):
            return None
        return None

    def rss_mb(self) -> Optional[float]:
        rss = self._status("VmRSS") if self.pid else None
        return rss / 2**20 if rss is not None else None

    def start(self) -> None:
        if self.pid:
            try:                                  # "5": reset the peak resident set size to the current one
                Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            except OSError:
                pass
            self._rss = self._status("VmRSS") or 0
        self._mark = self.log.stat().st_size if self.log and self.log.exists() else 0

    def stop(self) -> tuple[Optional[float], list[str]]:
        growth = None
        if self.pid:
            peak = self._status("VmHWM")
            growth = max(0, peak - self._rss) / 2**20 if peak is not None else None
        lines = []
        if self.log and self.log.exists():
            time.sleep(0.05)                      # the log line is written as the reply goes out
            with open(self.log, "rb") as f:
                f.seek(self._mark)
                lines = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
        return growth, lines


# ----------------------------------------------------------------------------------------- the requests
class Sender:
    """gradio_client for the keyword cases, plain HTTP for the raw ones (POST /gradio_api/call/<api>, then its
    event stream)."""

    def __init__(self, url: str, timeout: float):
        from gradio_client import Client
        self.url = url.rstrip("/") + "/"
        self.timeout = timeout
        self.client = Client(self.url, verbose=False)
        info = self.client.view_api(print_info=False, return_format="dict")["named_endpoints"]
        self.params = {api: [p["parameter_name"] for p in e["parameters"]] for api, e in info.items()}
        self.defaults = {api: [p.get("parameter_default") for p in e["parameters"]] for api, e in info.items()}

    def close(self) -> None:
        self.client.close()

    def positional(self, api: str, kwargs: dict) -> list:
        """kwargs as the endpoint's list of values, the defaults filled in."""
        return [kwargs.get(n, d) for n, d in zip(self.params[api], self.defaults[api])]

    def upload(self, path: Path) -> str:
        """The server path of a file uploaded as a browser does (POST /gradio_api/upload)."""
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{path.name}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + \
            f"\r\n--{boundary}--\r\n".encode()
        req = urllib.request.Request(self.url + "gradio_api/upload", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            return json.loads(r.read())[0]

    def send(self, case: Case) -> tuple[bool, str, Any]:
        """(refused, message, reply)."""
        if case.raw:
            return self._raw(case.api, case.args, case.body)
        from gradio_client.exceptions import AppError
        try:
            job = self.client.submit(**case.args, api_name=case.api)
            reply = job.result(timeout=self.timeout)
            return False, str(reply)[:300], reply
        except AppError as e:
            return True, str(e), None
        except TimeoutError:
            job.cancel()
            return False, f"no reply within {self.timeout:.0f} s", None
        except Exception as e:    # a client-side refusal (a value the API schema rejects) also counts
            return True, f"{type(e).__name__}: {e}", None

    def _raw(self, api: str, data: Any, body: Optional[bytes] = None) -> tuple[bool, str, Any]:
        payload = body if body is not None else json.dumps({"data": data}).encode()
        req = urllib.request.Request(self.url + "gradio_api/call/" + api.strip("/"), data=payload,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                event_id = json.loads(r.read())["event_id"]
            with urllib.request.urlopen(f"{self.url}gradio_api/call/{api.strip('/')}/{event_id}",
                                        timeout=self.timeout) as r:
                stream = r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            return True, f"HTTP {e.code}: {e.read().decode(errors='replace')[:300]}", None
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            return False, f"no reply ({type(e).__name__}: {e})", None
        event, data_line = "", ""
        for line in stream.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data_line = line[5:].strip()
        if event == "complete":
            reply = json.loads(data_line)
            return False, str(reply)[:300], reply
        try:
            error = json.loads(data_line)
        except ValueError:
            error = data_line
        message = error.get("error") if isinstance(error, dict) else error
        return True, str(message or "The upstream Gradio app has raised an exception (no message)"), None


# ------------------------------------------------------------------------------------------------ files
def _png(width: int, height: int, rows: Optional[int] = None) -> bytes:
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


def _lie_about_sizes(path: Path, size: int) -> None:
    """Rewrite every member's declared unpacked size (local header and central directory) to `size`."""
    data = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        while i >= 0:
            data[i + offset:i + offset + 4] = struct.pack("<I", size)
            i = data.find(sig, i + 4)
    path.write_bytes(bytes(data))


def _header(path: Path, raw_meta: str, tensors: Optional[dict] = None) -> Path:
    """The bundled checkpoint with its "ddpm" config replaced by `raw_meta` (any text) and, if given, other
    tensors (name -> tensor, same names and shapes)."""
    from safetensors import safe_open
    from safetensors.torch import save_file
    with safe_open(str(BUNDLED), framework="pt") as f:
        ts = {k: f.get_tensor(k) for k in f.keys()}
    ts.update(tensors or {})
    save_file(ts, str(path), metadata={"ddpm": raw_meta})
    return path


def _bundled_meta() -> dict:
    from safetensors import safe_open
    with safe_open(str(BUNDLED), framework="pt") as f:
        return json.loads(f.metadata()["ddpm"])


def _edited(path: Path, edit: Callable[[dict], Any]) -> Path:
    meta = _bundled_meta()
    edit(meta)
    return _header(path, json.dumps(meta))


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
    header = json.dumps({"__metadata__": {"ddpm": "{not json"}}).encode()
    f["bad_meta"] = put("bad_meta.safetensors", struct.pack("<Q", len(header)) + header)
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
    f["version_str"] = _edited(tmp / "version_str.safetensors", lambda m: m.update(version="1"))
    f["version_list"] = _edited(tmp / "version_list.safetensors", lambda m: m.update(version=[1]))
    f["version_huge"] = _header(tmp / "version_huge.safetensors",
                                json.dumps(_bundled_meta()).replace('"version": 1', '"version": ' + "9" * 5000))
    f["header_list"] = _header(tmp / "header_list.safetensors", json.dumps([_bundled_meta()]))
    f["header_string"] = _header(tmp / "header_string.safetensors", json.dumps("ddpm-workbench"))
    f["header_deep"] = _header(tmp / "header_deep.safetensors", "[" * 200_000 + "]" * 200_000)
    f["header_deep_obj"] = _header(tmp / "header_deep_obj.safetensors", '{"a":' * 100_000 + "1" + "}" * 100_000)
    f["format_big"] = _edited(tmp / "format_big.safetensors", lambda m: m.update(format="x" * 1_000_000))
    f["model_list"] = _edited(tmp / "model_list.safetensors", lambda m: m.update(model=[1, 2]))
    f["data_str"] = _edited(tmp / "data_str.safetensors", lambda m: m.update(data="digits"))
    f["train_list"] = _edited(tmp / "train_list.safetensors", lambda m: m.update(train=[1]))
    f["names_dict"] = _edited(tmp / "names_dict.safetensors", lambda m: m.update(class_names={"a": 1}))
    f["dropout_nan"] = _header(tmp / "dropout_nan.safetensors",
                               json.dumps(_bundled_meta()).replace('"dropout": 0.0', '"dropout": NaN'))
    f["T_float"] = _edited(tmp / "T_float.safetensors", lambda m: m["diffusion"].update(T=1000.5))
    f["schedule_big"] = _edited(tmp / "schedule_big.safetensors", lambda m: m["diffusion"].update(schedule="s" * BIG))
    from safetensors import safe_open
    with safe_open(str(BUNDLED), framework="pt") as sf:
        keys = list(sf.keys())
        weights = {k: sf.get_tensor(k) for k in keys}
    f["nan_all"] = _header(tmp / "nan_all.safetensors", json.dumps(_bundled_meta()),
                           {k: torch.full_like(v, float("nan")) for k, v in weights.items() if v.is_floating_point()})
    one = next(k for k in keys if k.startswith("ema.") and weights[k].is_floating_point())
    f["inf_one"] = _header(tmp / "inf_one.safetensors", json.dumps(_bundled_meta()),
                           {one: torch.full_like(weights[one], float("inf"))})
    markup = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "**bold**", "a&amp;b", "<b>4</b>",
              "5", "6", "7", "8", "<!-- 9"]
    f["markup_names"] = _edited(tmp / "markup_names.safetensors", lambda m: m.update(class_names=markup))

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
    f["diffusers_nan"] = _diffusers_zip(tmp / "diffusers_nan.zip", nan=True)

    # image and zip bombs (their fixes are made beside this tool)
    f["png_bomb"] = tmp / "png_bomb.zip"
    with zipfile.ZipFile(f["png_bomb"], "w", zipfile.ZIP_STORED) as z:
        z.writestr("a/0.png", _png(bomb_side, bomb_side))
        z.writestr("b/0.png", _png(8, 8))
    f["png_header_lie"] = tmp / "png_header_lie.zip"
    with zipfile.ZipFile(f["png_header_lie"], "w", zipfile.ZIP_STORED) as z:
        z.writestr("a/0.png", _png(100_000, 100_000, rows=1))
        z.writestr("b/0.png", _png(8, 8))
    f["declared_huge"] = tmp / "declared_huge.zip"
    with zipfile.ZipFile(f["declared_huge"], "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(3):
            z.writestr(f"{'ab'[i % 2]}/{i}.png", _png(8, 8))
    _lie_about_sizes(f["declared_huge"], 0xFFFF_FFFE)                         # 3 × 4 GB declared
    f["ratio_bomb"] = tmp / "ratio_bomb.zip"
    with zipfile.ZipFile(f["ratio_bomb"], "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("a/0.png", "w", force_zip64=True) as m:
            chunk = b"\0" * 2**20
            for _ in range(bomb_mb):
                m.write(chunk)
        z.writestr("b/0.png", _png(8, 8))
    return f


def _diffusers_zip(path: Path, nan: bool) -> Path:
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


# ------------------------------------------------------------------------------------------------ cases
def _fd(path: Any) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def _no_markup(reply: Any) -> str:
    """An answered sample's info (its second output) shows class names as text: no tag gets through."""
    info = reply[1] if isinstance(reply, (list, tuple)) and len(reply) > 1 else ""
    if not isinstance(info, str):
        return f"no info text in the reply ({type(info).__name__})"
    bad = [tag for tag in ("<script", "<img", "<b>", "<!--") if tag in info]
    return f"markup reached the page: {bad}" if bad else ""


def _images(reply: Any) -> str:
    grid = reply[0] if isinstance(reply, (list, tuple)) and reply else None
    return "" if grid else "no image in the reply"


def cases(files: dict[str, Path], sender: Sender) -> list[Case]:
    """Every request, in the order sent."""
    from gradio_client import handle_file
    up = lambda k: handle_file(str(files[k]))  # noqa: E731
    pos = sender.positional
    server_file = sender.upload(files["small"])              # where this server keeps uploads: <root>/<hash>/<name>
    upload_root = str(Path(server_file).parents[1])
    upload_hash_dir = str(Path(server_file).parent)
    missing = str(Path(upload_hash_dir) / "never-uploaded.safetensors")
    out = [
        # -------------------------------------------------------------- values of the wrong type or range
        Case("sample: steps not a number", "/sample", dict(SAMPLE, steps="abc")),
        Case("sample: steps 0", "/sample", dict(SAMPLE, steps=0)),
        Case("sample: steps 2.5", "/sample", dict(SAMPLE, steps=2.5)),
        Case("sample: steps 10^30", "/sample", dict(SAMPLE, steps=10**30)),
        Case("sample: steps an empty string", "/sample", dict(SAMPLE, steps="")),
        Case("sample: steps 'inf'", "/sample", dict(SAMPLE, steps="inf")),
        Case("sample: n = -1", "/sample", dict(SAMPLE, n=-1)),
        Case("sample: n = 10^9", "/sample", dict(SAMPLE, n=10**9)),
        Case("sample: n = 2.5", "/sample", dict(SAMPLE, n=2.5)),
        Case("sample: n as a list", "/sample", dict(SAMPLE, n=[4])),
        Case("sample: n as an object", "/sample", dict(SAMPLE, n={"n": 4})),
        Case("sample: seed -5", "/sample", dict(SAMPLE, seed=-5)),
        Case("sample: seed 2^64", "/sample", dict(SAMPLE, seed=2**64)),
        Case("sample: seed 'nan'", "/sample", dict(SAMPLE, seed="nan")),
        Case("sample: seed '1e400'", "/sample", dict(SAMPLE, seed="1e400")),
        Case("sample: guidance 10^9", "/sample", dict(SAMPLE, guidance_scale=1e9)),
        Case("sample: guidance 'NaN'", "/sample", dict(SAMPLE, guidance_scale="NaN")),
        Case("sample: eta 5", "/sample", dict(SAMPLE, eta=5)),
        Case("sample: eta -0.1", "/sample", dict(SAMPLE, eta=-0.1)),
        Case("sample: temperature as text", "/sample", dict(SAMPLE, temperature="hot")),
        Case("sample: temperature -1", "/sample", dict(SAMPLE, temperature=-1)),
        Case("sample: noise temperature 10^9", "/sample", dict(SAMPLE, noise_temperature=1e9)),
        Case("sample: unknown sampler", "/sample", dict(SAMPLE, sampler="evil")),
        Case("sample: sampler as a list", "/sample", dict(SAMPLE, sampler=["DDIM"])),
        Case("sample: no sampler", "/sample", dict(SAMPLE, sampler=None)),
        Case("sample: unknown precision", "/sample", dict(SAMPLE, amp="fp8")),
        Case("sample: precision as a number", "/sample", dict(SAMPLE, amp=5)),
        Case("sample: unknown class", "/sample", dict(SAMPLE, classes=["99"])),
        Case("sample: classes as markup", "/sample", dict(SAMPLE, classes="<script>alert(1)</script>")),
        Case("sample: classes as a float", "/sample", dict(SAMPLE, classes=1.5)),
        Case("sample: classes as an object", "/sample", dict(SAMPLE, classes={"a": 1})),
        Case("sample: classes as nested lists", "/sample", dict(SAMPLE, classes=[[1], [2]])),
        Case("sample: traversal checkpoint", "/sample", dict(SAMPLE, checkpoint="../../../etc/passwd")),
        Case("sample: absolute-path checkpoint", "/sample", dict(SAMPLE, checkpoint="/etc/passwd")),
        Case("sample: checkpoint as a number", "/sample", dict(SAMPLE, checkpoint=12345)),
        Case("sample: checkpoint as a list", "/sample", dict(SAMPLE, checkpoint=["bundled", "x"])),
        Case("sample: checkpoint as an object", "/sample", dict(SAMPLE, checkpoint={"path": "/etc/passwd"})),
        Case("sample: checkpoint with a NUL byte", "/sample", dict(SAMPLE, checkpoint="bund\0led")),
        # ------------------------------------------------------------------ 10 MB values: quoted, never echoed
        Case("sample: steps of 10 MB", "/sample", dict(SAMPLE, steps="9" * BIG)),
        Case("sample: sampler of 10 MB", "/sample", dict(SAMPLE, sampler="x" * BIG)),
        Case("sample: checkpoint name of 10 MB", "/sample", dict(SAMPLE, checkpoint="c" * BIG)),
        Case("sample: classes of 10 MB", "/sample", dict(SAMPLE, classes="k" * BIG)),
        Case("sample: precision of 10 MB", "/sample", dict(SAMPLE, amp="p" * BIG)),
        Case("compare_samplers: a sampler of 10 MB", "/compare_samplers", dict(SAMPLERS, samplers=["DDIM", "s" * BIG])),
        Case("diagnose: mode of 10 MB", "/diagnose", dict(DIAGNOSE, mode="m" * BIG)),
        Case("train: preset of 10 MB", "/train_start", dict(TRAIN, preset="t" * BIG)),
        Case("train: learning rate of 10 MB", "/train_start", dict(TRAIN, lr="1" * BIG)),
        # ---------------------------------------------------------------------------- the other endpoints
        Case("compare: n = 1000", "/compare", dict(COMPARE, n=1000)),
        Case("compare: steps -3", "/compare", dict(COMPARE, steps=-3)),
        Case("compare: unknown checkpoint", "/compare", dict(COMPARE, checkpoint="nope")),
        Case("compare: eta 2", "/compare", dict(COMPARE, eta=2)),
        Case("compare: guidance as text", "/compare", dict(COMPARE, guidance_scale="x")),
        Case("compare_samplers: one sampler as a string", "/compare_samplers", dict(SAMPLERS, samplers="DDIM")),
        Case("compare_samplers: samplers as a number", "/compare_samplers", dict(SAMPLERS, samplers=5)),
        Case("compare_samplers: a sampler as an object", "/compare_samplers",
             dict(SAMPLERS, samplers=[{"a": 1}, "DDIM"])),
        Case("compare_samplers: unknown sampler", "/compare_samplers", dict(SAMPLERS, samplers=["DDIM", "evil"])),
        Case("compare_samplers: calls 0", "/compare_samplers", dict(SAMPLERS, calls=0)),
        Case("quality: text upload", "/quality", dict(checkpoint="bundled", upload=up("text"))),
        Case("quality plot: unknown checkpoint", "/quality_plot", dict(checkpoint="nope", upload=None)),
        Case("diagnose: unknown mode", "/diagnose", dict(DIAGNOSE, mode="evil")),
        Case("diagnose: mode as a list", "/diagnose", dict(DIAGNOSE, mode=["quick"])),
        Case("diagnose: seed as text", "/diagnose", dict(DIAGNOSE, seed="x")),
        Case("diagnose: eta in full mode", "/diagnose", dict(DIAGNOSE, mode="full", eta=0.5)),
        Case("diagnose: guidance 100", "/diagnose", dict(DIAGNOSE, guidance_scale=100)),
        Case("diagnose: pickle upload", "/diagnose", dict(DIAGNOSE, upload=up("pickle"))),
        Case("train: steps -1", "/train_start", dict(TRAIN, steps=-1)),
        Case("train: lr as text", "/train_start", dict(TRAIN, lr="fast")),
        Case("train: unknown preset", "/train_start", dict(TRAIN, preset="huge")),
        Case("train: preset as a list", "/train_start", dict(TRAIN, preset=["tiny"])),
        Case("train: image size 7", "/train_start", dict(TRAIN, image_size=7)),
        Case("train: T = 5", "/train_start", dict(TRAIN, T=5)),
        Case("train: batch 10^6", "/train_start", dict(TRAIN, batch_size=10**6)),
        Case("train: unknown data", "/train_start", dict(TRAIN, data="/etc")),
        Case("train: zip without a file", "/train_start", dict(TRAIN, data="zip")),
        Case("train: stop with nothing running", "/train_stop", {}),
        Case("train: resume an unknown run", "/train_resume", dict(run="nope")),
        Case("train: resume a traversal run id", "/train_resume", dict(run="../../etc")),
        Case("train: resume a run id of 10 MB", "/train_resume", dict(run="r" * BIG)),
        Case("train: data of 10 MB", "/train_start", dict(TRAIN, data="d" * BIG)),
        # ------------------------------------------------------ requests missing values, or not JSON lists
        Case("sample: 3 of its 12 values", "/sample", pos("/sample", SAMPLE)[:3], raw=True),
        Case("sample: no values at all", "/sample", [], raw=True),
        Case("compare: 1 of its 9 values", "/compare", ["bundled"], raw=True),
        Case("diagnose: 2 of its 8 values", "/diagnose", ["bundled", None], raw=True),
        Case("train: 4 of its 17 values", "/train_start", pos("/train_start", TRAIN)[:4], raw=True),
        Case("train_resume: 1 of its 2 values", "/train_resume", [None], raw=True),
        Case("sample: data is an object", "/sample", {"steps": 5}, raw=True),
        Case("sample: data is a string", "/sample", "bundled", raw=True),
        Case("sample: 14 values (2 extra)", "/sample", pos("/sample", dict(SAMPLE, steps=0)) + [1, 2], raw=True),
        Case("sample: a body that is not JSON", "/sample", None, raw=True, body=b"not json"),
        Case("sample: a body 100,000 lists deep", "/sample", None, raw=True,
             body=b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        Case("sample: a value 50,000 objects deep", "/sample", None, raw=True,
             body=b'{"data": ["bundled", ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_000 + b"]}"),
        Case("sample: classes 900 lists deep", "/sample", pos("/sample", dict(SAMPLE, classes=json.loads(
            "[" * 900 + "1" + "]" * 900))), raw=True),
        Case("sample: n 900 lists deep", "/sample", pos("/sample", dict(SAMPLE, n=json.loads(
            "[" * 900 + "1" + "]" * 900))), raw=True),
        # --------------------------------------------------------------------------- uploads that are files
        Case("sample: pickle upload", "/sample", dict(SAMPLE, upload=up("pickle"))),
        Case("sample: text upload", "/sample", dict(SAMPLE, upload=up("text"))),
        Case("sample: empty upload", "/sample", dict(SAMPLE, upload=up("empty"))),
        Case("sample: bad header upload", "/sample", dict(SAMPLE, upload=up("bad_meta"))),
        Case("sample: truncated upload", "/sample", dict(SAMPLE, upload=up("truncated"))),
        Case("train: not a zip", "/train_start", dict(TRAIN, data="zip", zip_file=up("not_zip"))),
        Case("train: traversal zip", "/train_start", dict(TRAIN, data="zip", zip_file=up("traversal_zip"))),
        Case("train: zip without images", "/train_start", dict(TRAIN, data="zip", zip_file=up("empty_zip"))),
        Case("diagnose: a reference that is not a zip", "/diagnose", dict(DIAGNOSE, reference=up("text"))),
        # ---------------------------------------------------------------- checkpoint headers and weights
        Case("sample: header version a string", "/sample", dict(SAMPLE, upload=up("version_str"))),
        Case("sample: header version a list", "/sample", dict(SAMPLE, upload=up("version_list"))),
        Case("sample: header version of 5,000 digits", "/sample", dict(SAMPLE, upload=up("version_huge"))),
        Case("sample: header a JSON list", "/sample", dict(SAMPLE, upload=up("header_list"))),
        Case("sample: header a JSON string", "/sample", dict(SAMPLE, upload=up("header_string"))),
        Case("sample: header 200,000 arrays deep", "/sample", dict(SAMPLE, upload=up("header_deep"))),
        Case("sample: header 100,000 objects deep", "/sample", dict(SAMPLE, upload=up("header_deep_obj"))),
        Case("diagnose: header 200,000 deep", "/diagnose", dict(DIAGNOSE, upload=up("header_deep"))),
        Case("quality plot: header a JSON list (only its hash is read)", "/quality_plot",
             dict(checkpoint="bundled", upload=up("header_list")), expect="answered"),
        Case("sample: header format of 1 MB", "/sample", dict(SAMPLE, upload=up("format_big"))),
        Case("sample: header model config a list", "/sample", dict(SAMPLE, upload=up("model_list"))),
        Case("sample: header data a string", "/sample", dict(SAMPLE, upload=up("data_str"))),
        Case("sample: header train a list", "/sample", dict(SAMPLE, upload=up("train_list"))),
        Case("sample: header class names an object", "/sample", dict(SAMPLE, upload=up("names_dict"))),
        Case("sample: header dropout NaN", "/sample", dict(SAMPLE, upload=up("dropout_nan"))),
        Case("sample: header T = 1000.5", "/sample", dict(SAMPLE, upload=up("T_float"))),
        Case("sample: header schedule of 10 MB", "/sample", dict(SAMPLE, upload=up("schedule_big"))),
        Case("sample: every weight NaN", "/sample", dict(SAMPLE, upload=up("nan_all"))),
        Case("compare: one tensor infinite", "/compare", dict(COMPARE, upload=up("inf_one"))),
        Case("diagnose: every weight NaN", "/diagnose", dict(DIAGNOSE, upload=up("nan_all"))),
        Case("sample: diffusers zip with NaN weights", "/sample", dict(SAMPLE, upload=up("diffusers_nan"))),
        Case("sample: diffusers model_index 200,000 deep", "/sample", dict(SAMPLE, upload=up("diffusers_deep"))),
        Case("sample: diffusers model_index a list", "/sample", dict(SAMPLE, upload=up("diffusers_list"))),
        Case("sample: attention at a large resolution", "/sample",
             dict(SAMPLE, upload=up("attention"), steps=1, n=1)),
        # valid requests the app once failed on: answered, and answered safely
        Case("sample: DDIM with 1 step (the slider's minimum)", "/sample", dict(SAMPLE, steps=1), expect="answered",
             check=_images),
        Case("sample: class names holding markup", "/sample",
             dict(SAMPLE, upload=up("markup_names"), classes=["<script>alert(1)</script>", "<b>4</b>"], steps=1,
                  n=2),
             expect="answered", check=_no_markup),
        # ------------------------------------------------------------------------- image and zip bombs
        Case("train: zip with one huge PNG", "/train_start", dict(TRAIN, data="zip", zip_file=up("png_bomb"))),
        Case("diagnose: reference with one huge PNG", "/diagnose", dict(DIAGNOSE, reference=up("png_bomb"))),
        Case("train: zip whose PNG header claims 10^10 pixels", "/train_start",
             dict(TRAIN, data="zip", zip_file=up("png_header_lie"))),
        Case("train: zip declaring 12 GB unpacked", "/train_start",
             dict(TRAIN, data="zip", zip_file=up("declared_huge"))),
        Case("diagnose: reference declaring 12 GB unpacked", "/diagnose",
             dict(DIAGNOSE, reference=up("declared_huge"))),
        Case("train: zip member of ratio over 1000:1", "/train_start",
             dict(TRAIN, data="zip", zip_file=up("ratio_bomb"))),
        Case("sample: ratio bomb as a diffusers zip", "/sample", dict(SAMPLE, upload=up("ratio_bomb"))),
        # ---------------------------------------------------- uploads given as paths: gradio's own check
        Case("sample: upload given as a server path", "/sample", dict(SAMPLE, upload="/etc/hostname")),
        Case("sample: upload as a server file's FileData", "/sample",
             dict(SAMPLE, upload=_fd("/etc/hostname"))),
        Case("train: zip given as a server path", "/train_start", dict(TRAIN, data="zip", zip_file="/etc/hostname")),
        Case("sample: upload given as a URL string", "/sample", dict(SAMPLE, upload="http://example.com/m.zip")),
    ]
    # -------------------------------------- FileData a script can post: folders, URLs, no file, in every slot
    kinds = [("the upload folder itself", _fd(upload_root)),
             ("a URL (never fetched)", _fd("http://example.com/model.safetensors")),
             ("a file that is not there", _fd(missing))]
    more = {"/sample": [("an upload's own folder", _fd(upload_hash_dir)),
                        ("a URL on this host", _fd(sender.url + "favicon.ico")),
                        ("FileData whose meta is a string", {"path": server_file, "meta": "gradio.FileData"}),
                        ("a file:// URL", _fd("file:///etc/passwd")), ("a data: URL", _fd("data:,hello")),
                        ("the upload folder with ..", _fd(upload_hash_dir + "/..")),
                        ("a path with a NUL byte", _fd(upload_hash_dir + "/a\0b")),
                        ("a path of 10,000 characters", _fd(upload_hash_dir + "/" + "a" * 10_000)),
                        ("FileData whose path is a number", _fd(5)),
                        ("FileData with no path", {"meta": {"_type": "gradio.FileData"}}),
                        ("two files", [_fd(server_file), _fd(server_file)]),
                        ("a number", 7)],
            "reference": [("an upload's own folder", _fd(upload_hash_dir)), ("a file:// URL", _fd("file:///etc"))],
            "zip_file": [("an upload's own folder", _fd(upload_hash_dir))]}
    for api, base, slot in SLOTS:
        extra = more.get(api if slot == "upload" else slot, []) if (api, slot) != ("/train_resume", "zip_file") else []
        for what, value in kinds + extra:
            out.append(Case(f"{api.strip('/')}: {slot} is {what}", api, pos(api, dict(base, **{slot: value})),
                            raw=True))
    return out


# ---------------------------------------------------------------------------------------------- judging
def tracebacks(log_text: str) -> int:
    return log_text.count("Traceback (most recent call last)")


def leaks_path(message: str, server_paths: list[str]) -> bool:
    return any(p and p in message for p in server_paths)


GENERIC = "upstream Gradio app has raised an exception"


def judge(case: Case, refused: bool, message: str, reply: Any, seconds: float, growth: Optional[float],
          lines: list[str], server_paths: list[str], max_seconds: float, max_growth_mb: float) -> str:
    """Why this outcome is bad, or ""."""
    problems = []
    if case.expect == "refused" and not refused:
        problems.append("accepted" if not message.startswith("no reply") else message)
    if case.expect == "answered":
        if refused:
            problems.append("refused a valid request")
        elif case.check is not None:
            problems.append(case.check(reply))
    if refused and leaks_path(message, server_paths):    # (a reply's own files are served from the upload folder)
        problems.append("shows a server path")
    if len(message) > MAX_ECHO:
        problems.append(f"a {len(message):,}-character reply (echoes what it was sent)")
    if refused and GENERIC in message:
        problems.append("gradio's bare error, not a message")
    if tracebacks("\n".join(lines)):
        problems.append("a traceback in the log")
    if refused and seconds > max_seconds:
        problems.append(f"{seconds:.1f} s to refuse")
    if refused and growth is not None and growth > max_growth_mb:
        problems.append(f"memory grew {growth:.0f} MB")
    return "; ".join(p for p in problems if p)


def run(url: str, scratch: Path, pid: Optional[int] = None, log: Optional[Path] = None, only: str = "",
        timeout: float = 120, max_seconds: float = 5, max_growth_mb: float = 300, bomb_side: int = 12_000,
        bomb_mb: int = 300, attention_size: int = 1024, echo: Optional[Callable[[Outcome], None]] = None
        ) -> list[Outcome]:
    """Send every case (those whose name contains `only`) one after another; their outcomes."""
    files = make_files(scratch, bomb_side, bomb_mb, attention_size)
    sender = Sender(url, timeout)
    watch = Watch(pid, Path(log) if log else None)
    server_paths = [str(ROOT), str(scratch), tempfile.gettempdir() + "/"]
    out = []
    try:
        for case in cases(files, sender):
            if only and only not in case.name:
                continue
            watch.start()
            t0 = time.monotonic()
            refused, message, reply = sender.send(case)
            seconds = time.monotonic() - t0
            growth, lines = watch.stop()
            problem = judge(case, refused, message, reply, seconds, growth, lines, server_paths, max_seconds,
                            max_growth_mb)
            o = Outcome(case.name, case.api, refused, message, round(seconds, 3),
                        None if growth is None else round(growth, 1), lines, case.expect, case.pending, problem)
            out.append(o)
            if echo:
                echo(o)
    finally:
        try:
            sender._raw("/train_stop", [])          # a training a case started by mistake must not go on
        finally:
            sender.close()
    return out


def send_all(url: str, scratch: Path, **kwargs) -> list[Outcome]:
    """run() without a server process or log to watch (tests/test_trust.py)."""
    return run(url, scratch, **kwargs)


def line(o: Outcome) -> str:
    mem = "" if o.growth_mb is None else f" {o.growth_mb:5.0f} MB"
    tag = "ok " if o.ok else ("BAD" if not o.pending else "PND")
    detail = o.problem if o.problem else o.message.replace("\n", " ")
    logged = f" [{len(o.log_lines)} log line{'s' * (len(o.log_lines) != 1)}]" if o.log_lines else ""
    return f"{tag} {o.seconds:5.2f} s{mem} {o.name}: {detail[:150]}{logged}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/hostile_requests.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--log", help="the server's log file (stdout + stderr): the lines each request left there")
    parser.add_argument("--pid", type=int, help="the app's process (default: the one listening on the URL's port)")
    parser.add_argument("--only", default="", help="send only the cases whose name contains this")
    parser.add_argument("--json", help="write every outcome here")
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for one reply")
    parser.add_argument("--max-seconds", type=float, default=5, help="a refusal may take at most this long")
    parser.add_argument("--max-growth-mb", type=float, default=300, help="... and grow the app's memory this much")
    parser.add_argument("--bomb-side", type=int, default=12_000, help="side of the PNG bomb (pixels)")
    parser.add_argument("--bomb-mb", type=int, default=300, help="unpacked size of the high-ratio zip member")
    parser.add_argument("--attention-size", type=int, default=1024, help="resolution of the attention checkpoint")
    args = parser.parse_args(argv)
    pid = args.pid
    if pid is None:
        from urllib.parse import urlparse
        pid = find_pid(urlparse(args.url).port or 80)
    if pid is None:
        print("(no process found listening on that port: memory is not measured; give --pid)")
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = run(args.url, Path(tmp), pid, args.log, args.only, args.timeout, args.max_seconds,
                       args.max_growth_mb, args.bomb_side, args.bomb_mb, args.attention_size,
                       echo=lambda o: print(line(o), flush=True))
    bad = [o for o in outcomes if not o.ok]
    pending = [o for o in bad if o.pending]
    refused = [o for o in outcomes if o.refused and o.expect == "refused"]
    print(f"{len(outcomes)} requests: {sum(o.refused for o in outcomes)} refused, "
          f"{sum(not o.refused for o in outcomes)} answered; {len(bad)} not as expected ({len(pending)} of them "
          f"pending other fixes); {sum(tracebacks(chr(10).join(o.log_lines)) for o in outcomes)} tracebacks"
          + ("" if args.log else " (no --log given)"))
    if refused:
        slowest = max(refused, key=lambda o: o.seconds)
        grown = [o for o in refused if o.growth_mb is not None]
        print(f"slowest refusal {slowest.seconds:.2f} s ({slowest.name})"
              + (f"; largest memory growth {max(o.growth_mb for o in grown):.0f} MB "
                 f"({max(grown, key=lambda o: o.growth_mb).name})" if grown else ""))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(o) for o in outcomes], indent=1, ensure_ascii=False))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
