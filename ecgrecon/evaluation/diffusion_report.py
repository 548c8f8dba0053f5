"""The diffusion prior on a task: posterior sampling (rule ``sample_diffusion``: depends on the prior, the task's
observation and the sampling settings only) and its tables beside the task's other methods (rule
``evaluate_diffusion``: reruns when they change, without resampling).

Windows: the record-level windows (segments.h5 ``records/``: non-overlapping, covering each record) of ``records``
test records of the official fold, drawn with the run's seed (0: every test record), so that a record-level table
exists too; posterior sampling of every test segment is too slow for a CPU run. The other methods of the task are
scored on exactly these windows: a clean task's from its ``predictions.h5`` (``official/records/``, the evaluate
rule's own numbers), a noise task's re-predicted on the same noisy windows (:func:`ecgrecon.evaluation.noisy.
predict_entries`, the noise assignment of the evaluate_noise rule).

Observation operator (:func:`observation`): the task's input leads among the prior's 8 (I, II, V1-V6), every
sample, in the prior's scaled space; a noise task adds Gaussian observation noise per window and lead with the
standard deviation the level implies: for a dB level, the RMS of the noisy input times sqrt(10^(-L/10) / (1 +
10^(-L/10))) (the level is an SNR of mean squares, :func:`ecgrecon.noise.corrupt.gains`); for the ``bedin`` preset
(a peak-to-peak ratio), the RMS of the noise actually added (an oracle of its level, not of its waveform). Real
baseline wander and electrode motion are neither white nor Gaussian: the likelihood is the samplers' model, not
the noise's.

Per sampler (``samplers``; the ``sampler`` one is the ``Diffusion`` row, others ``Diffusion (ddnm)`` ...): K
samples per window (seeded per task, sampler and level), the posterior mean as the reconstruction (targets from
the 8 sampled leads, derived leads as every method gets them, :func:`ecgrecon.tasks.with_derived`).

Metrics (``metrics.csv``: method x lead and ``Mean`` over the scored leads; a noise task: per level): ``rmse``
(pooled, mV), ``rmse_seg``, ``r2`` (pooled), ``pearson`` (per-window r, mean), the record-level RMSE (per record,
pooled over its scored leads; mean and 95 % CI half-width over records); for the samplers also ``single_rmse`` (the
mean over the K samples of each sample's pooled RMSE: the source's convention of reporting single samples),
``cov50`` / ``cov90`` (share of true samples inside the central 50 / 90 % interval of the K samples, linear
quantile interpolation: with K = 4 these intervals are coarse, calibrated samples reach 0.5 / 0.9 only as K grows)
and ``post_std`` (mean posterior standard deviation, mV). ``cost.csv``: per sampler and level network evaluations
and backward passes per sample, seconds per window (all K samples), windows per second. ``morphology.csv``: R
amplitude, ST60 and T amplitude errors (:func:`ecgrecon.signal.morphology.morphology_table`) on the windows.
``samples.h5``: win_id, truth, per sampler the posterior mean and the K samples (scored leads, mV).
``samples.png``: the K samples around the truth for a few windows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import h5py
import numpy as np
import pandas as pd
import torch

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, label_lists, load_folds, read_leads, read_segment_meta
from ecgrecon.data.records import read_record_predictions
from ecgrecon.evaluation.cells import fmt
from ecgrecon.evaluation.plots import color
from ecgrecon.io.atomic import atomic_path, save_png, write_csv
from ecgrecon.learn.classifier import CLASSES, multi_hot
from ecgrecon.learn.device import derive_seed, resolve_device
from ecgrecon.learn.diffusion.prior import PRIOR_LEADS, Prior, derive_12, load_prior
from ecgrecon.learn.diffusion.records import record_length, to_records, to_windows
from ecgrecon.learn.diffusion.samplers import METHODS as SAMPLERS
from ecgrecon.learn.diffusion.samplers import Observation, Stacked, sample, sampler_options
from ecgrecon.methods import display
from ecgrecon.noise.corrupt import BEDIN, level_label
from ecgrecon.signal.metrics import lead_metrics, mean_ci, reassemble
from ecgrecon.signal.morphology import morphology_table, replace_leads
from ecgrecon.tasks import Task, TaskError, with_derived

FOLD = "official"
LABELS = ("none", "record")
"""``diffusion.labels``: what a class-conditional prior is sampled with (none: its null label, i.e. unconditionally;
record: each test record's own diagnostic superclasses, Bedin et al.'s SCP-conditioned reconstruction, which assumes
the diagnosis is known when the leads are rebuilt)."""
COLUMNS = ["level", "method", "lead", "n_windows", "rmse", "rmse_seg", "r2", "pearson", "record_rmse", "record_rmse_ci",
           "single_rmse", "cov50", "cov90", "post_std"]  # fmt: skip


@dataclass
class DiffusionSettings:
    """The ``diffusion`` config section's sampling part, with the run's seed and device."""

    sampler: str = "mgps"
    samplers: tuple = ("mgps",)
    options: dict = field(default_factory=dict)
    K: int = 4  # noqa: N815 - the issue's name
    steps: int = 20
    records: int = 8
    guidance: float = 1.0
    labels: str = "none"  # none: a conditional prior samples through its null label | record: each record's superclasses
    seed: int = 0
    device: str = "auto"

    def __post_init__(self):
        bad = [s for s in (self.sampler, *self.samplers) if s not in SAMPLERS]
        if bad:
            raise ValueError(f"diffusion.samplers: unknown sampler {bad[0]!r} (one of {', '.join(SAMPLERS)})")
        if self.sampler not in self.samplers:
            raise ValueError(f"diffusion.sampler {self.sampler!r} must be one of diffusion.samplers {list(self.samplers)}")
        for name, opts in (self.options or {}).items():
            if name not in SAMPLERS:
                raise ValueError(f"diffusion.options: unknown sampler {name!r} (one of {', '.join(SAMPLERS)})")
            bad = sorted(set(opts or {}) - set(sampler_options(name)))
            if bad:
                raise ValueError(f"diffusion.options.{name}: unknown option(s) {bad} (has: {', '.join(sampler_options(name))})")
        if self.labels not in LABELS:
            raise ValueError(f"diffusion.labels must be one of {', '.join(LABELS)}, got {self.labels!r}")
        if self.K < 1:
            raise ValueError(f"diffusion.K must be >= 1 (posterior samples per window), got {self.K}")
        if self.records < 0 or self.steps < 2:
            raise ValueError(f"diffusion.records must be >= 0 and diffusion.steps >= 2, got {self.records}, {self.steps}")

    @classmethod
    def of(cls, cfg: dict, seed: int, device: str) -> DiffusionSettings:
        keys = ("sampler", "samplers", "options", "K", "steps", "records", "guidance", "labels")
        return cls(**{k: tuple(cfg[k]) if k == "samplers" else cfg[k] for k in keys if k in cfg}, seed=int(seed), device=device)

    def label(self, sampler: str) -> str:
        return display("diffusion") if sampler == self.sampler else f"{display('diffusion')} ({sampler})"


# ---------------------------------------------------------------- windows, observation, sampling


@dataclass
class Windows:
    """Record-level test windows of the chosen records: truth (n, 12, W) mV, meta rows (ecg_id, start, ...)."""

    rows: np.ndarray
    meta: pd.DataFrame
    truth12: np.ndarray
    fs: float


def choose_records(test_ids, n: int, seed: int, purpose: str = "diffusion") -> np.ndarray:
    """``n`` of the test records (all when n is 0 or larger), drawn with ``seed`` for ``purpose`` (diffusion, printout:
    each stage draws its own subset); ascending."""
    ids = np.unique(np.asarray(test_ids, np.int64))
    if n == 0 or n >= len(ids):
        return ids
    rng = np.random.default_rng(derive_seed(seed, purpose, "records"))
    return np.sort(rng.choice(ids, size=n, replace=False))


def load_windows(segments_h5, folds_json, n_records: int, seed: int) -> Windows:
    meta, attrs = read_segment_meta(segments_h5, "records")
    test = load_folds(folds_json, FOLD)["test"]
    ids = choose_records(np.intersect1d(test, meta["ecg_id"].to_numpy(np.int64)), n_records, seed)
    rows = np.flatnonzero(np.isin(meta["ecg_id"].to_numpy(np.int64), ids))
    if not len(rows):
        raise ArtifactError(f"{segments_h5}: no record-level windows of the {FOLD} fold's test records")
    return Windows(
        rows, meta.iloc[rows].reset_index(drop=True), read_leads(segments_h5, list(LEADS12), rows, "records"), float(attrs["fs"])
    )


def noise_sigma(noisy: np.ndarray, clean: np.ndarray, level) -> np.ndarray:
    """(n, L) standard deviation of the observation noise a level implies (module docstring), mV."""
    if level == BEDIN:
        return np.sqrt(np.mean(np.square(noisy.astype(np.float64) - clean), axis=-1))
    r = 10.0 ** (-float(level) / 10.0)
    return np.sqrt(np.mean(np.square(noisy.astype(np.float64)), axis=-1) * r / (1.0 + r))


def observation(task: Task, x_in: np.ndarray, scale: float, sigma_in: np.ndarray | None = None, n_valid=None) -> Observation:
    """The task's observation of the prior's 8 leads (:func:`lead_observation` of its inputs); a task observing none
    of them is a TaskError (the config check refuses it at start)."""
    if not set(task.inputs) & set(PRIOR_LEADS):
        raise TaskError(
            f"tasks.{task.name}: method diffusion observes none of the prior's leads {', '.join(PRIOR_LEADS)} "
            f"(inputs {', '.join(task.inputs)}): nothing to condition on"
        )
    return lead_observation(task.inputs, x_in, scale, sigma_in, n_valid=n_valid)


def lead_observation(inputs, x_in: np.ndarray, scale: float, sigma_in: np.ndarray | None = None, device="cpu", n_valid=None) -> Observation:
    """Windows x_in (n, len(inputs), W) mV seen through the prior: its leads among ``inputs``, every sample, scaled;
    ``sigma_in`` (n, len(inputs)) mV: Gaussian observation noise per window and lead (None: exact); ``n_valid`` (n,):
    only the first n_valid[k] samples of window k are seen (a record padded to the prior's record window)."""
    n, _, w = x_in.shape
    y = np.zeros((n, len(PRIOR_LEADS), w), np.float64)
    mask = np.zeros(y.shape, bool)
    sig = np.zeros((n, len(PRIOR_LEADS), 1), np.float64)
    for k, lead in enumerate(inputs):
        if lead in PRIOR_LEADS:
            j = PRIOR_LEADS.index(lead)
            y[:, j], mask[:, j] = x_in[:, k] / scale, True
            if sigma_in is not None:
                sig[:, j, 0] = sigma_in[:, k] / scale
    if n_valid is not None:
        mask &= np.arange(w)[None, None, :] < np.asarray(n_valid, np.int64)[:, None, None]
    sigma = torch.from_numpy(sig).float().to(device) if sigma_in is not None else 0.0
    return Observation(torch.from_numpy(mask).to(device), torch.from_numpy(y).float().to(device), sigma, event_dims=2)


def posterior(prior: Prior, obs: Observation, sampler: str, s: DiffusionSettings, *, key: str, labels=None) -> dict:
    """K posterior samples of the 8 leads for every window: samples (K, n, 8, W) and mean (n, 8, W) in mV, nfe, nvjp,
    seconds (all windows)."""
    g = torch.Generator().manual_seed(derive_seed(s.seed, "diffusion", key, sampler))
    rows = None if labels is None else np.tile(np.asarray(labels, np.float32), (s.K, 1))  # (K * n, classes): Stacked's rows
    den = Stacked(prior.denoiser(rows, s.guidance))
    t0 = time.perf_counter()
    out = sample(sampler, den, prior.schedule, obs, s.K, steps=s.steps, generator=g, **dict(s.options.get(sampler) or {}))
    samples = out["samples"].double().numpy() * prior.scale
    return {"samples": samples, "mean": samples.mean(axis=0), "nfe": out["nfe"], "nvjp": out["nvjp"], "seconds": time.perf_counter() - t0}


def scored_of(task: Task, x8: np.ndarray, x_in: np.ndarray) -> np.ndarray:
    """(..., 8, W) sampled leads -> (..., n_scored, W): the task's targets from the 12 derived leads, then its derived
    leads as every method gets them (inputs where measured)."""
    x12 = derive_12(x8)
    tgt = x12[..., [LEADS12.index(t) for t in task.targets], :]
    if not task.derived:
        return tgt
    flat = tgt.reshape(-1, *tgt.shape[-2:])
    rep = np.broadcast_to(x_in, (flat.shape[0] // len(x_in), *x_in.shape)).reshape(-1, *x_in.shape[1:])
    return with_derived(flat, rep, task).reshape(*tgt.shape[:-2], len(task.scored), tgt.shape[-1])


# ---------------------------------------------------------------- metrics


def record_rmse(y: np.ndarray, p: np.ndarray, meta: pd.DataFrame) -> tuple[float, float]:
    """Mean and 95 % CI half-width over records of the per-record RMSE (records reassembled from their windows)."""
    ty, tp = reassemble(y, meta), reassemble(p, meta)
    vals = np.array([np.sqrt(np.mean((tp[i].astype(np.float64) - ty[i]) ** 2)) for i in ty])
    mean, half, _ = mean_ci(vals)
    return float(mean), float(half)


def method_rows(level: str, label: str, y, p, leads, meta, samples=None) -> list[dict]:
    """Rows per lead and Mean of one predictor (y, p: (n, J, W) mV; ``samples`` (K, n, J, W) for a sampler)."""
    rows = []
    for j, lead in enumerate([*leads, "Mean"]):
        sl = slice(None) if lead == "Mean" else slice(j, j + 1)
        yy, pp = y[:, sl], p[:, sl]
        if lead == "Mean":
            per = [lead_metrics(y[:, k], p[:, k]) for k in range(len(leads))]
            m = {k: float(np.mean([q[k] for q in per])) for k in ("rmse_seg", "r2", "pearson_seg")}
            m["rmse"] = float(np.sqrt(np.mean((p.astype(np.float64) - y) ** 2)))
        else:
            m = lead_metrics(yy[:, 0], pp[:, 0])
        rec, ci = record_rmse(yy, pp, meta)
        row = {"level": level, "method": label, "lead": lead, "n_windows": len(y), "rmse": m["rmse"], "rmse_seg": m["rmse_seg"],
               "r2": m["r2"], "pearson": m["pearson_seg"], "record_rmse": rec, "record_rmse_ci": ci}  # fmt: skip
        if samples is not None:
            sm = samples[:, :, sl].astype(np.float64)
            row["single_rmse"] = float(np.mean([np.sqrt(np.mean((s - yy) ** 2)) for s in sm]))
            for q, name in ((0.5, "cov50"), (0.9, "cov90")):
                lo, hi = np.quantile(sm, [0.5 - q / 2, 0.5 + q / 2], axis=0)
                row[name] = float(np.mean((yy >= lo) & (yy <= hi)))
            row["post_std"] = float(sm.std(axis=0).mean())
        rows.append(row)
    return rows


# ---------------------------------------------------------------- the rule


def _predictions_h5(path, win_id: np.ndarray, scored) -> dict:
    """Label -> (n, J, W) of the task's population methods on these record windows (official/records/)."""
    ids, preds, targets = read_record_predictions(path, FOLD)
    if targets != list(scored):
        raise ArtifactError(f"{path}: predictions of leads {targets}, the task scores {list(scored)}")
    pos = pd.Index(ids).get_indexer(win_id)
    if not len(ids) or (pos < 0).any():
        raise ArtifactError(f"{path}: the sampled record windows have no {FOLD}/records predictions (rerun evaluate)")
    return {display(m): p[pos] for m, p in preds.items()}


def _blocks(task: Task, w: Windows, noise) -> list[tuple[str, object, np.ndarray, np.ndarray | None]]:
    """(level label, level (None: clean), task inputs (n, C, W) mV, observation noise sigma (n, C) or None) per level;
    ``clean`` for a clean task. The noisy inputs are the noise task's assignment (deterministic: every rule rebuilds the same)."""
    clean_in = w.truth12[:, [LEADS12.index(lead) for lead in task.inputs]]
    if noise is None:
        return [("clean", None, clean_in, None)]
    ids, starts = w.meta["ecg_id"].to_numpy(np.int64), w.meta["start"].to_numpy(np.int64)
    out = []
    for lv in noise.levels:
        noisy, _ = noise.apply(clean_in, task.inputs, ids, starts, "test", lv)
        out.append((level_label(lv), lv, noisy, noise_sigma(noisy, clean_in, lv)))
    return out


def superclasses_of(segments_h5, ecg_ids, classes) -> np.ndarray:
    """(n, len(classes)) float32 multi-hot superclasses of the records ``ecg_ids`` (the segment meta's labels)."""
    meta, _ = read_segment_meta(segments_h5)
    first = meta.drop_duplicates("ecg_id").set_index("ecg_id")
    missing = sorted(set(np.asarray(ecg_ids).tolist()) - set(first.index))
    if missing:
        raise ArtifactError(f"{segments_h5}: no segment (hence no labels) of record {missing[0]}")
    return multi_hot(label_lists(first.loc[np.asarray(ecg_ids)].reset_index(), "superclass", str(segments_h5)), list(classes))


def _record_sigma(noisy: np.ndarray, clean: np.ndarray, n: np.ndarray, level) -> np.ndarray:
    """(r, C) observation-noise std of padded records (r, C, L): :func:`noise_sigma` over each record's own samples."""
    return np.stack([noise_sigma(noisy[k : k + 1, :, : n[k]], clean[k : k + 1, :, : n[k]], level)[0] for k in range(len(n))])


def sample_diffusion(*, task: Task, prior_pt, segments, folds_json, s: DiffusionSettings, out: dict, noise=None, log=print) -> pd.DataFrame:
    """Rule ``sample_diffusion``: K posterior samples per window and sampler (and level): ``out`` samples (h5), cost (csv).

    A prior of ``window: record`` samples each chosen record whole (padded to 10.24 s, the padding unobserved) and
    its samples are cut into the record's windows (:mod:`ecgrecon.learn.diffusion.records`)."""
    dev = resolve_device(s.device)
    w = load_windows(segments, folds_json, s.records, s.seed)
    prior = load_prior(prior_pt, leads=PRIOR_LEADS, fs=w.fs, device=dev)
    kind = prior.settings.window
    want = record_length(w.fs) if kind == "record" else w.truth12.shape[-1]
    if prior.window != want:
        raise ArtifactError(f"{prior_pt}: prior trained on {kind} windows of {prior.window} samples; this run's {kind} windows have {want}")
    n_rec, n_win = len(np.unique(w.meta["ecg_id"])), len(w.rows)
    log(f"diffusion {task.name}: {n_win} record windows of {n_rec} test records, sampled as {kind} windows of {want} samples; "
        f"samplers {list(s.samplers)}, K {s.K}, {s.steps} steps; prior of {prior.ckpt.get('n_params')} parameters")  # fmt: skip
    clean_in = w.truth12[:, [LEADS12.index(lead) for lead in task.inputs]]
    labels = None
    if s.labels == "record":
        if not prior.settings.conditional:
            raise ArtifactError(f"{prior_pt}: diffusion.labels: record needs a class-conditional prior (diffusion.prior.conditional: true)")
        units = np.unique(w.meta["ecg_id"]) if kind == "record" else w.meta["ecg_id"].to_numpy(np.int64)
        labels = superclasses_of(segments, units, prior.classes or CLASSES)
        log(f"  conditioned on each record's superclasses ({int((labels.sum(axis=1) > 0).sum())} of {len(units)} with a label)")
    clean_rec = to_records(clean_in, w.meta, want)[1] if kind == "record" and noise is not None else None
    cost, keep = [], {}
    for level, lv, x_in, sigma_in in _blocks(task, w, noise):
        if kind == "record":
            ids, xr, n_valid = to_records(x_in, w.meta, want)
            sig = None if sigma_in is None else _record_sigma(xr, clean_rec, n_valid, lv)
            obs = observation(task, xr, prior.scale, sig, n_valid=n_valid)
        else:
            obs = observation(task, x_in, prior.scale, sigma_in)
        keep[level] = {}
        for sampler in s.samplers:
            res = posterior(prior, obs, sampler, s, key=f"{task.name}/{level}", labels=labels)
            if kind == "record":
                res["mean"], res["samples"] = (to_windows(res[k], ids, w.meta, w.truth12.shape[-1]) for k in ("mean", "samples"))
            label, sec = s.label(sampler), res["seconds"]
            keep[level][label] = (scored_of(task, res["mean"], x_in), scored_of(task, res["samples"], x_in))
            cost.append({"level": level, "sampler": sampler, "method": label, "K": s.K, "steps": s.steps, "window": f"{kind} {want}",
                         "nfe_per_sample": res["nfe"], "nvjp_per_sample": res["nvjp"], "seconds_per_window": sec / n_win,
                         "windows_per_s": n_win / sec, "seconds_per_record": sec / n_rec})  # fmt: skip
            log(f"  {level} {label}: {res['nfe']} network evaluations / sample, {sec / n_rec:.3f} s / record (K {s.K})")
    with atomic_path(out["samples"]) as tmp, h5py.File(tmp, "w") as f:
        ck, nan = prior.ckpt, float("nan")
        f.attrs.update({"task": task.name, "scored": list(task.scored), "units": "mV", "K": s.K, "steps": s.steps, "window": kind,
                        "sampler": s.label(s.sampler), "prior_n_params": int(ck.get("n_params", -1)),
                        "prior_best_step": int(ck.get("best_step", -1)), "prior_seconds": float(ck.get("seconds", nan))})  # fmt: skip
        f["win_id"] = w.meta["win_id"].to_numpy(np.int64)
        f["truth"] = w.truth12[:, [LEADS12.index(lead) for lead in task.scored]]
        for level, by in keep.items():
            for label, (mean, draws) in by.items():
                g = f.require_group(f"{level}/{label}")
                g["mean"], g["samples"] = mean.astype(np.float32), draws.astype(np.float32)
    table = pd.DataFrame(cost)
    write_csv(out["cost"], table)
    return table


@dataclass
class Samples:
    """A task's samples.h5: window ids, truth (n, J, W), level -> label -> (posterior mean, samples (K, n, J, W)), attrs."""

    win_id: np.ndarray
    truth: np.ndarray
    draws: dict
    attrs: dict


def read_samples(path) -> Samples:
    try:
        f = h5py.File(path, "r")
    except (FileNotFoundError, OSError) as exc:
        raise ArtifactError(f"{path}: not a readable diffusion samples file ({exc})") from exc
    with f:
        draws = {
            lv: {lab: (f[lv][lab]["mean"][...], f[lv][lab]["samples"][...]) for lab in f[lv]} for lv in f if isinstance(f[lv], h5py.Group)
        }
        return Samples(
            f["win_id"][...], f["truth"][...], draws, {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in f.attrs.items()}
        )


def windows_of(segments_h5, win_id: np.ndarray) -> Windows:
    """The record-level windows ``win_id`` (ascending file rows) of segments.h5."""
    meta, attrs = read_segment_meta(segments_h5, "records")
    pos = pd.Index(meta["win_id"].to_numpy(np.int64)).get_indexer(win_id)
    if (pos < 0).any() or (np.diff(pos) <= 0).any():
        raise ArtifactError(f"{segments_h5}: the sampled windows are not its record windows (rerun sample_diffusion)")
    return Windows(pos, meta.iloc[pos].reset_index(drop=True), read_leads(segments_h5, list(LEADS12), pos, "records"), float(attrs["fs"]))


def evaluate_diffusion(*, task: Task, samples_h5, cost_csv, segments, out: dict, predictions_h5=None, noise=None, noise_settings=None,
                       device: str = "auto", log=print) -> pd.DataFrame:  # fmt: skip
    """Rule ``evaluate_diffusion``: the samplers' posterior means beside the task's other methods on the same windows;
    writes metrics.{csv,md}, morphology.csv, samples.png (``out``: name -> path)."""
    sm = read_samples(samples_h5)
    if list(sm.attrs["scored"]) != list(task.scored):
        raise ArtifactError(f"{samples_h5}: samples of leads {sm.attrs['scored']}, the task scores {list(task.scored)}")
    w = windows_of(segments, sm.win_id)
    y = w.truth12[:, [LEADS12.index(lead) for lead in task.scored]].astype(np.float64)
    dev = resolve_device(device)
    rows, morph, keep = [], [], {}
    for level, _, x_in, _ in _blocks(task, w, noise):
        if level not in sm.draws:
            raise ArtifactError(f"{samples_h5}: no samples for level {level!r} (rerun sample_diffusion)")
        if noise is None:
            others = _predictions_h5(predictions_h5, sm.win_id, task.scored) if predictions_h5 else {}
        else:
            from ecgrecon.evaluation.noisy import predict_entries

            others = predict_entries(noise_settings, x_in, w.meta["ecg_id"].to_numpy(np.int64), w.fs, dev)
        preds = {**others, **{lab: m for lab, (m, _) in sm.draws[level].items()}}
        draws = {lab: d for lab, (_, d) in sm.draws[level].items()}
        for label, p in preds.items():
            rows += method_rows(level, label, y, p.astype(np.float64), task.scored, w.meta, draws.get(label))
        recon = {k: replace_leads(w.truth12, v.astype(np.float32), task.scored) for k, v in preds.items()}
        m, _ = morphology_table(w.truth12, recon, w.fs, task.scored)
        m.insert(0, "level", level)
        morph.append(m)
        keep[level] = (x_in, preds, draws)
    table = pd.DataFrame(rows, columns=COLUMNS)
    write_csv(out["csv"], table)
    write_csv(out["morphology"], pd.concat(morph, ignore_index=True))
    with atomic_path(out["md"]) as tmp:
        tmp.write_text(markdown(table, pd.read_csv(cost_csv), task, sm.attrs, len(np.unique(w.meta["ecg_id"]))))
    samples_figure(w, task, keep, str(sm.attrs["sampler"]), out["png"])
    mean = table[table["lead"] == "Mean"]
    log("diffusion " + "; ".join(f"{r.level} {r.method} RMSE {r.rmse:.4f}" for r in mean.itertuples()))
    return table


def markdown(table: pd.DataFrame, cost: pd.DataFrame, task: Task, attrs: dict, n_records: int) -> str:
    parts = [
        f"# Diffusion prior on task {task.name} ({FOLD} fold, {n_records} test records, record-level windows)",
        "",
        f"Prior: {attrs['prior_n_params']} parameters, best step {attrs['prior_best_step']}, trained {attrs['prior_seconds']:.0f} s, "
        f"on {attrs.get('window', 'segment')} windows. "
        f"Posterior mean of K = {attrs['K']} samples, {attrs['steps']} sampling steps; every other method on the same windows. "
        "single: mean RMSE of one sample (the source's convention); cov50 / cov90: share of true samples inside the "
        "central 50 / 90 % interval of the K samples.",
        "",
    ]
    for level, g in table[table["lead"] == "Mean"].groupby("level", sort=False):
        parts += [f"## {level}" if level != "clean" else "## mean over the scored leads", ""]
        parts += [
            "| method | RMSE (mV) | R² | r | record RMSE (mV ± 95 % CI) | single-sample RMSE | cov50 | cov90 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in g.itertuples():
            parts.append(
                f"| {r.method} | {fmt(r.rmse, 4)} | {fmt(r.r2)} | {fmt(r.pearson)} | "
                f"{fmt(r.record_rmse, 4)} ± {fmt(r.record_rmse_ci, 4)} | {fmt(r.single_rmse, 4)} | "
                f"{fmt(r.cov50, 2)} | {fmt(r.cov90, 2)} |"
            )
        parts.append("")
    parts += ["## cost", "", "| level | sampler | network evaluations / sample | backward passes / sample | s / record | "
              "s / window | windows / s |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in cost.itertuples():
        per_record = getattr(r, "seconds_per_record", float("nan"))
        parts.append(
            f"| {r.level} | {r.sampler} | {r.nfe_per_sample} | {r.nvjp_per_sample} | {fmt(per_record)} | {r.seconds_per_window:.3f} | "
            f"{r.windows_per_s:.2f} |"
        )
    return "\n".join(parts + [""])


def samples_figure(w: Windows, task: Task, keep: dict, label: str, path, n_show: int = 3) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    level = next(iter(keep))
    _, preds, draws = keep[level]
    lead = next(t for t in task.targets if t not in task.inputs) if any(t not in task.inputs for t in task.targets) else task.targets[0]
    j = task.scored.index(lead)
    pick = np.linspace(0, len(w.rows) - 1, min(n_show, len(w.rows))).round().astype(int)
    t = np.arange(w.truth12.shape[-1]) / w.fs
    fig, axes = plt.subplots(len(pick), 1, figsize=(8, 2.2 * len(pick)), squeeze=False)
    for ax, i in zip(axes[:, 0], pick, strict=True):
        for k in range(draws[label].shape[0]):
            ax.plot(t, draws[label][k, i, j], color=color("diffusion"), lw=0.6, alpha=0.5, label="samples" if k == 0 else None)
        ax.plot(t, w.truth12[i, LEADS12.index(lead)], color="black", lw=1.2, label="truth")
        ax.plot(t, preds[label][i, j], color=color("diffusion"), lw=1.4, ls="--", label="posterior mean")
        if "GL" in preds:
            ax.plot(t, preds["GL"][i, j], color=color("GL"), lw=1.0, label="GL")
        ax.set_ylabel(f"{lead} (mV)", fontsize=8)
        ax.set_title(f"record {int(w.meta['ecg_id'].iloc[i])}, window at {int(w.meta['start'].iloc[i])} ({level})", fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("s")
    fig.suptitle(f"{task.name}: {label}, K = {draws[label].shape[0]} posterior samples", fontsize=9)
    save_png(fig, path, dpi=110, bbox_inches="tight")
