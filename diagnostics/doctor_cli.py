"""`python -m diagnostics doctor CHECKPOINT`: the sampler doctor (diagnostics.doctor) from the command line, its
table, verdict and fix in the language asked for, every number in --json."""
from __future__ import annotations

from ddpm.messages import MessageError, msg

from .doctor import MAX_CALLS, MIN_CALLS, MIN_N, sampler_doctor


def add_cli(sub) -> None:
    """The `doctor` subcommand of `python -m diagnostics`."""
    p = sub.add_parser("doctor", help="which sampler this model needs at a given number of network calls: every "
                                      "candidate's FID / floor with its interval, grey pixels, the exposure-bias curve")
    p.add_argument("checkpoint", help="a checkpoint (.safetensors, a bundled name such as mnist, or a diffusers "
                                      "pipeline folder / .zip)")
    p.add_argument("--calls", type=int, default=10, help=f"network calls per image, {MIN_CALLS}–{MAX_CALLS} "
                                                          "(default 10)")
    p.add_argument("--n", type=int, default=200, help=f"samples per candidate, at least {MIN_N} (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--guidance-scale", type=float, default=1.0, help="classifier-free guidance scale (1 = off)")
    p.add_argument("--guidance-interval", type=float, nargs=2, default=None, metavar=("S_LO", "S_HI"),
                   help="classifier-free guidance only where S_LO < s <= S_HI, s = sigma/alpha (default: every step)")
    p.add_argument("--reference", default=None, help="the real images, for a model that records no data set (a "
                                                     "folder / .zip or a data set name)")
    p.add_argument("--json", default=None, help="also write every number here")
    p.add_argument("--lang", choices=("en", "zh"), default="en")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")


def cli(args) -> str:
    """Run the `doctor` subcommand; returns the text to print (ValueError / CheckpointError for bad input)."""
    import json
    from pathlib import Path

    from ddpm import load_checkpoint
    from ddpm.checkpoint import atomic_write
    from ddpm.messages import render

    from .report import load_real_data
    from .reference import load_reference

    ck = load_checkpoint(args.checkpoint)
    if args.reference is not None:
        real, _ = load_reference(args.reference, ck)
    else:
        real, why = load_real_data(ck)
        if real is None:
            raise MessageError("doctor.needs_reference", why=why)
    r = sampler_doctor(ck, real, calls=args.calls, n=args.n, seed=args.seed, guidance_scale=args.guidance_scale,
                       guidance_interval=args.guidance_interval)
    head = [render(msg(k), args.lang) for k in ("doctor.cli_sampler", "doctor.cli_calls", "doctor.cli_ratio",
                                                 "doctor.cli_paired", "doctor.cli_grey")]
    lines = [f"{head[0]:<14} {head[1]:>5} {'FID':>8}  {head[2]:<28} {head[3]:<26} {head[4]:>20}"]
    for row in r.rows:
        lines.append(f"{row.sampler:<14} {row.calls:>5} {row.fid:>8.3f}  {_interval(row.fid_ratio):<28} "
                     f"{_interval(row.vs_ode):<26} {row.grey_excess:>+12.3f} ± {row.grey_excess_se:.3f}")
    floor = f"{r.floor:.3f}" if r.floor is not None else "—"
    lines += ["", render(msg("doctor.cli_footer", n=r.n, seed=r.seed, floor=floor, network=r.network), args.lang),
              render(msg("doctor.cli_verdict", verdict=msg(f"verdict.{r.verdict}"), summary=r.summary), args.lang)]
    if r.fix is not None:
        lines.append(render(msg("doctor.cli_fix", fix=r.fix), args.lang))
    lines += [render(m, args.lang) for m in r.notes]
    if args.json:
        payload = json.dumps(r.as_dict(), indent=1, default=str)
        atomic_write(args.json, lambda tmp: Path(tmp).write_text(payload, encoding="utf-8"))
        lines.append(f"JSON: {args.json}")
    return "\n".join(lines)


def _interval(iv) -> str:
    return f"{iv.estimate:.2f}× ({iv.low:.2f}–{iv.high:.2f}×)" if iv is not None and iv.known else "—"
