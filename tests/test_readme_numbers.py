"""Documentation numbers come from bench/results: every `<!-- bench:NAME -->` block (README.md and docs/**/*.md)
equals the Markdown rendered from its JSON (bench/readme.py), a changed number in either is caught, and the tables
and prose ranges copied from a benchmark (docs/reference/benchmarks.md, docs/compare-samplers.md) are its JSON's."""
import json
import re
import shutil

import pytest

from bench import readme
from bench.common import RESULTS_DIR, ROOT

BENCHMARKS = ROOT / "docs" / "reference" / "benchmarks.md"      # the benchmark tables and the precision blocks
SAMPLERS = ROOT / "docs" / "compare-samplers.md"                # quality by network calls, both bundled models


def test_every_block_is_rendered_from_its_json():
    assert BENCHMARKS in readme.pages() and readme.README in readme.pages()
    text = BENCHMARKS.read_text(encoding="utf-8")
    names = [m.group("name") for m in readme.BLOCK.finditer(text)]
    assert {"amp", "amp_native_bf16"} <= set(names)
    assert readme.stale_blocks(text, page=BENCHMARKS) == [], "run `python -m bench.readme` after a benchmark"
    assert readme.main(["--check"]) == 0                    # every page, README.md included


def test_a_block_links_its_json_relative_to_its_page():
    assert "[`bench/results/amp.json`](../../bench/results/amp.json)" in readme.render("amp", page=BENCHMARKS)
    assert "[`bench/results/amp.json`](bench/results/amp.json)" in readme.render("amp", page=readme.README)


def test_a_number_changed_in_the_page_or_in_the_json_is_caught(tmp_path):
    text = BENCHMARKS.read_text(encoding="utf-8")
    body = readme.BLOCK.search(text.split("<!-- bench:amp_native_bf16 -->")[0] + "<!-- bench:amp_native_bf16 -->"
                               + text.split("<!-- bench:amp_native_bf16 -->")[1]).group("body")
    first_row = next(line for line in body.splitlines() if line.startswith("| fp32 |"))
    edited = first_row.replace("| fp32 |", "| fp32 | 9", 1)
    assert readme.stale_blocks(text.replace(first_row, edited, 1), page=BENCHMARKS) != []
    page = tmp_path / "page.md"                                 # --check on that page exits 1 and names the block
    page.write_text(text.replace(first_row, edited, 1), encoding="utf-8")
    assert readme.main(["--check", "--page", str(page)]) == 1
    results = tmp_path / "results"
    shutil.copytree(RESULTS_DIR, results, ignore=shutil.ignore_patterns("*.png", "quick", "tmp"))
    payload = json.loads((results / "amp_native_bf16.json").read_text())
    payload["tables"][0]["rows"][0][2] *= 1.5                      # the fp32 training speed
    (results / "amp_native_bf16.json").write_text(json.dumps(payload))
    assert readme.stale_blocks(text, results, BENCHMARKS) == ["amp_native_bf16"]
    assert readme.stale_blocks(readme.update(text, results, BENCHMARKS), results, BENCHMARKS) == []


def test_the_precision_decision_in_the_code_is_the_one_the_native_measurement_supports():
    """ddpm.device.CPU_AUTO_BF16 against bench/results/amp_native_bf16.json: bf16 to train only where it trained
    faster at equal quality; fp32 to sample, because bf16 images differ from fp32's by more than float32 round-off."""
    from ddpm.device import CPU_AUTO_BF16
    c = json.loads((RESULTS_DIR / "amp_native_bf16.json").read_text())["conclusion"]
    assert c["native_bf16"] is True
    assert CPU_AUTO_BF16["train"] == (c["bf16_train_speed_vs_fp32"] > 1.1 and c["training_quality_equal"])
    assert c["auto"] == {"train": "bf16" if CPU_AUTO_BF16["train"] else "fp32", "sample": "fp32"}
    assert CPU_AUTO_BF16["sample"] is False and c["max_abs_pixel_diff_bf16_vs_fp32"] > 1e-3


