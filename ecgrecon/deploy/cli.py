"""``ecgrecon``: export a trained model to one file, apply it to your own WFDB records.

Sub-commands: ``export`` (pipeline results -> model bundle + JSON model card),
``reconstruct`` (bundle + WFDB record(s) -> WFDB record(s) with the reconstructed leads),
``evaluate`` (bundle + WFDB records -> the pipeline's tables) and ``digitize`` (a printout
image -> a WFDB record of the 12 leads and an overlay of the traces read).
Bad input ends with one line ``ecgrecon: error: <file>: <reason>`` and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path, PurePosixPath

from ecgrecon import __version__
from ecgrecon import methods as registry

EXIT_BAD_INPUT = 2

EPILOG = """examples:
  ecgrecon export --variant Ch
  ecgrecon reconstruct --model results/paper/model/ecgrecon-Ch.pt \\
      --input results/raw/synthetic/records100/00000/00008_lr --output reconstructed --plot
  ecgrecon reconstruct --model results/paper/model/ecgrecon-Ch.pt --input my_records/ --output out/
  ecgrecon evaluate --model results/paper/model/ecgrecon-Ch.pt --input my_records/ --output scores/
  ecgrecon digitize results/printout/images/scan/8.png --output digitized/
  ecgrecon digitize results/printout/images/scan/8.png --output digitized/ --complete \
      --model results/printout/completion_gl.json

