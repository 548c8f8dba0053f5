"""A corpus of hostile inputs for ``ecgrecon reconstruct`` (and any command that reads the same
records and bundles, e.g. ``ecgrecon evaluate``), built on disk from the project's synthetic
cohort (:func:`ecgrecon.synth.cohort.simulate_cohort`, :func:`ecgrecon.synth.noise.corrupt`).

``make_corpus(folder)`` writes good records beside bad ones and returns a :class:`Corpus`:
``corpus.inputs`` are the ``--input`` arguments of one batch (a folder of records, a RECORDS
list, a path that does not exist), ``corpus.cases`` names every entry with the file its error
line must name and a substring of the reason (``None``: a good record that must be written),
``corpus.bad_bundles`` the same for ``--model`` files (each refused before any record is read),
and ``corpus.blockers`` the regular files to create in the output folder (:func:`block_outputs`)
so that one record's output folder cannot be created. ``corpus.expected()`` is ``{name: reason}``.

Every bundle here is real: :func:`make_bundle` packs freshly initialised (untrained, seeded)
modules of the default architecture families with :func:`ecgrecon.deploy.bundle.assemble_bundle`.
"""

from __future__ import annotations

import copy
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import wfdb
import yaml

from ecgrecon import LEADS12
from ecgrecon.deploy.bundle import CLEAN_KEYS, assemble_bundle, save_bundle
from ecgrecon.learn.models import SignalEncoder, build_decoder, check_variant
from ecgrecon.learn.train_decoder import model_arch
from ecgrecon.synth.cohort import simulate_cohort
from ecgrecon.synth.noise import corrupt

ROOT = Path(__file__).resolve().parents[2]
INPUTS = ["I", "II", "V2"]
TARGETS = ["V1", "V3", "V4", "V5", "V6"]
OUT_SUFFIX = "_recon"


@dataclass(frozen=True)
class Case:
    """One corpus entry: ``named`` is the file its error line names (a relative path lies in the
    output folder), ``reason`` a substring of the reason; None for a good record, whose ``source``
    must give the output record ``output`` (relative to the output folder)."""

    named: Path | None
    reason: str | None
    output: Path | None = None
    source: Path | None = None


@dataclass
class Corpus:
    bundle: Path  # the good bundle the bad ones are derived from
    inputs: list[Path]  # --input arguments of one batch
    cases: dict[str, Case] = field(default_factory=dict)
    bad_bundles: dict[str, Case] = field(default_factory=dict)
    blockers: list[str] = field(default_factory=list)  # regular files to put into the output folder

    def expected(self) -> dict[str, str | None]:
        return {name: c.reason for name, c in {**self.cases, **self.bad_bundles}.items()}

    def good(self) -> dict[str, Case]:
        return {name: c for name, c in self.cases.items() if c.reason is None}


def make_bundle(path, variant: str = "Ch", seed: int = 0) -> Path:
    """A real, small bundle of untrained modules (config.yaml's cleaning and window)."""
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    torch.manual_seed(seed)
    arch = {"proj": 8, "hidden": 8, "stride": int(cfg["decoder"]["stride"]), "out_channels": 4}
    uses_h = check_variant(variant).uses_h
    h_dim = 16 if uses_h else 0
    decoders = {lead: build_decoder(variant, len(INPUTS), h_dim, arch) for lead in TARGETS}
    n_params = {lead: sum(p.numel() for p in d.parameters()) for lead, d in decoders.items()}
    info = {lead: {"arch": model_arch(d), "h_dim": h_dim, "n_params": n_params[lead]} for lead, d in decoders.items()}
    extra = {}
    if uses_h:
        enc = SignalEncoder(len(INPUTS), h_dim, 4)
        extra = {
            "encoder": enc,
            "encoder_info": {"embed_dim": h_dim, "width": 4, "n_params": sum(p.numel() for p in enc.parameters())},
            "h_mean": np.zeros(h_dim, np.float32),
            "h_std": np.ones(h_dim, np.float32),
        }
    settings = {
        "inputs": INPUTS,
        "targets": TARGETS,
        "clean": {k: cfg["clean"][k] for k in CLEAN_KEYS},
        "window": int(cfg["segment"]["window"]),
        "hop": int(cfg["segment"]["hop"]),
        "tile_reps": False,
    }
    for d in decoders.values():
        d.eval()
    bundle = assemble_bundle(variant=variant, fold="official", settings=settings, decoders=decoders, decoder_info=info, **extra)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_bundle(bundle, path, path.with_suffix(".json"))
    return path


