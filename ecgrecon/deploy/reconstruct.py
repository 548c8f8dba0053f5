"""Apply an exported model to WFDB records: read, clean, window, reconstruct, stitch, write.

Per record: the model's input leads are found by name (case-insensitive; other leads are
ignored), cleaned with the pipeline's own filters (:func:`ecgrecon.signal.filters.clean_batch`: notch,
band-pass, resampling to the model rate, median baseline), cut into non-overlapping windows
plus one last window aligned to the record end (the pipeline's record-level evaluation,
:func:`ecgrecon.data.segment.record_windows`), reconstructed in mV, stitched back and resampled to
the record's own rate and exact length. The output WFDB record holds the measured leads
(cleaned, as the model saw them) and the reconstructed ones (``V1-rec``, ...), with comment
lines naming the model. Target leads the input happens to hold are cleaned the same way and
used only to report r and RMSE (at the model rate) and for the plot.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ecgrecon.data.clean import FLAT_PTP_MV
from ecgrecon.data.datasets import normalise_h, zscore_segments
from ecgrecon.data.segment import record_windows
from ecgrecon.deploy.bundle import RECON_SUFFIX, ReconModel
from ecgrecon.io.atomic import save_png
from ecgrecon.io.wfdbio import FORMATS, RecordError, check_checksums, parse_header, read_digital, to_physical, unit_scale
from ecgrecon.learn.models import check_variant, predict
from ecgrecon.learn.reps import encode, tile_by_record
from ecgrecon.signal.filters import check_rate, clean_batch, resample, resample_factors
from ecgrecon.signal.metrics import reassemble, record_lead_metrics

OUTPUT_SUFFIX = "_recon"
"""Output record name = input record name + this suffix (never overwrites the input)."""
PLOT_SECONDS = 10.0
MAX_ABS_MV = 32.0  # above this a lead is stored with a smaller ADC gain (16-bit range)
MAX_INPUT_MV = 32000.0
"""An input lead beyond +-32 V is no ECG (a wrong ADC gain or unit); the output could not store it (>= 1 adu/mV)."""
SATURATED_FRACTION = 0.1
"""An input lead is saturated when at least this fraction of its samples sit at its highest or at
its lowest value (clipped at a rail; real leads of PTB-XL, LUDB and CinC 2021: at most 3 %)."""


@dataclass
class InputRecord:
    """The model's input leads (and any target leads present) of one record, in mV."""

    base: Path
    fs: float
    n_samples: int
    measured: np.ndarray  # (n, n_inputs), model input order
    originals: dict[str, np.ndarray] = field(default_factory=dict)  # target lead -> (n,)


@dataclass
class Reconstruction:
    """Output of one record at its own rate and length; metrics at the model rate."""

    fs: float
    measured: np.ndarray  # (n, n_inputs) cleaned
    reconstructed: np.ndarray  # (n, n_targets)
    originals: dict[str, np.ndarray]  # target lead -> (n,) cleaned
    metrics: dict[str, dict[str, float]]  # target lead -> rmse, r2, pearson


def record_base(path) -> Path:
    """A record path without ``.hea`` / ``.dat`` extension."""
    p = Path(path)
    return p.with_suffix("") if p.suffix.lower() in (".hea", ".dat") else p


def _find(names: list[str], lead: str) -> list[int]:
    return [i for i, n in enumerate(names) if n == lead.upper()]


def hz(fs: float) -> str:
    """A rate as written in the header, to full precision (100, 100.0001, 333.3333333333333)."""
    text = repr(float(fs))
    return text[:-2] if text.endswith(".0") else text