See docs/reconstruct.md for what the output records hold."""

RECONSTRUCT_HELP = """Apply a model bundle to WFDB records. The model's input leads (e.g. I, II, V2) are
found by name (case-insensitive; other leads are ignored); any sampling rate the pipeline's
filters handle, any length of at least one window (2.56 s for the default model). Each record
is cleaned exactly like the pipeline (notch, band-pass, resampling, median baseline), cut into
non-overlapping windows (the last one aligned to the end), reconstructed in mV and resampled
back to its own rate and length. Output per record: <name>_recon.hea/.dat holding the measured
leads (cleaned) and the reconstructed ones named <lead>-rec, with comment lines naming the
model; with --plot also <name>_recon.png. When the input also holds a target lead, r and RMSE
against it are printed, written as a header comment and shown in the plot."""


class Progress:
    """A one-line progress bar on stderr (redrawn on a terminal, every 10 % otherwise)."""

    def __init__(self, total: int, enabled: bool = True, stream=None, width: int = 30):
        self.total, self.enabled, self.width = total, enabled and total > 1, width
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._last_decile = -1

    def update(self, done: int, failed: int) -> None:
        if not self.enabled:
            return
        decile = done * 10 // self.total
        if not self.tty and decile == self._last_decile and done != self.total:
            return
        self._last_decile = decile
        fill = self.width * done // self.total
        rate = done / max(time.perf_counter() - self.t0, 1e-9)
        line = (
            f"reconstruct [{'#' * fill}{'.' * (self.width - fill)}] {done}/{self.total} records"
            f"{f', {failed} failed' if failed else ''}, {rate:.1f} records/s"
        )
        end = "\n" if not self.tty or done == self.total else ""
        self.stream.write(("\r" if self.tty else "") + line + end)
        self.stream.flush()


def _resolves_into(path: Path, folder: Path) -> bool:
    """Whether ``path`` (symlinks resolved) lies in ``folder``; False for a symlink loop (read later, reported then)."""
    try:
        return path.resolve().is_relative_to(folder)
    except (OSError, RuntimeError):  # Python < 3.13 raises RuntimeError on a symlink loop
        return False


def _folder_records(folder: Path, out_dir: Path, skip: Path) -> list[tuple[Path, Path]]:
    """Every record (.hea) below ``folder``, except under ``skip`` or named ``*_recon`` (outputs)."""
    from ecgrecon.deploy.reconstruct import OUTPUT_SUFFIX, output_base, record_base
    from ecgrecon.io.wfdbio import RecordError

    heads = sorted(h for h in folder.rglob("*.hea") if not _resolves_into(h, skip) and not h.stem.endswith(OUTPUT_SUFFIX))
    if not heads:
        raise RecordError(folder, "no WFDB header (.hea) in this folder")
    return [(record_base(h), output_base(out_dir, record_base(h.relative_to(folder)))) for h in heads]


def expand_inputs(path: str, out_dir: Path, errors: list | None = None) -> list[tuple[Path, Path]]:
    """(record path, output record path) for a record, a folder (every .hea below it, outputs
    keep the sub-folders) or a RECORDS list (one record or sub-folder per line, relative to the
    list; the outputs keep those relative paths).

    A bad path or list entry raises :class:`RecordError`; with an ``errors`` list it is appended
    there instead (one per bad entry, naming the list and the entry) and the good ones are kept."""
    from ecgrecon.io.wfdbio import RecordError

    if errors is None:
        return _expand(path, out_dir, None)
    try:
        return _expand(path, out_dir, errors)
    except RecordError as exc:
        errors.append(exc)
        return []


def _expand(path: str, out_dir: Path, errors: list | None) -> list[tuple[Path, Path]]:
    from ecgrecon.deploy.reconstruct import output_base, record_base
    from ecgrecon.io.wfdbio import RecordError, safe_record_path

    p, skip = Path(path), out_dir.resolve()
    if p.is_dir():
        return _folder_records(p, out_dir, skip)
    base = record_base(p)
    if p.suffix.lower() in (".hea", ".dat") or base.with_name(base.name + ".hea").exists():
        return [(base, output_base(out_dir, base.name))]
    if not p.is_file():
        raise RecordError(p, "no such record (.hea), folder or RECORDS list")
    try:
        lines = p.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(p, f"unreadable RECORDS list ({exc})") from None
    rels = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    if not rels:
        raise RecordError(p, "empty RECORDS list")
    items, root = [], p.parent.resolve()
    for rel in rels:
        try:
            target = safe_record_path(root, rel.rstrip("/"))
            if target.is_dir():  # PhysioNet's multi-level databases list sub-folders ("p00/")
                items += _folder_records(target, out_dir / rel.rstrip("/"), skip)
            else:
                items.append((target, output_base(out_dir, PurePosixPath(rel))))
        except RecordError as exc:
            err = RecordError(p, f"entry {rel!r}: {exc.reason}")
            if errors is None:
                raise err from None
            errors.append(err)
    return items


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def _fmt_metrics(metrics: dict) -> str:
    return "; ".join(f"{lead} r {d['pearson']:.3f} RMSE {d['rmse']:.3f} mV" for lead, d in metrics.items())


def _load_model(args):
    """The bundle of --model on the device of --device (one line when CUDA is asked for and absent)."""
    from ecgrecon.deploy.bundle import load_model
    from ecgrecon.io.wfdbio import RecordError
    from ecgrecon.learn.device import resolve_device

    try:
        device = resolve_device(args.device)
    except RuntimeError:
        raise RecordError("--device cuda", "torch sees no CUDA device (use cpu or auto)") from None
    return load_model(args.model, device)


def cmd_reconstruct(args) -> int:
    from ecgrecon.deploy.reconstruct import run_records
    from ecgrecon.io.wfdbio import RecordError

    model = _load_model(args)
    out_dir = Path(args.output)
    bad: list[RecordError] = []  # every bad --input path or list entry, one line each; the rest still run
    items = [item for path in args.input for item in expand_inputs(path, out_dir, bad)]
    dup = sorted(str(o) for o, n in Counter(o for _, o in items).items() if n > 1)
    if dup:
        raise RecordError(dup[0], "two inputs map to the same output record; give them separate --output folders")
    for exc in bad:
        print(f"ecgrecon: error: {exc}", file=sys.stderr)
    total = len(items) + len(bad)
    bar = Progress(total, enabled=not args.quiet)
    failed, t0 = len(bad), time.perf_counter()
    for i, res in enumerate(run_records(model, items, plot=args.plot, jobs=args.jobs, threads=args.threads), start=len(bad)):
        if res.error:
            failed += 1
            if bar.tty and bar.enabled:
                sys.stderr.write("\n")
            print(f"ecgrecon: error: {res.error}", file=sys.stderr)
        elif total == 1 and not args.quiet:
            print(
                f"wrote {', '.join(res.files)} ({res.n_samples} samples at {res.fs:g} Hz)"
                + (f"; {_fmt_metrics(res.metrics)}" if res.metrics else "")
            )
        bar.update(i + 1, failed)
    if total > 1 and not args.quiet:
        rate = len(items) / max(time.perf_counter() - t0, 1e-9)
        print(f"reconstructed {total - failed} of {total} records into {out_dir} ({rate:.1f} records/s)")
    return EXIT_BAD_INPUT if failed else 0


EVALUATE_HELP = """Score a model bundle on your own WFDB records with the pipeline's own tables, beside the
population linear map GL packed into the bundle by `ecgrecon export` (older bundles without GL:
the model alone, and the outputs say so). Every record that holds the model's input leads and
all its target leads is read and cleaned exactly like `reconstruct` does and cut into the
pipeline's windows: segments (every window at the bundle's hop; no QC pass) for Table I, and
non-overlapping record windows (the last aligned to the record end) for Table II and the
morphology errors (records with all 12 leads, or whose limb leads follow from I and II). A
record lacking a target lead is listed and skipped (a note, not an error).

