"""Value checks of a schema-valid config, run by the workflow at start (rules/common.smk).

The JSON schema checks each value alone; these check values against each other, against the
data the config points at and against the config files themselves (a key given twice in one
YAML file, where the last one would silently win). Each problem is one line naming the key and
the value, so the workflow can refuse the run before any job starts.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ecgrecon import RECORD_WINDOW_S
from ecgrecon.synth.record import DURATION_S as SYNTH_DURATION_S

__all__ = ["RECORD_SECONDS", "config_problems", "duplicate_keys"]

PTBXL_SECONDS = 10.0
RECORD_SECONDS = {"synthetic": SYNTH_DURATION_S, "ptbxl_local": PTBXL_SECONDS, "ptbxl_download": PTBXL_SECONDS}
"""Length (s) of every record of a main dataset; datasets: kinds with fixed-length records below."""
KIND_SECONDS = {"ptbxl": PTBXL_SECONDS, "ludb": 10.0}  # ptbdb, cinc2021: records of varying length
STRIDED_SECTIONS = ("decoder", "decoder_denoise")


def duplicate_keys(path) -> list[str]:
    """One line per mapping key given twice in the YAML (or JSON) file ``path``, nested keys dotted."""
    text = Path(path).read_text()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []  # Snakemake reports unparsable files itself
    out: list[str] = []

    def walk(node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            first: dict[str, tuple] = {}
            for key, value in node.value:
                name = f"{prefix}{key.value}" if isinstance(key, yaml.ScalarNode) else None
                if name is not None and key.value != "<<":
                    if name in first:
                        (k0, v0), shown = first[name], ""
                        if isinstance(v0, yaml.ScalarNode) and isinstance(value, yaml.ScalarNode):
                            shown = f": {v0.value}, then {value.value}"
                        lines = f"lines {k0.start_mark.line + 1} and {key.start_mark.line + 1}{shown}"
                        out.append(f"{path}: key {name} given twice ({lines}; the last would win)")
                    else:
                        first[name] = (key, value)
                walk(value, f"{name}." if name else prefix)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                walk(item, prefix)

    walk(root, "")
    return out


def _path(p, basedir) -> Path:
    q = Path(str(p)).expanduser()
    return q if q.is_absolute() else Path(basedir) / q


def config_problems(config: dict, basedir) -> list[str]:
    """Every inconsistency of a schema-valid ``config`` (relative paths: to ``basedir``), one line each."""
    out: list[str] = []
    lo, hi = config["qc"]["percentiles"]
    if not lo < hi:
        out.append(f"qc.percentiles: {[lo, hi]} must be [low, high] with low < high")
    clean = config["clean"]
    f_lo, f_hi = clean["bandpass_hz"]
    if not f_lo < f_hi:
        out.append(f"clean.bandpass_hz: {[f_lo, f_hi]} must be [low, high] Hz with low < high")
    duration, fs, window = clean["duration_s"], clean["fs"], config["segment"]["window"]
    known = RECORD_SECONDS.get(config["dataset"])
    if known is not None and duration > known:
        out.append(
            f"clean.duration_s: {duration:g} s is longer than the {config['dataset']} records ({known:g} s): "
            "every record would be quarantined as too short"
        )
    for name, spec in (config.get("datasets") or {}).items():
        seconds = KIND_SECONDS.get(spec["kind"])
        if seconds is not None and duration > seconds:
            out.append(f"clean.duration_s: {duration:g} s is longer than the records of datasets.{name} ({spec['kind']}: {seconds:g} s)")
    n_samples = int(round(duration * fs))
    if window > n_samples:
        out.append(
            f"segment.window: {window} samples is longer than a cleaned record "
            f"(clean.duration_s {duration:g} s x clean.fs {fs:g} Hz = {n_samples} samples)"
        )
    for section in STRIDED_SECTIONS:
        stride = (config.get(section) or {}).get("stride")
        if stride and window % stride:
            out.append(f"segment.window: {window} is not a multiple of {section}.stride {stride}")
    split = config["split"]
    names = ("train_folds", "val_folds", "test_folds")
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            both = sorted(set(split[a]) & set(split[b]))
            if both:
                out.append(f"split: fold(s) {both} in both split.{a} and split.{b} (a patient would be in two splits)")
    k = split["cv_k"]
    for fold in config["evaluation"]["folds"]:
        m = re.fullmatch(r"cv(\d+)", fold)
        if m and int(m.group(1)) >= k:
            out.append(f"evaluation.folds: {fold!r} does not exist with split.cv_k: {k} (folds cv0 .. cv{k - 1})")
    if config["dataset"] == "ptbxl_local" and config["data"]["ptbxl_dir"]:
        folder = _path(config["data"]["ptbxl_dir"], basedir)
        if not folder.is_dir():
            out.append(f"data.ptbxl_dir: {config['data']['ptbxl_dir']} is not a folder ({folder} does not exist)")
    for name, spec in (config.get("datasets") or {}).items():
        folder = _path(spec["path"], basedir)
        if not folder.is_dir():
            out.append(f"datasets.{name}.path: {spec['path']} is not a folder ({folder} does not exist)")
    synth = config.get("synth") or {}
    if synth.get("leadfield") == "calibrated" and config["dataset"] == "synthetic":
        cal = synth["calibration"]
        folder = _path(cal["data"], basedir)
        from ecgrecon.io.adapters import SHARED_FOLDERS as sub

        missing = [name for name in cal["fit"] if not (folder / sub[name]).is_dir()]
        if missing:
            out.append(f"synth.calibration.data: {cal['data']} has no {sub[missing[0]]}/ folder ({folder}) for fitting "
                       f"{missing[0]}; synth.leadfield: calibrated needs the real records (or use leadfield: dower)")  # fmt: skip
    out += _diffusion_problems(config)
    return out


def _diffusion_problems(config: dict) -> list[str]:
    d = config.get("diffusion")
    if not d:
        return []
    out, prior, window = [], d["prior"], config["segment"]["window"]
    if d["sampler"] not in d["samplers"]:
        out.append(f"diffusion.sampler: {d['sampler']!r} is not among diffusion.samplers {d['samplers']}")
    factor = 2 ** (len(prior["channels"]) - 1)
    if prior.get("window", "segment") == "record":
        n = int(round(RECORD_WINDOW_S * float(config["clean"]["fs"])))  # the prior's record window
        if n % factor:
            out.append(f"diffusion.prior.window: record windows of {n} samples are not a multiple of {factor} "
                       f"(2 ** (levels - 1) of diffusion.prior.channels {prior['channels']})")  # fmt: skip
    elif window % factor:
        out.append(
            f"segment.window: {window} is not a multiple of {factor} (2 ** (levels - 1) of diffusion.prior.channels {prior['channels']})"
        )
    if d.get("labels", "none") == "record" and not prior["conditional"]:
        out.append("diffusion.labels: record needs a class-conditional prior (diffusion.prior.conditional: true)")
    if prior["attention"] and prior["channels"][-1] % prior["heads"]:
        out.append(f"diffusion.prior.heads: {prior['heads']} does not divide the bottleneck width {prior['channels'][-1]}")
    if d["steps"] > prior["T"]:
        out.append(f"diffusion.steps: {d['steps']} sampling steps exceed diffusion.prior.T {prior['T']}")
    if prior["eval_every"] > prior["max_steps"]:
        out.append(f"diffusion.prior.eval_every: {prior['eval_every']} is larger than max_steps {prior['max_steps']} (no validation)")
    return out