def check_leads(sig: np.ndarray, leads: list[str], hea) -> None:
    """RecordError for an input lead that holds NaN / infinite samples, is flat (peak-to-peak below
    the pipeline's :data:`ecgrecon.data.clean.FLAT_PTP_MV`, the clean stage's reason ``flat lead(s)``)
    or saturated (:data:`SATURATED_FRACTION` of its samples at one extreme). ``sig``: (n, leads) mV."""
    n = len(sig)
    for j, lead in enumerate(leads):
        bad = int(np.isnan(sig[:, j]).sum())
        if bad == n:
            raise RecordError(hea, f"input lead {lead} holds only NaN samples (no valid data)")
        if bad:
            raise RecordError(hea, f"input lead {lead} has {bad} NaN sample(s) of {n} (gaps are not filled)")
    inf = ~np.isfinite(sig).all(axis=0)
    if inf.any():
        raise RecordError(hea, f"infinite samples in input lead(s) {', '.join(np.asarray(leads)[inf])} (check the ADC gain)")
    huge = np.abs(sig).max(axis=0) > MAX_INPUT_MV
    if huge.any():
        raise RecordError(
            hea,
            f"input lead(s) {', '.join(np.asarray(leads)[huge])} reach {np.abs(sig).max():.3g} mV, beyond any ECG "
            f"(+-{MAX_INPUT_MV:g} mV; check the header's ADC gain and units)",
        )
    flat = np.ptp(sig, axis=0) < FLAT_PTP_MV
    if flat.any():
        raise RecordError(hea, f"flat lead(s) {', '.join(np.asarray(leads)[flat])} (peak-to-peak below {FLAT_PTP_MV:g} mV)")
    at_rail = np.maximum((sig == sig.max(axis=0)).mean(axis=0), (sig == sig.min(axis=0)).mean(axis=0))
    sat = at_rail >= SATURATED_FRACTION
    if sat.any():
        names, pct = ", ".join(np.asarray(leads)[sat]), ", ".join(f"{100 * f:.0f} %" for f in at_rail[sat])
        raise RecordError(hea, f"saturated lead(s) {names} ({pct} of the samples at the lead's highest or lowest value: clipped)")