Output folder: segment_metrics.csv (Table I: pooled and seg-mean RMSE and R2, r, per lead and
Mean), record_metrics.csv (Table II: per-record RMSE, R2, r, mean and 95 % CI, pooled RMSE and
R2), morphology_metrics.csv (R amplitude, ST60, T amplitude errors), records.csv (per record,
method and lead), not_scored.csv (skipped and bad records with the reason), metrics.md (Tables I
and II) and rmse_per_lead.png (per-lead RMSE of the model and GL, and per record model vs GL).

example:
  ecgrecon evaluate --model results/paper/model/ecgrecon-Ch.pt \\
      --input my_records/ --output scores/"""


def cmd_evaluate(args) -> int:
    from ecgrecon.deploy.evaluate import evaluate_records, load_gl, write_outputs
    from ecgrecon.io.wfdbio import RecordError

    model = _load_model(args)
    gl = load_gl(model)
    out_dir = Path(args.output)
    bad: list[RecordError] = []  # bad --input paths or list entries: one line each, the rest still scored
    paths = list(dict.fromkeys(src for path in args.input for src, _ in expand_inputs(path, out_dir, bad)))
    failed = []
    for exc in bad:
        failed.append(str(exc))
        print(f"ecgrecon: error: {exc}", file=sys.stderr)

    def error(msg: str) -> None:
        failed.append(msg)
        print(f"ecgrecon: error: {msg}", file=sys.stderr)

    def skip(msg: str) -> None:
        if not args.quiet:
            print(f"ecgrecon: note: {msg}")

    ev = evaluate_records(paths, model, gl, on_error=error, on_skip=skip, bad_inputs=bad)
    if ev is None:
        if not failed:  # every record skipped: say so once
            raise RecordError(args.input[0], f"no record holds all the target leads {', '.join(model.targets)}: nothing to score")
        return EXIT_BAD_INPUT
    out = write_outputs(ev, model, out_dir)
    if not args.quiet:
        mean = ev.record[ev.record["lead"] == "Mean"].set_index("variant")
        n = int(ev.record["n_records"].iloc[0])
        print(
            f"evaluated {n} of {len(paths) + len(bad)} records ({len(paths) + len(bad) - n - len(failed)} skipped, "
            f"{len(failed)} bad) into {out_dir}; "
            "record-level mean over leads: "
            + "; ".join(
                f"{m} RMSE {mean.loc[m, 'rmse_mean']:.4f} mV, R2 {mean.loc[m, 'r2_mean']:.3f}, r {mean.loc[m, 'pearson_mean']:.3f}"
                for m in ev.methods
            )
        )
        for note in ev.notes:
            print(f"note: {note}")
        print(f"wrote {', '.join(p.name for p in out.values())}")
    return EXIT_BAD_INPUT if failed else 0


DIGITIZE_HELP = """Read a 12-lead ECG printout image (PNG, JPEG, ...: a scan or a photo of a standard page, 25 mm/s,
10 mm/mV, a coloured 1 mm / 5 mm grid, a 1 mV calibration pulse at the start of each row) back into
signals with the classical digitiser (docs/printout.md): deskew, grid pitch, grid removal by colour,
calibration pulses, a minimum-cost path through each row's ink. The layout must be given (the
digitiser checks it against the rows it finds). Output: DIR/<name>.hea/.dat, a WFDB record of the
12 leads (I ... V6) in mV at --fs for the page's 10 s, where samples the layout does not plot
(3x4: 2.5 s of each lead, lead II 10 s from the rhythm strip) are stored as invalid samples
(-32768; wfdb.rdsamp gives NaN), and DIR/<name>_overlay.png, the image as read (skew undone)
with the traces drawn over it. Perspective is not undone: a photo taken at an angle reads worse.

With --complete also DIR/<name>_completed.hea/.dat: all 12 leads over the whole 10 s. The
digitised samples are kept as read; every other sample is predicted from the lead-II rhythm strip
by PPM, a per-lead ridge map fitted on the lead's own digitised window (2.5 s in 3x4), shrunk
toward the GL completion map of --model (the pipeline's results/printout/completion_gl.json, a
map from lead II alone fitted on the train folds) and falling back to it for a lead whose window
was not read; without --model plain ridge (such a lead then stays NaN). A page whose rhythm strip
was not read cannot be completed (nothing is written). See docs/printout.md.

