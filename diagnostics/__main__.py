"""python -m diagnostics report CKPT --out DIR [--quick] [--n N] [--seed S] [--device D] [--likelihood] [--lang zh]
python -m diagnostics render REPORT_JSON --out DIR --lang zh
python -m diagnostics likelihood CKPT [--n N] [--stride S] [--json PATH]
python -m diagnostics doctor CKPT [--calls 10] [--n 200] [--json PATH]     (which sampler the model needs)

Runs every check on a checkpoint, writes report.html (self-contained, offline), report.json and report.md
into DIR, prints the Markdown summary and the paths. Progress goes to stderr. Exit codes: 0 when the report
was written (whatever its verdicts), 2 for bad input (a missing or unusable checkpoint, bad options).
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

EXIT_BAD_INPUT = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m diagnostics", description="DDPM Workbench diagnostics")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="run every check on a checkpoint and write HTML / JSON / Markdown reports")
    r.add_argument("checkpoint", help="a .safetensors checkpoint written by python -m ddpm.train, or a diffusers "
                                      "pipeline folder / .zip / Hub id")
    r.add_argument("--out", required=True, help="folder for report.html, report.json, report.md, samples.png")
    r.add_argument("--quick", action="store_true", help="DDIM-20, 64 samples, short timings (≈ a minute on CPU)")
    r.add_argument("--n", type=int, default=None, help="samples to generate (default 64 quick, 500 full)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | mps | auto")
    r.add_argument("--sampler", choices=("ddim", "ddpm"), default=None,
                   help="override the sampler (default: ddim in quick mode, ddpm over all T steps in full mode)")
    r.add_argument("--steps", type=int, default=None, help="DDIM steps (default 20 quick, 100 full)")
    r.add_argument("--eta", type=float, default=0.0,
                   help="DDIM's eta in [0, 1]: 0 deterministic (default), 1 adds the DDPM posterior's noise at each "
                        "of DDIM's steps, which for an under-trained model often gives a lower FID than eta 0")
    r.add_argument("--guidance-scale", type=float, default=1.0, help="classifier-free guidance scale (1 = off)")
    r.add_argument("--guidance-interval", type=float, nargs=2, default=None, metavar=("S_LO", "S_HI"),
                   help="classifier-free guidance only where S_LO < s <= S_HI, s = sigma/alpha (inf: open; "
                        "Kynkäänniemi et al. 2024: 0.28 5.42); default: every step")
    r.add_argument("--feature-net", default=None,
                   help="feature network file for FID/IS (default: the bundled one), or 'inception' for "
                        "torchvision's Inception-v3 where torchvision imports (the check is skipped, saying why, "
                        "where it does not)")
    r.add_argument("--reference", default=None,
                   help="reference images for the data-dependent checks of a model that records no data set (a "
                        "diffusers model): a folder or .zip (class folders or flat, as for training) or a data set name; resized to "
                        "the model's size and channels")
    r.add_argument("--reference-trained", choices=("unknown", "all", "none"), default="unknown",
                   help="what the model saw of the --reference images, where it records no data: unknown (default; "
                        "the memorisation, generalisation and likelihood checks assume it was trained on an 80%% cut "
                        "and say so), all (trained on every one: no held-out baseline) or none (on none of them)")
    r.add_argument("--train-features", action="store_true",
                   help="where the shipped feature network does not fit the reference set, train one on it "
                        "(labelled images; a few CPU minutes, cached by the set's hash under ~/.cache/ddpm-workbench)")
    r.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: 1 with --quick, whose small batches gain little from more "
                        "and lose a lot when other processes hold the cores; torch's own choice otherwise)")
    r.add_argument("--amp", choices=("auto", "off", "bf16", "fp16"), default="auto",
                   help="network precision while drawing the samples: auto (fp32 on every CPU, so the report is the "
                        "same on any CPU; bf16/fp16 on a GPU), off (fp32), bf16, fp16 (GPU only); the other checks "
                        "run in fp32; the report says what ran")
    r.add_argument("--no-progress", action="store_true", help="do not draw a progress bar")
    r.add_argument("--likelihood", action=argparse.BooleanOptionalAction, default=None,
                   help="compute bits/dim on the training and held-out splits (default: in full mode only)")
    r.add_argument("--lang", choices=("en", "zh"), default="en",
                   help="language of report.html and report.md: en (default) or zh (中文); report.json is the same")
    rr = sub.add_parser("render", help="write a saved report.json again as report.html and report.md, e.g. in another "
                                       "language, from the message keys it stores (the numbers are the saved ones; a "
                                       "report.json written before reports stored them renders in English only)")
    rr.add_argument("report_json", help="a report.json written by `python -m diagnostics report`")
    rr.add_argument("--out", required=True, help="folder for report.html and report.md")
    rr.add_argument("--lang", choices=("en", "zh"), default="en", help="en (default) or zh (中文)")
    from .likelihood import add_cli
    add_cli(sub)
    from .doctor_cli import add_cli as add_doctor_cli
    add_doctor_cli(sub)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    threads = getattr(args, "threads", None)
    if threads is None and getattr(args, "quick", False):
        threads = 1
    if threads is not None:
        if threads < 1:
            from ddpm.messages import msg, render
            error = msg("cli.error", error=msg("cli.threads_invalid", value=threads))
            print(render(error, getattr(args, "lang", "en")), file=sys.stderr)
            return EXIT_BAD_INPUT
        import torch
        torch.set_num_threads(threads)
    from ddpm import CheckpointError
    if args.command in ("likelihood", "doctor"):
        from .doctor_cli import cli as doctor_cli
        from .likelihood import cli as likelihood_cli
        cli = likelihood_cli if args.command == "likelihood" else doctor_cli
        try:
            print(cli(args))
        except (CheckpointError, FileNotFoundError, PermissionError, IsADirectoryError, ValueError) as e:
            from ddpm.messages import msg, render
            print(render(msg("cli.error", error=getattr(e, "message", str(e))), args.lang), file=sys.stderr)
            return EXIT_BAD_INPUT
        return 0
    if args.command == "render":
        from .report import load_report, to_markdown, write_report
        try:
            files = write_report(load_report(args.report_json), args.out, lang=args.lang, data=False)
        except (FileNotFoundError, PermissionError, IsADirectoryError, ValueError, KeyError, TypeError) as e:
            from ddpm.messages import msg, render
            why = msg("report.cli_not_rendered", path=str(args.report_json), kind=type(e).__name__,
                      error=getattr(e, "message", str(e)))
            print(render(msg("cli.error", error=why), args.lang), file=sys.stderr)
            return EXIT_BAD_INPUT
        print(to_markdown(files.report, args.lang))
        print(f"HTML:     {files.html_path}\nMarkdown: {files.md_path}")
        return 0
    from .report import run_report

    bar = None
    last = [0.0]

    def progress(stage: str, fraction: float) -> None:
        nonlocal bar
        if args.no_progress:
            return
        if bar is None:
            from tqdm import tqdm
            bar = tqdm(total=100, file=sys.stderr, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% [{elapsed}<{remaining}]")
        bar.set_description(stage)
        step = max(0.0, fraction * 100 - last[0])
        last[0] += step
        bar.update(step)

    try:
        files = run_report(args.checkpoint, args.out, quick=args.quick, n=args.n, seed=args.seed, device=args.device,
                           callback=progress, sampler=args.sampler, steps=args.steps,
                           guidance_scale=args.guidance_scale, feature_net=args.feature_net,
                           likelihood=args.likelihood, reference=args.reference,
                           train_features=args.train_features, amp=args.amp, lang=args.lang, eta=args.eta,
                           reference_trained=args.reference_trained, guidance_interval=args.guidance_interval)
    except (CheckpointError, FileNotFoundError, PermissionError, IsADirectoryError, ValueError) as e:
        if bar is not None:
            bar.close()
        from ddpm.messages import msg, render
        print(render(msg("cli.error", error=getattr(e, "message", str(e))), args.lang), file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        if bar is not None:
            bar.close()
    from .report import to_markdown
    print(to_markdown(files.report, args.lang))
    print(f"HTML:     {files.html_path}")
    print(f"JSON:     {files.json_path}")
    print(f"Markdown: {files.md_path}")
    print(f"Samples:  {files.grid_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