def test_the_precision_prose_quotes_its_json_in_order():
    """The sentences under the precision tables say what the two JSON files say: each figure, in the order
    written, is the JSON's value at the precision shown."""
    import re
    native = json.loads((RESULTS_DIR / "amp_native_bf16.json").read_text())
    other = json.loads((RESULTS_DIR / "amp.json").read_text())
    c = native["conclusion"]
    fid = lambda payload, part, prec: next(r["fid"] for r in payload[part] if r["precision"] == prec)
    want = [f"{c['bf16_train_speed_vs_fp32']:.2f}×", f"{c['bf16_train_tab_speed_vs_fp32']:.2f}×",
            f"{native['training'][0]['fid_floor']:.3f}", f"{other['conclusion']['bf16_train_speed_vs_fp32'] ** -1:.0f}×",
            f"{c['bf16_sample_speed_vs_fp32']:.2f}×", f"{c['bf16_sample_tab_speed_vs_fp32']:.2f}×",
            f"{c['max_abs_pixel_diff_bf16_vs_fp32']:.3f}", f"{fid(native, 'training', 'bf16'):.3f}",
            f"{fid(other, 'training', 'bf16'):.3f}", f"{fid(native, 'training', 'fp32'):.3f}",
            f"{c['channels_last_train_vs_contiguous_fp32']:.2f}×", f"{c['channels_last_forward_vs_contiguous_fp32']:.2f}×"]
    assert fid(native, "training", "fp32") == pytest.approx(fid(other, "training", "fp32"), abs=5e-4)  # "on both"
    text = BENCHMARKS.read_text(encoding="utf-8")
    prose = text[text.index("What `--amp auto` does on a CPU"):text.index("## Sampling speed")]
    numbers = re.findall(r"\d+\.\d+×?|\d+×", prose)
    it = iter(numbers)
    missing = [w for w in want if not any(n == w for n in it)]      # each in turn, in the written order
    assert missing == [], f"README prose lacks {missing}; it says {numbers}"


# ---- the quality-by-calls tables, cell by cell against bench/results/quality_vs_steps.json ------------------------
def _quality_rows(checkpoint_sha: str) -> list[dict]:
    payload = json.loads((RESULTS_DIR / "quality_vs_steps.json").read_text())
    return payload["by_checkpoint"][checkpoint_sha]["rows"]


def _find(rows, sampler, steps, eta=None, variance=None):
    hits = [r for r in rows if r["sampler"] == sampler and r["steps"] == steps
            and (eta is None or r.get("eta") == eta) and (variance is None or r.get("variance") == variance)]
    assert len(hits) == 1, (sampler, steps, eta, variance, len(hits))
    return hits[0]


def _table_after(text: str, heading: str) -> list[list[str]]:
    section = text[text.index(heading):]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    start = section.splitlines().index(lines[0])
    block = []
    for line in section.splitlines()[start:]:
        if not line.startswith("|"):
            break
        block.append([c.strip() for c in line.strip("|").split("|")])
    return block[2:]                                            # without the header and the |---| line


def test_the_mnist_quality_table_is_its_json_cell_by_cell():
    import re
    rows = _quality_rows("499d4776df9d9b79")
    text = SAMPLERS.read_text(encoding="utf-8")
    columns = [("ddim", 0.0), ("ddim", 0.5), ("dpmpp_2m", None), ("unipc", None)]
    checked = 0
    for cells in _table_after(text, "### The MNIST model (n = 200)"):
        calls = int(cells[0])
        if calls == 1000:
            r = _find(rows, "ddpm", 1000)
            assert cells[1] == f"DDPM (β̃): {r['fid']:.3f} ({r['conditional_accuracy']:.1%})"
            checked += 1
            continue
        for (sampler, eta), cell in zip(columns, cells[1:]):
            if cell == "—":
                assert not [r for r in rows if r["sampler"] == sampler and r["steps"] == calls]
                continue
            r = _find(rows, sampler, calls, eta)
            assert cell == f"{r['fid']:.3f} ({r['conditional_accuracy']:.1%})", (sampler, eta, calls)
            checked += 1
    assert checked == 15
    # the prose's ranges: DDIM η = 0 and both solvers, and their ratio to the floor
    ode = [r["fid"] for r in rows if r["sampler"] in ("dpmpp_2m", "unipc") or (r["sampler"] == "ddim" and r["eta"] == 0)]
    floor = json.loads((RESULTS_DIR / "quality_vs_steps.json").read_text())["fid_floor"]
    prose = f"against {min(ode):.2f}–{max(ode):.2f} ({min(ode) / floor:.1f}–{max(ode) / floor:.1f}×) for DDIM η = 0"
    assert prose in re.sub(r"\s+", " ", text)


def test_the_digits_quality_table_is_its_json_cell_by_cell():
    rows = _quality_rows("17395282a177d592")
    text = BENCHMARKS.read_text(encoding="utf-8")
    table = _table_after(text, "FID by DDIM steps S, shaped like the DDIM paper's Table 1")
    steps = [10, 20, 50, 100, 1000]
    assert [c[0] for c in table] == ["η = 0", "η = 0.5", "η = 1"]
    for cells in table:
        eta = float(cells[0].split("=")[1])
        assert cells[1:] == [f"{_find(rows, 'ddim', s, eta)['fid']:.3f}" for s in steps], eta
    small, large = _find(rows, "ddpm", 1000, variance="fixed_small"), _find(rows, "ddpm", 1000, variance="fixed_large")
    assert (f"DDPM over all 1000 steps: {small['fid']:.3f} (`fixed_small`), {large['fid']:.3f} (`fixed_large`)."
            in text)