def write_record(base: Path, sig: np.ndarray, names: list[str], fs: float) -> Path:
    """A WFDB record (format 16, 1000 adu/mV); NaN samples are written as WFDB "invalid"."""
    base.parent.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        base.name,
        fs=fs,
        units=["mV"] * len(names),
        sig_name=list(names),
        p_signal=np.asarray(sig, np.float64),
        fmt=["16"] * len(names),
        adc_gain=[1000.0] * len(names),
        baseline=[0] * len(names),
        write_dir=str(base.parent),
    )
    return base


def _edit_header(base: Path, record_line=None, signal_line=None, drop_signal: int | None = None) -> Path:
    """Rewrite a header: ``record_line(tokens)`` / ``signal_line(tokens)`` edit the token lists."""
    hea = base.with_name(base.name + ".hea")
    lines = hea.read_text().splitlines()
    tok = lines[0].split()
    lines[0] = " ".join(record_line(tok) if record_line else tok)
    sig = lines[1:]
    if signal_line:
        sig = [" ".join(signal_line(ln.split())) for ln in sig]
    if drop_signal is not None:
        del sig[drop_signal]
    hea.write_text("\n".join([lines[0], *sig]) + "\n")
    return hea


def _corrupted(sig: np.ndarray, kind: str, fs: float) -> tuple[np.ndarray, str]:
    """``corrupt(kind)`` with the first seed whose corrupted lead is one of the model's inputs."""
    for seed in range(1000):
        out, lead = corrupt(sig, kind, np.random.default_rng(seed), fs)
        if LEADS12[lead] in INPUTS:
            return out, LEADS12[lead]
    raise AssertionError("no seed corrupts an input lead")


def _loop(link: Path) -> None:
    link.unlink(missing_ok=True)
    os.symlink(link.name, link)  # points at itself: ELOOP on open / stat


