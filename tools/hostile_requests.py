"""Send the app the requests a hostile or careless user would, and count what the server log shows.

    python tools/hostile_requests.py http://127.0.0.1:7860/ --log app.log

Every request here is bad (out-of-range or wrong-type values, unknown names, traversal paths, files that are
not checkpoints or not zips). Each must come back as an error message that says what to do and shows no server
path, and the server log must hold no traceback. Prints one line per request and a summary; exits 1 if any
request was accepted, leaked a path or left a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

SAMPLE = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, sampler="DDIM", steps=5, eta=0.0,
              temperature=1.0, noise_temperature=1.0, seed=0, n=4)
COMPARE = dict(checkpoint="bundled", upload=None, classes=[], guidance_scale=1.0, steps=5, eta=0.0, seed=0, n=2)
TRAIN = dict(data="digits", zip_file=None, preset="tiny", schedule="linear", objective="eps", weighting="simple",
             steps=10, batch_size=8, lr=1e-3, label_dropout=0.1, sample_every=0, image_size=8, base_channels=16,
             T=100)


@dataclass
class Outcome:
    name: str
    refused: bool        # the server answered with an error
    message: str


def _files(tmp: Path) -> dict[str, Path]:
    """Bad files: a pickle, text, an empty file, a truncated and a header-only safetensors, a zip bomb-ish
    zip, a zip with a traversal path, a zip with no images."""
    f = {}
    f["pickle"] = tmp / "model.safetensors.pt"
    f["pickle"].write_bytes(b"\x80\x04\x95" + os.urandom(64))
    f["text"] = tmp / "notes.safetensors"
    f["text"].write_text("this is not a checkpoint\n")
    f["empty"] = tmp / "empty.safetensors"
    f["empty"].write_bytes(b"")
    header = json.dumps({"__metadata__": {"ddpm": "{not json"}}).encode()
    f["bad_meta"] = tmp / "bad_meta.safetensors"
    f["bad_meta"].write_bytes(struct.pack("<Q", len(header)) + header)
    f["truncated"] = tmp / "truncated.safetensors"
    f["truncated"].write_bytes(struct.pack("<Q", 10_000) + b'{"a":')
    f["not_zip"] = tmp / "data.zip"
    f["not_zip"].write_bytes(b"PK\x03\x04 definitely not a zip")
    f["traversal_zip"] = tmp / "traversal.zip"
    with zipfile.ZipFile(f["traversal_zip"], "w") as z:
        z.writestr("../../evil/0.png", b"x")
        z.writestr("/abs/1.png", b"x")
    f["empty_zip"] = tmp / "noimages.zip"
    with zipfile.ZipFile(f["empty_zip"], "w") as z:
        z.writestr("readme.txt", "no images here")
    return f


def requests(files: dict[str, Path]) -> list[tuple[str, str, dict]]:
    """(name, api_name, arguments) of every bad request."""
    from gradio_client import handle_file
    up = lambda k: handle_file(str(files[k]))  # noqa: E731
    return [
        ("sample: steps not a number", "/sample", dict(SAMPLE, steps="abc")),
        ("sample: steps 0", "/sample", dict(SAMPLE, steps=0)),
        ("sample: n = -1", "/sample", dict(SAMPLE, n=-1)),
        ("sample: n = 10^9", "/sample", dict(SAMPLE, n=10**9)),
        ("sample: n = 2.5", "/sample", dict(SAMPLE, n=2.5)),
        ("sample: seed -5", "/sample", dict(SAMPLE, seed=-5)),
        ("sample: guidance 10^9", "/sample", dict(SAMPLE, guidance_scale=1e9)),
        ("sample: eta 5", "/sample", dict(SAMPLE, eta=5)),
        ("sample: temperature as text", "/sample", dict(SAMPLE, temperature="hot")),
        ("sample: unknown sampler", "/sample", dict(SAMPLE, sampler="evil")),
        ("sample: unknown class", "/sample", dict(SAMPLE, classes=["99"])),
        ("sample: classes as markup", "/sample", dict(SAMPLE, classes="<script>alert(1)</script>")),
        ("sample: traversal checkpoint", "/sample", dict(SAMPLE, checkpoint="../../../etc/passwd")),
        ("sample: absolute-path checkpoint", "/sample", dict(SAMPLE, checkpoint="/etc/passwd")),
        ("sample: checkpoint as a number", "/sample", dict(SAMPLE, checkpoint=12345)),
        ("sample: upload given as a server path", "/sample", dict(SAMPLE, upload="/etc/hostname")),
        ("sample: upload as a server file's FileData", "/sample",
         dict(SAMPLE, upload={"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}})),
        ("train: zip given as a server path", "/train_start", dict(TRAIN, data="zip", zip_file="/etc/hostname")),
        ("sample: pickle upload", "/sample", dict(SAMPLE, upload=up("pickle"))),
        ("sample: text upload", "/sample", dict(SAMPLE, upload=up("text"))),
        ("sample: empty upload", "/sample", dict(SAMPLE, upload=up("empty"))),
        ("sample: bad header upload", "/sample", dict(SAMPLE, upload=up("bad_meta"))),
        ("sample: truncated upload", "/sample", dict(SAMPLE, upload=up("truncated"))),
        ("compare: n = 1000", "/compare", dict(COMPARE, n=1000)),
        ("compare: steps -3", "/compare", dict(COMPARE, steps=-3)),
        ("compare: unknown checkpoint", "/compare", dict(COMPARE, checkpoint="nope")),
        ("quality: text upload", "/quality", dict(checkpoint="bundled", upload=up("text"))),
        ("quality plot: unknown checkpoint", "/quality_plot", dict(checkpoint="nope", upload=None)),
        ("diagnose: unknown mode", "/diagnose", dict(checkpoint="bundled", upload=None, mode="evil", seed=0)),
        ("diagnose: seed as text", "/diagnose", dict(checkpoint="bundled", upload=None, mode="quick", seed="x")),
        ("diagnose: pickle upload", "/diagnose", dict(checkpoint="bundled", upload=up("pickle"), mode="quick",
                                                      seed=0)),
        ("train: steps -1", "/train_start", dict(TRAIN, steps=-1)),
        ("train: lr as text", "/train_start", dict(TRAIN, lr="fast")),
        ("train: unknown preset", "/train_start", dict(TRAIN, preset="huge")),
        ("train: image size 7", "/train_start", dict(TRAIN, image_size=7)),
        ("train: T = 5", "/train_start", dict(TRAIN, T=5)),
        ("train: zip without a file", "/train_start", dict(TRAIN, data="zip")),
        ("train: not a zip", "/train_start", dict(TRAIN, data="zip", zip_file=up("not_zip"))),
        ("train: traversal zip", "/train_start", dict(TRAIN, data="zip", zip_file=up("traversal_zip"))),
        ("train: zip without images", "/train_start", dict(TRAIN, data="zip", zip_file=up("empty_zip"))),
        ("train: stop with nothing running", "/train_stop", {}),
    ]


def send_all(url: str, scratch: Path) -> list[Outcome]:
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    client = Client(url, verbose=False)
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    out = []
    for name, api, kwargs in requests(_files(scratch)):
        if api not in names:
            continue
        try:
            client.predict(**kwargs, api_name=api)
            out.append(Outcome(name, False, "accepted"))
        except AppError as e:
            out.append(Outcome(name, True, str(e)))
        except Exception as e:     # a client-side refusal (e.g. a value the API schema rejects) also counts
            out.append(Outcome(name, True, f"{type(e).__name__}: {e}"))
    client.close()
    return out


def tracebacks(log_text: str) -> int:
    return log_text.count("Traceback (most recent call last)")


def leaks_path(message: str, server_paths: list[str]) -> bool:
    return any(p and p in message for p in server_paths)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/hostile_requests.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--log", help="the server's log file (stdout + stderr), to count tracebacks in")
    args = parser.parse_args(argv)
    before = Path(args.log).read_text(errors="replace") if args.log else ""
    with tempfile.TemporaryDirectory() as tmp:
        outcomes = send_all(args.url, Path(tmp))
    after = Path(args.log).read_text(errors="replace") if args.log else ""
    paths = [str(Path(__file__).resolve().parents[1]), tempfile.gettempdir() + "/"]
    bad = 0
    for o in outcomes:
        leak = leaks_path(o.message, paths)
        bad += (not o.refused) + leak
        print(f"{'ok ' if o.refused and not leak else 'BAD'} {o.name}: {o.message[:150]}")
    n_tb = tracebacks(after[len(before):]) if args.log else 0
    print(f"{len(outcomes)} bad requests, {sum(o.refused for o in outcomes)} refused, "
          f"{n_tb} tracebacks in the server log" + ("" if args.log else " (no --log given)"))
    return 1 if bad or n_tb else 0


if __name__ == "__main__":
    sys.exit(main())
