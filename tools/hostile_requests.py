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
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:             # run as a script: the files are made with the project's own code
    sys.path.insert(0, str(ROOT))
from tools.hostile_files import BIG, BUNDLED, make_files  # noqa: E402,F401  (after the path is set)
from tools.hostile_server import Watch, find_pid  # noqa: E402,F401
from tools.hostile_client import Sender  # noqa: E402
SAMPLE = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, sampler="DDIM", steps=5, eta=0.0,
              temperature=1.0, noise_temperature=1.0, seed=0, n=4)
COMPARE = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, steps=5, eta=0.0, seed=0, n=2)
SAMPLERS = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, samplers=["DDIM", "UniPC"],
                calls=3, seed=0, n=2)
DIAGNOSE = dict(checkpoint="bundled", upload=None, mode="quick", seed=0)
TRAIN = dict(data="digits", zip_file=None, preset="tiny", schedule="linear", objective="eps", weighting="simple",
             steps=10, batch_size=8, lr=1e-3, label_dropout=0.1, sample_every=0, image_size=8, base_channels=16,
             T=100)
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