def read_input(path, model: ReconModel) -> InputRecord:
    """Read the model's input leads (and target leads when present) of one WFDB record.

    RecordError (naming the header) for an unreadable header, a missing or duplicated input
    lead, a rate the cleaning cannot handle, a record shorter than one window, NaN or infinite
    samples in an input lead, a flat or saturated input lead (:func:`check_leads`). Target leads
    with NaN samples are ignored (not compared).
    """
    base = record_base(path)
    hea = base.with_name(base.name + ".hea")
    header = parse_header(hea)
    names = [s.name.strip().upper() for s in header.signals]
    have = ", ".join(s.name for s in header.signals) or "no signals"
    missing = [lead for lead in model.inputs if not _find(names, lead)]
    if missing:
        raise RecordError(hea, f"missing input lead(s) {', '.join(missing)} (record has {have}; the model needs {', '.join(model.inputs)})")
    dup = [lead for lead in model.inputs if len(_find(names, lead)) > 1]
    if dup:
        raise RecordError(hea, f"input lead(s) {', '.join(dup)} appear more than once ({have})")
    fs = float(header.fs)
    try:
        check_rate(fs, model.meta["clean"])
        up, down = resample_factors(fs, model.meta["fs"])
    except ValueError as exc:  # the filters' message rounds the rate (:g); say it in full
        reason = str(exc).replace(f"{fs:g} Hz ->", f"{hz(fs)} Hz ->", 1)
        raise RecordError(hea, f"cannot clean a {hz(fs)} Hz record: {reason}") from None
    extra = [lead for lead in model.targets if len(_find(names, lead)) == 1]
    chans = [_find(names, lead)[0] for lead in model.inputs + extra]
    sig = _read_signals(base, header, chans)
    n = sig.shape[0]
    n_model = -(-n * up // down)
    window = int(model.meta["window"])
    if n_model < window:
        raise RecordError(
            hea,
            f"too short: {n} samples at {hz(fs)} Hz ({n / fs:.2f} s); the model needs at least "
            f"one window of {window} samples at {model.meta['fs']:g} Hz "
            f"({window / model.meta['fs']:.2f} s)",
        )
    k = len(model.inputs)
    check_leads(sig[:, :k], model.inputs, hea)
    originals = {lead: sig[:, k + j] for j, lead in enumerate(extra) if np.isfinite(sig[:, k + j]).all()}
    return InputRecord(base, fs, n, sig[:, :k], originals)


def _read_signals(base: Path, header, chans: list[int]) -> np.ndarray:
    """Physical signals (n, len(chans)) in mV, NaN for WFDB "invalid" samples.

    The common layout (the wanted signals in one .dat file of one format) goes through the
    project's own fast reader, which also verifies the header checksums; anything else
    through the wfdb package.
    """
    hea = base.with_name(base.name + ".hea")
    specs = header.signals
    files = {(specs[i].file_name, specs[i].fmt, specs[i].byte_offset) for i in chans}
    if len(files) == 1:
        dat_name, fmt, offset = files.pop()
        group = [j for j, s in enumerate(specs) if s.file_name == dat_name]
        same = len({(specs[j].fmt, specs[j].byte_offset) for j in group}) == 1
        if same and PurePosixPath(dat_name).name == dat_name and dat_name not in ("", ".", ".."):
            dat = base.with_name(dat_name)
            digital = read_digital(dat, fmt, offset, len(group), header.n_samples)
            check_checksums(digital, [specs[j] for j in group], dat)
            cols = [group.index(i) for i in chans]
            return to_physical(digital[:, cols], [specs[i] for i in chans], hea, FORMATS[fmt][2])
    import wfdb

    try:
        rec = wfdb.rdrecord(str(base), channels=chans, physical=True, return_res=64)
    except Exception as exc:  # noqa: BLE001 - wfdb raises many kinds; report them as one line
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise RecordError(hea, f"unreadable signal data ({type(exc).__name__}: {msg})") from None
    scale = np.array([unit_scale(specs[i].units, hea) for i in chans])
    return np.asarray(rec.p_signal, dtype=np.float64) * scale


def predict_windows(model: ReconModel, windows: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """(n_win, n_targets, W) mV from input-lead windows (n_win, n_inputs, W) in mV.

    Exactly the pipeline's inputs: x z-scored per window and lead (ChA: in mV, the model z-scores
    them and feeds them to its GL anchor); for variants Ch and ChA, h from the
    encoder on the mV windows (averaged over the windows of a record when the model was
    trained with ``tile_reps``; ``groups`` labels the record of each window) standardised with
    the train statistics.
    """
    windows = np.ascontiguousarray(windows, dtype=np.float32)
    x = windows if check_variant(model.meta["variant"]).raw_inputs else zscore_segments(windows)
    h = None
    if model.encoder is not None:
        h = encode(model.encoder, windows, model.device)
        if model.meta["tile_reps"]:
            h = tile_by_record(h, np.zeros(len(h), np.int64) if groups is None else groups)
        h = normalise_h(h, model.h_mean, model.h_std)
    out = [predict(model.decoders[lead], x, h, model.device) for lead in model.targets]
    return np.stack(out, axis=1)


def clean_record(rec: InputRecord, model: ReconModel) -> tuple[np.ndarray, list[str]]:
    """(n_model, n_inputs + n_originals) cleaned at the model rate; names of the original leads."""
    leads = list(rec.originals)
    x = np.concatenate([rec.measured] + [rec.originals[lead][:, None] for lead in leads], axis=1)
    y, _ = clean_batch(x[None], rec.fs, model.meta["clean"])
    return y[0], leads


def reconstruct_record(rec: InputRecord, model: ReconModel) -> Reconstruction:
    """Clean, window, predict, stitch and resample one record back to its own rate and length."""
    fs_m, window = float(model.meta["fs"]), int(model.meta["window"])
    y, leads = clean_record(rec, model)
    k = len(model.inputs)
    starts, keep = record_windows(len(y), window)
    wins = np.stack([y[s : s + window, :k].T for s in starts])
    pred = predict_windows(model, wins)
    hea = rec.base.with_name(rec.base.name + ".hea")
    if not np.isfinite(pred).all():
        bad = int((~np.isfinite(pred)).sum())
        raise RecordError(hea, f"the model's reconstruction holds non-finite values ({bad} of {pred.size} samples); nothing written")
    meta = pd.DataFrame({"ecg_id": 0, "start": starts, "n_keep_from": keep})
    recon_m = reassemble(pred, meta)[0]  # (n_targets, n_model)
    metrics = {lead: record_lead_metrics(y[:, k + j], recon_m[model.targets.index(lead)]) for j, lead in enumerate(leads)}
    back = resample(np.concatenate([y.T, recon_m]).astype(np.float64), fs_m, rec.fs)[:, : rec.n_samples]
    if back.shape[1] != rec.n_samples:
        raise AssertionError(f"{rec.base}: resampled back to {back.shape[1]} samples, expected {rec.n_samples}")
    back = back.astype(np.float32)
    if not np.isfinite(back).all():
        raise RecordError(hea, "non-finite values after resampling back to the record's rate; nothing written")
    originals = {lead: back[k + j] for j, lead in enumerate(leads)}
    recon = back[k + len(leads) :].T
    return Reconstruction(rec.fs, np.ascontiguousarray(back[:k].T), np.ascontiguousarray(recon), originals, metrics)


def output_names(model: ReconModel) -> list[str]:
    """Signal names of an output record: measured input leads, then ``<target>-rec``."""
    return list(model.inputs) + [lead + RECON_SUFFIX for lead in model.targets]


def output_base(out_dir, rel) -> Path:
    """Output record path for the input record ``rel`` (its folders kept, name + ``_recon``)."""
    rel = Path(rel)
    name = re.sub(r"[^\w-]", "_", rel.name) + OUTPUT_SUFFIX
    return Path(out_dir) / rel.parent / name


def comment_lines(rec: InputRecord, res: Reconstruction, model: ReconModel) -> list[str]:
    """WFDB header comments: the model, the source, what each signal is, the check vs originals."""
    m, c = model.meta, model.meta["clean"]
    rate = f"{m['fs']:g} Hz" + ("" if rec.fs == m["fs"] else f", resampled to {rec.fs:g} Hz")
    notch = f"notch {c['notch_hz']:g} Hz, " if c["notch_hz"] and c["notch_hz"] < rec.fs / 2 else "no notch (mains at or above Nyquist), "
    lo, hi = c["bandpass_hz"]
    lines = [
        f"ecgrecon reconstruct: {model.label()}",
        f"source: {rec.base} ({rec.n_samples} samples at {rec.fs:g} Hz)",
        f"{', '.join(model.inputs)}: measured, cleaned as in the pipeline ({notch}band-pass {lo:g}-{hi:g} Hz "
        f"(Butterworth order {c['filter_order']}, {c['filter_form']}), {c['median_window_s']:g}-s median baseline "
        f"({c['median_edges']} edges)) at {rate}",
        f"{', '.join(output_names(model)[len(model.inputs) :])}: reconstructed from {', '.join(model.inputs)} in "
        f"{m['window']}-sample windows at {rate}",
    ]
    for lead, d in res.metrics.items():
        lines.append(f"check vs the record's own {lead} (cleaned, at {m['fs']:g} Hz): r {d['pearson']:.4f}, RMSE {d['rmse']:.4f} mV")
    return lines


def adc_gains(sig: np.ndarray) -> list[float]:
    """1000 adu/mV (1 uV steps) unless a lead exceeds +-32 mV; then what fits 16 bits (NaN samples ignored)."""
    peak = np.where(np.isfinite(sig), np.abs(sig), 0.0).max(axis=0)
    return [1000.0 if p <= MAX_ABS_MV else float(np.floor(32000.0 / p * 1000) / 1000) for p in peak]


def wfdb_files(name: str, sig: np.ndarray, names: list[str], fs: float, comments: list[str]) -> tuple[str, bytes]:
    """Header text and format-16 data of a single-segment WFDB record (sig: (n, channels) mV).

    Written here rather than with ``wfdb.wrsamp`` (which spends most of its time validating):
    one ``name.dat`` of interleaved little-endian int16, baseline 0, per-channel gain, the
    16-bit checksum of each channel and the initial value, as the WFDB header format defines.
    NaN samples are stored as -32768, format 16's invalid sample (wfdb.rdsamp reads them back as NaN).
    """
    gains = adc_gains(sig)
    finite = np.isfinite(sig)
    scaled = np.clip(np.round(np.where(finite, sig, 0.0) * np.asarray(gains)), -32767, 32767)
    adu = np.where(finite, scaled, -32768).astype("<i2")  # -32768 = invalid
    sums = adu.astype(np.int64).sum(axis=0)
    checksum = (sums + 32768) % 65536 - 32768
    lines = [f"{name} {len(names)} {fs:.12g} {len(adu)}"]
    lines += [f"{name}.dat 16 {g:.12g}(0)/mV 16 0 {int(adu[0, k])} {int(checksum[k])} 0 {names[k]}" for k, g in enumerate(gains)]
    lines += [f"# {c}" for c in comments]
    return "\n".join(lines) + "\n", np.ascontiguousarray(adu).tobytes()


def write_output(out: Path, rec: InputRecord, res: Reconstruction, model: ReconModel, plot: bool = False) -> list[Path]:
    """Write ``out.hea`` / ``out.dat`` (and ``out.png``); all files appear at once or not at all.

    Everything is written into a hidden temporary folder beside the outputs, then renamed
    into place (the header last, so a visible header always has its data).
    """
    sig = np.concatenate([res.measured, res.reconstructed], axis=1).astype(np.float64)
    if not np.isfinite(sig).all() or min(adc_gains(sig)) < 1.0:  # never NaN as 0 mV, never a 0 gain
        peak = np.abs(sig).max()
        raise RecordError(out.with_suffix(".hea"), f"output beyond what format 16 stores at 1 adu/mV (max |x| {peak:.3g} mV)")
    header, data = wfdb_files(out.name, sig, output_names(model), rec.fs, comment_lines(rec, res, model))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # e.g. a regular file where the folder (or one above it) should be
        raise RecordError(exc.filename or out.parent, f"cannot create the output folder of {out.name} ({exc.strerror or exc})") from None
    try:
        tmp = Path(tempfile.mkdtemp(prefix=".ecgrecon-", dir=out.parent))
    except OSError as exc:
        raise RecordError(out.parent, f"cannot write into the output folder ({exc.strerror or exc})") from None
    current = out.with_suffix(".dat")
    try:
        (tmp / (out.name + ".dat")).write_bytes(data)
        current = out.with_suffix(".hea")
        (tmp / (out.name + ".hea")).write_text(header)
        done = [out.with_suffix(".dat")]
        if plot:
            current = out.with_suffix(".png")
            plot_reconstruction(rec, res, model, tmp / (out.name + ".png"))
            done.append(out.with_suffix(".png"))
        done.append(out.with_suffix(".hea"))
        for final in done:
            current = final
            os.replace(tmp / (out.name + final.suffix), final)
        return done
    except OSError as exc:  # a full disk, a file size limit, an I/O error: this record's header stays unwritten
        raise RecordError(current, f"cannot write the output ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def plot_reconstruction(rec: InputRecord, res: Reconstruction, model: ReconModel, path) -> None:
    """PNG: measured leads, then each reconstructed lead (over the original when the input has it,
    with r and RMSE in its title); the first 10 s."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(rec.n_samples, int(round(PLOT_SECONDS * rec.fs)))
    t = np.arange(n) / rec.fs
    rows = len(model.inputs) + len(model.targets)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 1.35 * rows + 0.6), sharex=True, squeeze=False)
    for j, lead in enumerate(model.inputs):
        ax = axes[j, 0]
        ax.plot(t, res.measured[:n, j], color="black", lw=0.8)
        ax.set_title(f"{lead} (measured)", fontsize=8, loc="left")
    for j, lead in enumerate(model.targets):
        ax = axes[len(model.inputs) + j, 0]
        title = f"{lead}{RECON_SUFFIX} (reconstructed)"
        if lead in res.originals:
            ax.plot(t, res.originals[lead][:n], color="black", lw=0.8, label="original")
            d = res.metrics[lead]
            title += f" vs original {lead}: r {d['pearson']:.3f}, RMSE {d['rmse']:.3f} mV"
        ax.plot(t, res.reconstructed[:n, j], color="tab:red", lw=0.8, label="reconstructed")
        ax.set_title(title, fontsize=8, loc="left")
    for ax in axes[:, 0]:
        ax.set_ylabel("mV", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("s")
    if res.originals:
        axes[len(model.inputs), 0].legend(fontsize=7, loc="upper right")
    shown = "" if n == rec.n_samples else f", first {PLOT_SECONDS:g} s"
    fig.suptitle(f"{rec.base.name}: {model.meta['variant']} model {model.path.name}{shown}", fontsize=9)
    fig.tight_layout()
    save_png(fig, path, dpi=100)


def reconstruct_file(path, out: Path, model: ReconModel, plot: bool = False) -> tuple[Reconstruction, list[Path]]:
    """Read, reconstruct and write one record; nothing is written when the input is bad."""
    rec = read_input(path, model)
    res = reconstruct_record(rec, model)
    return res, write_output(out, rec, res, model, plot)


@dataclass
class Outcome:
    """What happened to one input record (``error`` is the one-line message when it failed)."""

    source: Path
    output: Path
    error: str | None = None
    files: list[str] = field(default_factory=list)
    n_samples: int = 0
    fs: float = 0.0
    metrics: dict = field(default_factory=dict)


_MODEL: ReconModel | None = None  # the model of forked worker processes (inherited, not pickled)


def os_error_line(exc: OSError, default) -> str:
    """``"<file>: <reason>"`` of an OSError (the file it names, else ``default``)."""
    name = exc.filename if exc.filename is not None else default
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"{name}: {reason}" + (f" (-> {exc.filename2})" if exc.filename2 else "")


def _run_one(task: tuple) -> Outcome:
    """One record; any failure becomes the Outcome's one-line error (the batch goes on)."""
    src, out, plot = task
    try:
        res, files = reconstruct_file(src, out, _MODEL, plot)
    except RecordError as exc:
        return Outcome(Path(src), Path(out), error=str(exc))
    except OSError as exc:  # unwritable output, a path below a regular file, a full disk, a symlink loop
        return Outcome(Path(src), Path(out), error=os_error_line(exc, out))
    except Exception as exc:  # noqa: BLE001 - one record's failure must not cancel the batch
        msg = str(exc).splitlines()[0] if str(exc) else ""
        return Outcome(Path(src), Path(out), error=f"{src}: unexpected error ({type(exc).__name__}: {msg})")
    return Outcome(Path(src), Path(out), None, [str(f) for f in files], len(res.measured), res.fs, res.metrics)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def run_records(model: ReconModel, items: list[tuple[Path, Path]], plot: bool = False, jobs: int = 1, threads: int = 1):
    """Yield an :class:`Outcome` per (input record, output record), in input order.

    A bad record yields its error and the others go on. ``jobs`` > 1 uses forked worker
    processes on Linux (each with ``threads`` torch threads; the model is inherited, not
    copied through a pipe); elsewhere records run one after the other.
    """
    import multiprocessing
    import sys

    global _MODEL
    _MODEL = model
    _init_worker(threads)
    tasks = [(src, out, plot) for src, out in items]
    if model.device.type != "cpu":
        jobs = 1  # one process owns the GPU (CUDA does not survive fork)
    if jobs <= 1 or len(tasks) <= 1 or not sys.platform.startswith("linux"):
        yield from map(_run_one, tasks)
        return
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker, initargs=(threads,)) as pool:
        yield from pool.imap(_run_one, tasks, chunksize=4)
