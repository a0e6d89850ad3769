"""Malformed requests (issue 22): every one gets its own one-line message, never a traceback; an upload is only a
file a user uploaded; a message quotes at most ~200 characters of what was sent; names users supply are escaped
wherever they reach HTML or Markdown.

The handler-level tests call the app's code directly; the last one starts `python app.py` and sends it every
request of tools/hostile_requests.py (at the sizes a hostile user would pick: a 12000×12000 PNG, a zip declaring
12 GB, an attention layer over 1024×1024 positions, 10 MB values), with the app's log and memory watched.
"""
from __future__ import annotations

import asyncio
import html
import json
import os
import re
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import gradio as gr
import pytest
import torch

from ddpm import CheckpointError, DiffusionConfig, UNet, preset_config, save_checkpoint
from ddpm.formats.base import QUOTE_LIMIT, clip
from demo import common as c, i18n
from demo.tabs import compare, diagnose, sample, train
from tools import hostile_files, hostile_requests

BIG = "x" * 10_000_000
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module", autouse=True)
def restore_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def app_env(tmp_path, monkeypatch, write_tiny_checkpoint):
    """The bundled checkpoint is a tiny one; gradio's upload folder is tmp/gradio."""
    monkeypatch.setenv("DDPM_WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(write_tiny_checkpoint(tmp_path / "tiny.safetensors")))
    monkeypatch.setenv("DDPM_WORKBENCH_BENCH", str(tmp_path / "no_bench.json"))
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    (tmp_path / "gradio").mkdir()
    return tmp_path


def refusal(fn, *args) -> str:
    with pytest.raises(gr.Error) as e:
        fn(*args)
    return str(e.value.message)


# --------------------------------------------------------------------------------------------- uploads
def test_an_upload_that_is_a_file_is_taken_and_one_that_is_gone_is_left_to_the_size_check(app_env):
    f = app_env / "gradio" / "abc" / "model.safetensors"
    f.parent.mkdir()
    f.write_bytes(b"x")
    for value in (str(f), {"path": str(f), "meta": {"_type": "gradio.FileData"}}, [str(f)], f):
        assert c.upload_path(value) == f
    assert c.upload_path(None) is None and c.upload_path("") is None and c.upload_path([]) is None
    gone = app_env / "gradio" / "abc" / "deleted.zip"
    assert c.upload_path(str(gone)) == gone
    assert "is no longer on the server" in refusal(c.check_upload_size, gone, "upload.what_zip")


def _fifo(tmp: Path) -> str:
    os.mkfifo(tmp / "pipe")
    return str(tmp / "pipe")


def _link(tmp: Path) -> str:
    (tmp / "target.zip").write_bytes(b"PK")
    (tmp / "link.zip").symlink_to(tmp / "target.zip")
    return str(tmp / "link.zip")


UPLOADS = {   # what an API caller can send as an upload -> words of its refusal
    "gradio's upload folder itself": (lambda tmp: {"path": str(tmp / "gradio"), "meta": {}}, "is a folder"),
    "the upload folder as a plain path": (lambda tmp: str(tmp / "gradio") + "/", "is a folder"),
    "a folder inside it": (lambda tmp: (tmp / "gradio" / "h").mkdir() or str(tmp / "gradio" / "h"), "is a folder"),
    "an http URL": (lambda tmp: "http://example.com/model.safetensors", "not a URL"),
    "an https URL in FileData": (lambda tmp: {"path": "https://example.com/a.zip"}, "not a URL"),
    "a file:// URL": (lambda tmp: "file:///etc/passwd", "not a URL"),
    "a data: URL": (lambda tmp: "data:,hello", "not a URL"),
    "a pipe": (_fifo, "not a regular file"),
    "a symbolic link": (_link, "not a regular file"),
    "a device": (lambda tmp: "/dev/zero", "not a regular file"),
    "a path with a NUL byte": (lambda tmp: str(tmp) + "/a\0b", "is not a file name"),
    "a path of 10,000 characters": (lambda tmp: str(tmp) + "/" + "a" * 10_000, "is not a file name"),
    "a name of 300 characters": (lambda tmp: str(tmp) + "/" + "a" * 300, "is not a file name"),
    "a number": (lambda tmp: 5, "must be a file"),
    "FileData whose path is a list": (lambda tmp: {"path": ["/etc/passwd"]}, "must be a file"),
    "a blank path": (lambda tmp: "   ", "must be a file"),
}


@pytest.mark.parametrize("case", list(UPLOADS))
def test_only_a_regular_file_someone_uploaded_is_taken(app_env, case):
    make, words = UPLOADS[case]
    value = make(app_env)
    msg = refusal(c.upload_path, value)
    assert words in msg and str(app_env) not in msg and len(msg) < 400, msg
    with i18n.use("zh"):
        assert CJK.search(refusal(c.upload_path, value))


@pytest.mark.parametrize("handler, args", [
    (sample.sample, ("bundled", "SLOT")),
    (compare.compare, ("bundled", "SLOT")),
    (compare.quality_plot, ("bundled", "SLOT")),
    (diagnose.diagnose, ("bundled", None, "quick", 0, "SLOT")),       # the Diagnostics reference
    (diagnose.diagnose, ("bundled", "SLOT")),
])
def test_every_handler_that_takes_an_upload_refuses_the_upload_folder(app_env, handler, args):
    """The audit's case: /diagnose with its reference set to gradio's upload folder read every image every user had
    uploaded or generated (129 of them, as 129 classes)."""
    folder = {"path": str(app_env / "gradio"), "meta": {"_type": "gradio.FileData"}}
    msg = refusal(handler, *[folder if a == "SLOT" else a for a in args])
    assert msg == "'gradio' is a folder, not an uploaded file; upload one file (a .safetensors checkpoint, or a .zip)"


def test_an_uploaded_checkpoint_s_data_set_is_read_only_when_the_app_ships_it(app_env):
    """A header's data source is the uploader's: a path there (the upload folder) would be read as the report's data."""
    ckpt = c.load_model("bundled")
    data = {"name": "x", "source": str(app_env / "gradio"), "image_size": 8, "channels": 1}
    stolen = diagnose._shipped_data_only(replace(ckpt, meta={**ckpt.meta, "data": data}))
    assert stolen.meta["data"] == {"image_size": 8, "channels": 1}
    from diagnostics.report import load_real_data
    assert load_real_data(stolen)[0] is None                         # "give a reference set" instead
    for shipped in ("digits", "mnist"):
        kept = replace(ckpt, meta={**ckpt.meta, "data": {"source": shipped}})
        assert diagnose._shipped_data_only(kept) is kept


# ------------------------------------------------------------------------------ requests gradio refused
def _one_file_app(tmp: Path):
    demo = gr.Blocks()
    with demo:
        f, n, out = gr.File(), gr.Number(), gr.Textbox()
        gr.Button().click(lambda upload, k: "ran", [f, n], out, api_name="take", preprocess=False)
    c.refuse_malformed_requests(demo)
    return demo, demo.fns[0] if isinstance(demo.fns, list) else next(iter(demo.fns.values()))


def test_fewer_values_than_the_endpoint_takes_is_a_message_naming_the_missing(app_env):
    demo, fn = _one_file_app(app_env)
    with pytest.raises(gr.Error) as e:
        asyncio.run(demo.preprocess_data(fn, [None], None))
    assert str(e.value.message).startswith("/take takes 2 values and this request sent 1; missing: k.")


def test_a_url_given_as_a_file_is_refused_before_gradio_fetches_it(app_env, monkeypatch):
    from gradio import processing_utils
    fetched = []

    async def fetch(url, *args, **kwargs):
        fetched.append(url)
        raise AssertionError("fetched")
    monkeypatch.setattr(processing_utils, "async_ssrf_protected_download", fetch)
    demo, fn = _one_file_app(app_env)
    for url in ("http://127.0.0.1:1/x.zip", "https://example.com/" + "a" * 10_000):
        with pytest.raises(gr.Error) as e:
            asyncio.run(demo.preprocess_data(fn, [{"path": url, "meta": {"_type": "gradio.FileData"}}, 1], None))
        assert "not a URL" in str(e.value.message) and len(str(e.value.message)) < 400
    assert fetched == []
    for bad in ({"path": "x", "meta": "gradio.FileData"}, {"path": 5, "meta": {"_type": "gradio.FileData"}},
                "/etc/hostname", {"path": str(app_env) + "/a\0b", "meta": {"_type": "gradio.FileData"}}):
        with pytest.raises(gr.Error, match="not one uploaded to this server"):
            asyncio.run(demo.preprocess_data(fn, [bad, 1], None))


# ---------------------------------------------------------------------------------- quoting what was sent
def test_clip_quotes_at_most_200_characters():
    assert clip("abc") == "abc" and clip(5) == 5 and clip([1, 2]) == [1, 2]
    assert len(clip(BIG)) == QUOTE_LIMIT + 1 and clip(BIG).endswith("…")
    assert len(clip(list(range(10**5)))) == QUOTE_LIMIT + 1
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert clip(deep) == "(list)…"                       # its repr would recurse out


@pytest.mark.parametrize("call", [
    lambda: c.number("name.steps", "9" * 10_000_000, 1, 10),
    lambda: c.number("name.steps", BIG, 1, 10),
    lambda: c.choice("name.preset", BIG, ("tiny", "small")),
    lambda: c.choice("name.preset", [BIG], ("tiny", "small")),
    lambda: c.parse_classes(BIG, c.load_model("bundled")),
    lambda: sample.sampler_name(BIG),
    lambda: diagnose.diagnose("bundled", None, BIG),
    lambda: c.checkpoint_path(BIG),
    lambda: c.upload_path("http://" + BIG),
    lambda: compare.compare_samplers("bundled", None, None, 1.0, ["DDIM", BIG]),
    lambda: train.train_start(data=BIG),
    lambda: train.train_resume(BIG),
])
def test_a_10_mb_value_comes_back_as_at_most_200_characters(app_env, call):
    with pytest.raises(gr.Error) as e:
        call()
    assert len(str(e.value.message)) < 500, len(str(e.value.message))


def _reference_zip(path: Path, per_class: int = 6) -> Path:
    """A reference set upload: 8×8 grey PNGs in two class folders."""
    import io
    import numpy as np
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as zf:
        for name in ("a", "b"):
            for i in range(per_class):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(buf, format="PNG")
                zf.writestr(f"{name}/{i}.png", buf.getvalue())
    return path


def test_a_reference_s_report_names_its_file_never_its_server_path(tmp_path, write_tiny_checkpoint):
    """diagnostics.reference records a reference read from a path by its file name, so the report of an upload (the
    HTML and JSON its user sees) never shows where the server keeps it; a built-in's name or a Hub id stays as is."""
    from ddpm.checkpoint import load_checkpoint
    from diagnostics import run_report
    from diagnostics.reference import load_reference, source_name
    folder = tmp_path / "server" / "gradio" / "4f1c0d"                 # where gradio keeps an upload
    upload = _reference_zip(folder / "my refs.zip")
    ck = load_checkpoint(write_tiny_checkpoint(tmp_path / "tiny.safetensors"))
    ck = replace(ck, meta={**ck.meta, "data": {}})      # a model that records no data set: the reference stands in
    for source in (str(upload), upload):
        assert load_reference(source, ck)[1]["source"] == "my refs.zip"
    assert source_name(str(folder) + "/") == "4f1c0d" and source_name(f"hf:{folder}:train") == "hf:4f1c0d:train"
    assert source_name("digits") == "digits" and source_name("hf:ylecun/mnist:train") == "hf:ylecun/mnist:train"
    files = run_report(ck, tmp_path / "report", quick=True, n=6, steps=5, reference=str(upload))
    report = json.loads(files.json_path.read_text(encoding="utf-8"))
    assert report["model"]["data_source"] is None and report["model"]["reference"] == "my refs", report["model"]
    for shown in (files.html_path, files.json_path):
        text = shown.read_text(encoding="utf-8")
        assert str(folder) not in text and html.escape(str(folder)) not in text, shown.name


def test_values_of_the_wrong_type_are_refused_not_raised(app_env):
    assert "unknown sampler" in refusal(compare.compare_samplers, "bundled", None, None, 1.0, 5)
    assert "unknown sampler" in refusal(compare.compare_samplers, "bundled", None, None, 1.0, [{"a": 1}, "DDIM"])
    assert "is not one of this model's 10 classes" in refusal(sample.sample, "bundled", None, 1.5)
    assert "unknown preset" in refusal(c.choice, "name.preset", {"a": 1}, {"tiny": 1})


# ------------------------------------------------------------------------- DDIM with one step, frames
def test_ddim_with_one_step_samples_and_its_frame_slider_builds(app_env):
    v = sample.sample("bundled", None, [], 1.0, "DDIM", 1, 0.0, 1.0, 1.0, 0, 2)
    assert v.grid is not None and len(v.frames["t"]) == 1
    props = {k: val for k, val in v.frame.items() if k != "__type__"}
    gr.Slider(**props)                       # what gradio does with the update: minimum < maximum, or ValueError
    assert props["interactive"] is False
    for index in ("abc", None, float("nan"), "inf", -5, [1]):
        assert sample.show_frame(v.frames, index).xt["value"] is not None


# ------------------------------------------------------------------------------------- markup in names
MARKUP = ["<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "a&b", "3"]


def test_class_names_and_file_names_with_markup_reach_the_page_escaped(app_env):
    torch.manual_seed(0)
    model = UNet(preset_config("tiny", image_size=8, base_channels=16, num_classes=len(MARKUP)))
    up = app_env / "gradio" / "<b>up.safetensors"
    save_checkpoint(up, model=model, ema_model=None, diffusion_config=DiffusionConfig(T=100), class_names=MARKUP,
                    step=0)
    v = sample.sample("bundled", str(up), MARKUP[:2], 1.0, "DDIM", 1, 0.0, 1.0, 1.0, 0, 2)
    assert "<script" not in v.info and "<img" not in v.info and "<b>" not in v.info, v.info
    assert html.escape(MARKUP[0], quote=False) in v.info and "&lt;b&gt;up.safetensors" in v.info


def test_the_report_s_markdown_and_figures_escape_names():
    from diagnostics.plots import diversity_figure
    from diagnostics.render import _md_cell, _md_text
    assert _md_text("<img src=x onerror=alert(1)> & t > 0") == "&lt;img src=x onerror=alert(1)> &amp; t > 0"
    assert _md_cell("<b>|</b>") == "&lt;b>\\|&lt;/b>"
    fig = diversity_figure({"per_class": [{"class": c, "real_pairwise_rms": 1.0, "generated_pairwise_rms": 1.0}
                                          for c in MARKUP]})
    assert list(fig.data[0].x) == [html.escape(c, quote=False) for c in MARKUP]


# ------------------------------------------------------------------------------------ messages in 中文
def test_the_new_core_messages_have_their_chinese(tmp_path):
    from ddpm import load_checkpoint
    from ddpm.formats.limits import check_finite
    msgs = []
    for i, raw in enumerate(("[1]", "[" * 100_000 + "]" * 100_000, '{"format": "ddpm-workbench", "version": "1"}',
                             '{"format": "ddpm-workbench", "data": 5}')):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(hostile_files.header(tmp_path / f"h{i}.safetensors", raw))
        msgs.append(e.value)
    with pytest.raises(CheckpointError) as e:
        check_finite({"w": torch.tensor([float("nan")])}, "m.safetensors")
    msgs.append(e.value)
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        z.writestr("model_index.json", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "d.zip")
    msgs.append(e.value)
    for m in msgs:
        zh = i18n.show(m, "zh")
        assert CJK.search(zh) and not zh.startswith("出错了"), (m, zh)       # a pattern of its own, not the fallback


# ------------------------------------------------------------------------------- through a real server
@pytest.mark.slow
def test_every_hostile_request_gets_its_own_message_fast_and_cheaply(tmp_path_factory, app_server):
    """tools/hostile_requests.py against `python app.py`: 0 tracebacks; each refusal its own message (never gradio's
    bare error), no server path, one log line, under 5 s and 300 MB of the app's peak memory; the valid requests
    among them answered, markup escaped. The bombs are full size: their caps read the sizes they declare."""
    tmp = tmp_path_factory.mktemp("hostile")
    with app_server(tmp, {"DDPM_WORKBENCH_CHECKPOINT": str(hostile_requests.BUNDLED)}) as url:
        from urllib.parse import urlparse
        pid = hostile_requests.find_pid(urlparse(url).port)
        log = tmp / "app.log"
        mark = len(log.read_bytes())
        t0 = time.monotonic()
        outcomes = hostile_requests.run(url, tmp_path_factory.mktemp("files"), pid=pid, log=log)
        seconds = time.monotonic() - t0
        new = log.read_bytes()[mark:].decode(errors="replace")
    assert pid is not None and len(outcomes) >= 120
    assert hostile_requests.tracebacks(new) == 0, new[-4000:]
    bad = [(o.name, o.problem, o.message[:200]) for o in outcomes if not o.ok and not o.pending]
    assert not bad, json.dumps(bad, indent=1, ensure_ascii=False)
    pending = [(o.name, o.pending, o.problem) for o in outcomes if not o.ok and o.pending]   # fixed elsewhere: shown
    refused = [o for o in outcomes if o.expect == "refused" and o.refused]
    assert all(o.seconds < 5 and o.growth_mb is not None and o.growth_mb < 300 for o in refused)
    # one log line each, except what FastAPI refuses before gradio sees it (a body that is not JSON: HTTP 4xx)
    lines = {o.name: sum(" refused " in ln for ln in o.log_lines) for o in refused if not o.message.startswith("HTTP")}
    assert set(lines.values()) == {1}, {k: v for k, v in lines.items() if v != 1}
    print(f"{len(outcomes)} hostile requests in {seconds:.0f} s; slowest refusal "
          f"{max(o.seconds for o in refused):.2f} s; most memory {max(o.growth_mb for o in refused):.0f} MB; "
          f"pending fixes elsewhere: {pending or 'none'}")