examples:
  ecgrecon digitize scan.png --layout 3x4 --fs 100 --output digitized/
  ecgrecon digitize scan.png --output digitized/ --complete --model results/printout/completion_gl.json"""


def cmd_digitize(args) -> int:
    from ecgrecon.deploy.digitize import digitize_file
    from ecgrecon.printout.complete import load_gl

    complete = args.complete or args.model is not None
    gl = load_gl(args.model, fs=args.fs) if args.model is not None else None  # before the image: a bad model file fails first
    res = digitize_file(args.image, args.output, layout=args.layout, fs=args.fs, complete=complete, gl=gl, gl_path=args.model)
    if not args.quiet:
        cov = res.coverage
        print(
            f"wrote {', '.join(str(f) for f in res.files)} ({res.signals.shape[0]} samples at {res.fs:g} Hz, layout {args.layout}; "
            f"read {sum(cov.values()) / len(cov):.0%} of the 12 x 10 s, skew {res.diagnostics['skew_deg']:.2f} deg)"
        )
        if res.completion is not None:
            how = f"PPM toward {args.model}" if gl is not None else "PPM (plain ridge, no --model)"
            print(f"completed 12 x {res.signals.shape[0]} samples by {how}" + "".join(f"; {n}" for n in res.completion.notes))
    return 0


def _rate(text: str) -> float:
    fs = float(text)
    if not 10 <= fs <= 10000:
        raise argparse.ArgumentTypeError(f"must be between 10 and 10000 Hz, got {text}")
    return fs


def cmd_export(args) -> int:
    import yaml

    from ecgrecon.deploy.bundle import BundleError, artifact_paths, export_model, settings_from_config

    try:
        cfg = yaml.safe_load(Path(args.config).read_text())
    except FileNotFoundError:
        raise BundleError(args.config, "config file not found") from None
    except (OSError, yaml.YAMLError) as exc:
        raise BundleError(args.config, f"unreadable config ({str(exc).splitlines()[0]})") from None
    if not isinstance(cfg, dict):
        raise BundleError(args.config, "config is not a mapping")
    settings = settings_from_config(cfg, args.task, args.config)
    out = Path(args.output or Path(args.results) / args.task / "model" / f"ecgrecon-{args.variant}.pt")
    paths = artifact_paths(args.results, args.task, args.variant, args.fold, settings["inputs"], settings["targets"])
    if not registry.get(args.variant).uses_h:
        paths.pop("encoder_path"), paths.pop("reps_path")
    if not Path(paths["gl_path"]).is_file():  # a task without GL: the bundle holds the model alone
        print(f"export: no GL map at {paths.pop('gl_path')}; the bundle will not hold one")
    export_model(out, out.with_suffix(".json"), variant=args.variant, fold=args.fold, settings=settings, log=print, **paths)
    return 0


def _model_and_inputs(p: argparse.ArgumentParser) -> None:
    """--model, --device and --input, as ``reconstruct`` and ``evaluate`` both read them (:func:`_load_model`)."""
    p.add_argument("--model", required=True, metavar="BUNDLE", help="model bundle from `ecgrecon export`")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"], help="torch device (default %(default)s)")
    p.add_argument(
        "--input",
        required=True,
        nargs="+",
        metavar="RECORD",
        help="WFDB record(s) (path with or without .hea), folder(s) (every record below, except "
        "*_recon outputs) or RECORDS list file(s) (records or sub-folders relative to it)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="ecgrecon",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
        description="Reconstruct missing precordial ECG leads (V1, V3-V6) from I, II, V2 with a model trained by the ecg-recon pipeline.",
    )
    ap.add_argument("--version", action="version", version=f"ecgrecon {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ex = sub.add_parser(
        "export",
        help="pack a trained model (encoder, decoders, settings, metrics) into one file",
        description="Pack the encoder, the decoders of every target lead of one fold, lead names, fs, window/hop, "
        "cleaning settings, h normalisation statistics, a hash of those settings and the validation and test metrics "
        "into one bundle (loads with torch.load(weights_only=True)) plus a JSON model card beside it. "
        "Reads the pipeline's results (run `snakemake` first; the workflow's rule export_model does "
        "the same).",
    )
    exportable = [m for m in registry.names("decoder") if registry.get(m).exportable]
    ex.add_argument(
        "--variant",
        choices=exportable,
        default="Ch",
        help="; ".join(f"{m}: {registry.get(m).description}" for m in exportable) + " (default %(default)s)",
    )
    ex.add_argument("--task", default="paper", help="the task (config `tasks:`) whose models to export (default %(default)s)")
    ex.add_argument("--config", default="config.yaml", help="the config the results were made with (default %(default)s)")
    ex.add_argument("--results", default="results", help="the pipeline's results folder (default %(default)s)")
    ex.add_argument("--fold", default="official", help="fold whose decoders to export (default %(default)s)")
    ex.add_argument("--output", help="bundle path (default RESULTS/TASK/model/ecgrecon-VARIANT.pt; card: same name .json)")
    ex.set_defaults(func=cmd_export)

    rc = sub.add_parser(
        "reconstruct",
        help="reconstruct the target leads of WFDB records with a model bundle",
        description=RECONSTRUCT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 all records done, 2 bad input (every failed record is named on stderr; the others are still written)",
    )
    _model_and_inputs(rc)
    rc.add_argument("--output", default="reconstructed", metavar="DIR", help="output folder (default %(default)s)")
    rc.add_argument("--plot", action="store_true", help="also write <name>_recon.png (measured vs reconstructed)")
    rc.add_argument(
        "--jobs",
        type=_positive,
        default=1,
        metavar="N",
        help="worker processes for a folder or list (default %(default)s; use the number of cores)",
    )
    rc.add_argument(
        "--threads",
        type=_positive,
        default=1,
        metavar="N",
        help="torch threads per process (default %(default)s: fastest for the small batches of one record)",
    )
    rc.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    rc.set_defaults(func=cmd_reconstruct)

    ev = sub.add_parser(
        "evaluate",
        help="score a model bundle (and its GL map) on your own WFDB records with the pipeline's tables",
        description=EVALUATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 all records scored or skipped, 2 bad input (each bad record named on stderr; the others still scored)",
    )
    _model_and_inputs(ev)
    ev.add_argument("--output", default="evaluation", metavar="DIR", help="folder for the tables and the figure (default %(default)s)")
    ev.add_argument("--quiet", action="store_true", help="no notes or summary")
    ev.set_defaults(func=cmd_evaluate)

    from ecgrecon.printout.layout import LAYOUTS

    dg = sub.add_parser(
        "digitize",
        help="read a 12-lead ECG printout image back into a WFDB record (classical digitiser)",
        description=DIGITIZE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes: 0 digitised, 2 bad input (unreadable image, no grid, a layout other than --layout, a missing or invalid "
        "--model, a rhythm strip not read with --complete: one line naming the file)",
    )
    dg.add_argument("image", metavar="IMAGE", help="the printout image (any format OpenCV reads: PNG, JPEG, TIFF, BMP)")
    dg.add_argument("--layout", default="3x4", choices=list(LAYOUTS), help="page layout: 3x4 (+ lead-II rhythm strip), 6x2 (+ rhythm "
                    "strip) or 12x1 (default %(default)s)")  # fmt: skip
    dg.add_argument("--fs", type=_rate, default=100.0, metavar="HZ", help="sampling rate of the output record (default %(default)g)")
    dg.add_argument(
        "--output", required=True, metavar="DIR", help="output folder (created; <name> is the image's file name without extension)"
    )
    dg.add_argument(
        "--complete",
        action="store_true",
        help="also write <name>_completed.hea/.dat: all 12 leads x 10 s, the unplotted samples predicted from the lead-II rhythm strip",
    )
    dg.add_argument(
        "--model",
        metavar="GL_MAP.json",
        help="GL completion map (lead II -> the other leads; results/printout/completion_gl.json) PPM is shrunk toward "
        "(implies --complete; default: plain ridge)",
    )
    dg.add_argument("--quiet", action="store_true", help="no summary line")
    dg.set_defaults(func=cmd_digitize)
    return ap


def main(argv=None) -> int:
    """Entry point of the ``ecgrecon`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    from ecgrecon.data.datasets import ArtifactError
    from ecgrecon.deploy.bundle import BundleError
    from ecgrecon.io.wfdbio import RecordError
    from ecgrecon.printout.layout import PrintoutError

    try:
        return args.func(args)
    except (BundleError, RecordError, ArtifactError, PrintoutError) as exc:
        print(f"ecgrecon: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # e.g. an output folder below a regular file, a full disk
        from ecgrecon.deploy.reconstruct import os_error_line

        print(f"ecgrecon: error: {os_error_line(exc, getattr(args, 'output', None) or '-')}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