# ---- every other benchmark table: each number in it is one of its JSON's, at the precision shown ------------------
TABLE_SOURCES = [
    (BENCHMARKS, "## Quality against sampling steps", ["quality_vs_steps.json"]),
    (BENCHMARKS, "## Training recipes", ["recipes.json"]),
    (BENCHMARKS, "## Training speed per preset", ["train_speed.json"]),
    (BENCHMARKS, "## Our U-Net against", ["speed.json"]),
    (BENCHMARKS, "## Sampling speed", ["sample_speed.json", "sample_speed_cfg.json"]),
    (BENCHMARKS, "## Guidance: class", ["guidance.json"]),
    (BENCHMARKS, "## Generalisation: a run", ["generalisation.json"]),
    (BENCHMARKS, "## Learned variance against", ["learned_variance.json"]),
    (SAMPLERS, "## The earlier n = 200 runs", ["quality_vs_calls.json", "quality_vs_steps.json"]),
]


def _json_numbers(obj) -> list[float]:
    if isinstance(obj, bool):
        return []
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, dict):
        obj = list(obj.values())
    if isinstance(obj, list):
        return [x for v in obj for x in _json_numbers(v)]
    if isinstance(obj, str):                                    # labels such as "t ∈ [50, 149]"
        return [float(x) for x in re.findall(r"\d+(?:\.\d+)?", obj)]
    return []


def _shown_as(value: float, token: str) -> bool:
    """Whether `value` (or its percentage) printed at the token's precision (or to 3–4 significant figures) reads
    as the token: '0.232', '1,114,209', '+16%' (0.16), '2.873'."""
    text = token.replace(",", "").replace("−", "-").lstrip("+").rstrip("%")
    decimals = len(text.split(".")[1]) if "." in text else 0
    shown = float(text)
    for v in (value, 100 * value):
        if round(v, decimals) == shown or (v and shown in (float(f"{v:.3g}"), float(f"{v:.4g}"))):
            return True
    return False


def _table_numbers(text: str, heading: str) -> list[str]:
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    rows = [line for line in text[start:end if end > 0 else None].splitlines() if line.startswith("| ")]
    rows = [r for r in rows if not set(r) <= set("|-: ")]
    body = [r for r in rows if not re.match(r"^\| (sampler|recipe|preset|model|variant|batch|step|cfg w|η|network calls) \|", r)]
    number = r"(?<![\w.−-])[+−-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"       # not the 1000 of 'DDPM-1000'
    return [tok for row in body for cell in row.strip("|").split("|") for tok in re.findall(number, cell)]


@pytest.mark.parametrize("page,heading,sources", TABLE_SOURCES, ids=[h for _, h, _ in TABLE_SOURCES])
def test_every_number_of_a_benchmark_table_is_its_jsons(page, heading, sources):
    values = [x for name in sources for x in _json_numbers(json.loads((RESULTS_DIR / name).read_text()))]
    tokens = _table_numbers(page.read_text(encoding="utf-8"), heading)
    assert len(tokens) > 10
    assert [t for t in tokens if not any(_shown_as(v, t) for v in values)] == []


def test_a_typed_table_number_is_caught():
    assert not any(_shown_as(v, "0.2345") for v in [0.232, 0.2341, 2.345])
    assert _shown_as(0.16, "+16%") and _shown_as(1114209, "1,114,209") and _shown_as(0.2318, "0.232")


def test_the_likelihood_table_is_its_json():
    """docs/reference/benchmarks.md's bits/dim table, row by row against bench/results/likelihood_digits_stride*.json
    (written by `python -m diagnostics likelihood … --json`)."""
    text = BENCHMARKS.read_text(encoding="utf-8")
    rows = _table_after(text, "## Likelihood of the bundled model")
    assert [r[0] for r in rows] == ["32", "8"]
    for cells in rows:
        d = json.loads((RESULTS_DIR / f"likelihood_digits_stride{cells[0]}.json").read_text())
        tr, held = d["train"], d["heldout"]
        steps = tr["timesteps"] if isinstance(tr["timesteps"], int) else len(tr["timesteps"])
        assert cells[1:] == [f"{steps}", f"{tr['bpd']:.3f} ± {tr['standard_error']:.3f}",
                             f"{held['bpd']:.3f} ± {held['standard_error']:.3f}",
                             f"{d['gap']:+.3f} ± {d['gap_se']:.3f}", f"± {tr['interpolation_bound']:.3f}",
                             f"{d['seconds']:.0f} s"], cells[0]
    d = json.loads((RESULTS_DIR / "likelihood_digits_stride32.json").read_text())
    prose = re.sub(r"\s+", " ", text[text.index("The two strides agree"):])
    assert (f"the decoder L_0 is {d['train']['decoder']:.2f}, the KL terms {d['train']['kl']:.2f}" in prose
            and f"({d['gap'] / d['train']['bpd']:.1%}) above the training digits" in prose)