def make_corpus(folder, bundle=None) -> Corpus:
    """Write the corpus below ``folder`` (the bad bundles derive from ``bundle``; default: a
    fresh :func:`make_bundle` of variant Ch)."""
    folder = Path(folder)
    rec_dir, list_dir = folder / "records", folder / "listed"
    bundle = Path(bundle) if bundle is not None else make_bundle(folder / "bundles" / "good.pt")
    sims = simulate_cohort(6, 11, bad_per_thousand=0)["lr"]  # (6, 1000, 12) mV at 100 Hz
    fs = 100.0
    missing = folder / "no_such_record"
    corpus = Corpus(bundle, [rec_dir, list_dir / "RECORDS", missing])
    cases = corpus.cases

    def good(name, base, rel):
        cases[name] = Case(None, None, Path(rel + OUT_SUFFIX), base)

    def bad(name, named, reason):
        cases[name] = Case(Path(named), reason)

    # good records: plain 12 leads, 11 signals holding the inputs (lower-case, shuffled), 250 Hz
    write_record(rec_dir / "good_12", sims[0], LEADS12, fs)
    good("good_12_leads", rec_dir / "good_12", "good_12")
    keep = [7, 0, 1, 2, 3, 4, 5, 6, 8, 9, 10]  # no V6, V2 first
    write_record(rec_dir / "sub" / "good_11", sims[1][:, keep], [LEADS12[k].lower() for k in keep], fs)
    good("good_11_signals", rec_dir / "sub" / "good_11", "sub/good_11")
    import scipy.signal as ss

    write_record(rec_dir / "good_250", ss.resample_poly(sims[2], 5, 2, axis=0), LEADS12, 250.0)
    good("good_250_hz", rec_dir / "good_250", "good_250")
    base = write_record(list_dir / "sub" / "listed_ok", sims[3], LEADS12, fs)
    good("good_listed", base, "sub/listed_ok")

    # damaged data files and lying headers
    b = write_record(rec_dir / "truncated", sims[4], LEADS12, fs)
    dat = b.with_name("truncated.dat")
    dat.write_bytes(dat.read_bytes()[:12000])
    bad("truncated_dat", dat, "truncated .dat: expected 24000 bytes, found 12000")
    b = write_record(rec_dir / "more_samples", sims[4], LEADS12, fs)
    _edit_header(b, record_line=lambda t: [*t[:3], "2000", *t[4:]])
    bad("header_says_more_samples", b.with_name("more_samples.dat"), "truncated .dat: expected 48000 bytes, found 24000")
    b = write_record(rec_dir / "fewer_samples", sims[4], LEADS12, fs)
    _edit_header(b, record_line=lambda t: [*t[:3], "500", *t[4:]])
    bad("header_says_fewer_samples", b.with_name("fewer_samples.dat"), "unexpected .dat size: expected 12000 bytes, found 24000")
    b = write_record(rec_dir / "wrong_fmt", sims[4], LEADS12, fs)
    _edit_header(b, signal_line=lambda t: [t[0], "32", *t[2:]])
    bad("header_says_format_32", b.with_name("wrong_fmt.dat"), "truncated .dat: expected 48000 bytes, found 24000")
    b = write_record(rec_dir / "eleven_of_twelve", sims[4], LEADS12, fs)
    hea = _edit_header(b, drop_signal=11)
    bad("header_declares_12_lists_11", hea, "header declares 12 signals but lists 11")
    (rec_dir / "garbled.hea").write_text("this is not a WFDB header\n")
    bad("garbled_header", rec_dir / "garbled.hea", "malformed record line")
    b = write_record(rec_dir / "no_dat", sims[4], LEADS12, fs)
    b.with_name("no_dat.dat").unlink()
    bad("missing_dat", b.with_name("no_dat.dat"), "missing .dat file")
    b = write_record(rec_dir / "dat_loop", sims[4], LEADS12, fs)
    _loop(b.with_name("dat_loop.dat"))
    bad("dat_symlink_loop", b.with_name("dat_loop.dat"), "unreadable .dat (Too many levels of symbolic links)")
    _loop(rec_dir / "hea_loop.hea")
    bad("hea_symlink_loop", rec_dir / "hea_loop.hea", "unreadable header (Too many levels of symbolic links)")

    # signals the model must not be given
    x = sims[5][:, :].copy()
    x[100:200, LEADS12.index("V2")] = np.nan
    b = write_record(rec_dir / "nan_gap", x, LEADS12, fs)
    bad("nan_gap", b.with_name("nan_gap.hea"), "input lead V2 has 100 NaN sample(s) of 1000")
    x = sims[5].copy()
    x[:, LEADS12.index("II")] = np.nan
    b = write_record(rec_dir / "nan_lead", x, LEADS12, fs)
    bad("nan_only_lead", b.with_name("nan_lead.hea"), "input lead II holds only NaN samples")
    x = sims[5].copy()
    x[:, LEADS12.index("V2")] = 0.0  # the case: V2 set to 0
    b = write_record(rec_dir / "v2_zero", x, LEADS12, fs)
    bad("v2_set_to_zero", b.with_name("v2_zero.hea"), "flat lead(s) V2")
    x, lead = _corrupted(sims[5], "flat", fs)
    b = write_record(rec_dir / "flat", x, LEADS12, fs)
    bad("flat_lead", b.with_name("flat.hea"), f"flat lead(s) {lead}")
    x, lead = _corrupted(sims[5], "saturated", fs)
    b = write_record(rec_dir / "saturated", x, LEADS12, fs)
    bad("saturated_lead", b.with_name("saturated.hea"), f"saturated lead(s) {lead}")
    b = write_record(rec_dir / "names", sims[5], [f"ch{k}" for k in range(12)], fs)
    bad("wrong_lead_names", b.with_name("names.hea"), "missing input lead(s) I, II, V2")
    b = write_record(rec_dir / "short", sims[5][:200], LEADS12, fs)
    bad("too_short", b.with_name("short.hea"), "too short: 200 samples at 100 Hz (2.00 s)")
    b = write_record(rec_dir / "odd_rate", sims[5], LEADS12, fs)
    _edit_header(b, record_line=lambda t: [t[0], t[1], "100.0001", *t[3:]])
    bad("rate_100_0001_hz", b.with_name("odd_rate.hea"), "cannot clean a 100.0001 Hz record")
    b = write_record(rec_dir / "tiny_gain", sims[5], LEADS12, fs)
    _edit_header(b, signal_line=lambda t: [t[0], t[1], "1e-30(0)/mV", *t[3:]])
    bad("adc_gain_1e-30", b.with_name("tiny_gain.hea"), "beyond any ECG")
    b = write_record(rec_dir / "zero_rate", sims[5], LEADS12, fs)
    _edit_header(b, record_line=lambda t: [t[0], t[1], "0", *t[3:]])
    bad("rate_zero", b.with_name("zero_rate.hea"), "invalid sampling rate 0.0 Hz")

    # an output folder that cannot be created: its path is a regular file in the output folder
    write_record(rec_dir / "blocked" / "rec", sims[3], LEADS12, fs)
    corpus.blockers.append("blocked")
    cases["output_below_a_file"] = Case(Path("blocked"), "cannot create the output folder")  # relative to the output

    # a RECORDS list with one good entry and two bad ones, and a --input path that does not exist
    _loop(list_dir / "loop_dir")
    (list_dir / "RECORDS").write_text("# comment\nsub/listed_ok\n../records/good_12\nnot_there\nloop_dir/rec\n")
    bad("list_entry_through_a_symlink_loop", list_dir / "loop_dir" / "rec.hea", "unreadable header (Too many levels of symbolic links)")
    bad("list_entry_outside_root", list_dir / "RECORDS", "entry '../records/good_12': path outside data root ('..' refused)")
    bad("list_entry_missing", list_dir / "not_there.hea", "missing file")
    bad("input_path_missing", missing, "no such record (.hea), folder or RECORDS list")

    corpus.bad_bundles = make_bad_bundles(folder / "bundles", bundle)
    return corpus


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo this bundle ran code",))


def make_bad_bundles(folder, bundle) -> dict[str, Case]:
    """Bundles that must be refused at load, derived from the good ``bundle`` (variant Ch)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = torch.load(bundle, weights_only=True)
    out = {}

    def save(name, b, reason):
        p = folder / f"{name}.pt"
        torch.save(b, p)
        out[name] = Case(p, reason)

    b = copy.deepcopy(good)
    b["h_norm"]["std"][3] = float("nan")
    save("nan_h_statistics", b, "non-finite values (NaN or inf) in h_norm.std")
    b = copy.deepcopy(good)
    b["h_norm"]["mean"][:] = float("nan")
    save("nan_h_mean", b, "non-finite values (NaN or inf) in h_norm.mean")
    b = copy.deepcopy(good)
    w = next(k for k in b["decoders"]["V4"] if k.endswith("weight"))
    b["decoders"]["V4"][w].view(-1)[0] = float("inf")
    save("inf_decoder_weight", b, f"non-finite values (NaN or inf) in decoders.V4.{w}")
    for name, v in (("fs_zero", 0.0), ("fs_negative", -100.0), ("fs_nan", float("nan"))):
        b = copy.deepcopy(good)
        b["meta"]["fs"] = v
        save(name, b, f"invalid model sampling rate meta.fs = {v!r}")
    b = copy.deepcopy(good)
    b["format_version"] = 99
    save("format_version_99", b, "incompatible bundle format version 99")
    save("not_a_bundle", {"state_dict": good["decoders"]["V1"]}, "not an ecgrecon model bundle")
    p = folder / "malicious.pt"
    torch.save({"format": "ecgrecon-bundle", "payload": _Evil()}, p, pickle_module=pickle)
    out["malicious_pickle"] = Case(p, "refused by the weights-only loader")
    p = folder / "truncated.pt"
    p.write_bytes(Path(bundle).read_bytes()[:5000])
    out["truncated_bundle"] = Case(p, "not a readable ecgrecon model bundle")
    return out


def block_outputs(out_dir, corpus: Corpus) -> None:
    """Create the regular files of ``corpus.blockers`` in ``out_dir`` (before the run)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel in corpus.blockers:
        (out_dir / rel).write_text("a regular file where an output folder would go\n")
