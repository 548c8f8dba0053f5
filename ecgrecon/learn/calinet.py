"""CaLiNet-E (Zhang, Cai, Duan, Lu 2026): PCM's calibrated linear map plus a FiLM-conditioned U-Net residual.

    Y = X W_eff + b_eff + R_theta(X, e_i),   W_eff = rho_i W_i + (1 - rho_i) W_GL  (b_eff likewise)

W_i, b_i: PCM's per-patient ridge map (:func:`ecgrecon.learn.calibration.fit_patient_maps`, ridge
toward GL, ``alpha``) from a ``cal_s``-second 12-lead calibration window; X W: PCM's lag convention
(context K of GL, edge padding); the network is :mod:`ecgrecon.learn.calinet_model`.

Calibration quality rho (``rho`` setting), per calibration window and target lead, all in [0, 1]:

``pcm``
  PCM's own soft-fallback weight ``rule_weight(rule, q_PCM - q_GL)`` (two-fold cross-fit R^2 of
  the per-patient map minus GL's R^2 on the window): the untrained model is PCM's mixed prediction.
``crossfit`` (default)
  the same ramp on ``q_PCM - max(q_GL, 0)``. PCM's relative score rewards calibration windows on
  which GL is poor, and GL is poor on a window of noise too: there the per-patient map (shrunk
  toward a constant) "beats" GL and PCM trusts it (synthetic cohort: median score 0.15 on real
  2-s windows, 0.17 on Gaussian noise of the same per-lead scale). Flooring GL's R^2 at 0 (the
  calibration mean as the baseline to beat) changes nothing where GL explains the window
  (q_GL >= 0: identical to ``pcm``) and leaves real windows on which GL fails trusted (q_PCM stays
  high), but makes a window that nothing explains fall back to GL. :func:`crossfit_quality`,
  clip(q_PCM, 0, 1), is the cross-fit score in [0, 1] itself.
``source``
  the source's rho = 0.3 s_cond + 0.6 s_fit + 0.1 s_beat (one value per window, for every lead):
  * s_cond = 1 / (1 + log10(cond) / ``cond_decades``): cond = lambda_max / lambda_min of the
    centred calibration design (the ridge's lagged input features, interior samples, no penalty);
    cond 1 -> 1, 10^cond_decades -> 1/2 (default 4 decades: a clean 2-s, K = 2 design of I, II,
    V2 has log10 cond ~ 2.7-4.8 on the synthetic cohort), singular -> 0. The source uses a
    logistic in log10(cond) fitted to clean percentiles; this map needs no fitted constants.
    Note: white-noise inputs are well conditioned, so s_cond *rises* on noise (the source's term
    measures well-posedness, not signal).
  * s_fit = in-calibration R^2 of the fitted map (all samples, pooled over the target leads),
    clipped to [0, 1] (the source: a logistic of ||Y - XW - b|| / ||Y||).
  * s_beat from the project's R-peak detector (:func:`ecgrecon.signal.measures.detect_r_peaks`
    on the window's input and target leads): n beats is plausible when a rate in ``hr_bpm``
    (40-180) can give it in the window, n_lo = floor(lo D / 60) <= n <= n_hi = ceil(hi D / 60)
    (D the window length, s; 2 s: 1..6) -> 1; fewer: n / n_lo (0 beats -> 0); more: n_hi / n.

Episodes (:func:`make_episodes`): within one split of one fold (a :class:`Cohort`), a calibration
window and a target window of ``window`` samples of the same patient: the same record, the target
starting ``gap`` seconds after the calibration ends, gap drawn from ``gaps_s`` with the calibration
start uniform where it fits (training; fraction ``other_record`` of them calibrated instead on
another record of the patient, when there is one), or one episode per record with the calibration
at 0 and gap ``eval_gap_s`` (validation). Seeded: (seed, epoch) -> the same episodes.
:func:`check_episodes` refuses episodes pairing two patients or leaving the split, and
:func:`cohort_from_arrays` refuses record ids of two splits.

Training (:func:`train_calinet`): MSE on the target leads (mV), AdamW, fresh seeded episodes every
epoch, early stopping on the validation episodes (the untrained model, = the calibrated linear
map, is scored first and kept unless an epoch beats it), per-epoch resume state
(:mod:`ecgrecon.learn.fitloop`). fp32 only. :func:`predict` applies a checkpoint to test windows
given their patients' calibration windows (e.g. PCM's plan).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial

import numpy as np
import pandas as pd
import torch

from ecgrecon.data.datasets import lead_indices, load_folds, open_clean
from ecgrecon.learn.calibration import PatientMaps, fit_patient_maps, predict_pcm, rule_weight
from ecgrecon.learn.calinet_model import CaLiNetE
from ecgrecon.learn.device import derive_seed, inference_batch, resolve_device, seed_everything
from ecgrecon.learn.fitloop import Budget, fingerprint, fit, load_checkpoint, plain, resume_path, save_torch, step
from ecgrecon.learn.linear import LinearMap, design
from ecgrecon.learn.linear import from_dict as gl_from_dict
from ecgrecon.learn.models import count_params
from ecgrecon.signal.measures import detect_r_peaks

RHO_OPTIONS = ("crossfit", "pcm", "source")
SOURCE_WEIGHTS = (0.3, 0.6, 0.1)  # s_cond, s_fit, s_beat
FORMAT = "ecgrecon-calinet-1"


@dataclass(frozen=True)
class Settings:
    """Everything a CaLiNet-E fit depends on besides the data, GL and the seed (saved in the checkpoint)."""

    cal_s: float = 2.0  # calibration window (s)
    window: int = 256  # target window (samples)
    gaps_s: tuple = (0.0, 1.0, 2.0, 5.0)  # training gaps between calibration end and target start (s)
    eval_gap_s: float = 0.0  # the validation episodes' gap
    episodes_per_record: int = 4  # training episodes per record and epoch
    other_record: float = 0.0  # fraction of training episodes calibrated on another record of the patient
    alpha: float = 1e-3  # PCM ridge penalty (PCM's validation choice in the pipeline)
    rho: str = "crossfit"  # crossfit | pcm | source
    rule: dict = field(default_factory=lambda: {"name": "ramp", "lo": 0.0, "hi": 0.1})  # PCM's weighting rule
    cond_decades: float = 4.0  # s_cond = 1 / (1 + log10(cond) / cond_decades)
    hr_bpm: tuple = (40.0, 180.0)  # plausible heart rates for s_beat
    channels: tuple = (16, 32, 64, 128)  # U-Net widths (the source: 32, 64, 128, 256)
    embed_dim: int = 32  # e_i size (the source: 128)
    kernel: int = 5
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 30
    patience: int = 5
    lr_schedule: str = "constant"

    def __post_init__(self):
        if self.rho not in RHO_OPTIONS:
            raise ValueError(f"rho must be one of {', '.join(RHO_OPTIONS)}, got {self.rho!r}")
        if not self.cal_s > 0 or self.window < 16 or not self.gaps_s or min(self.gaps_s) < 0 or self.eval_gap_s < 0:
            raise ValueError(f"bad episode settings: cal_s {self.cal_s}, window {self.window}, gaps {self.gaps_s}")
        if not 0.0 <= self.other_record <= 1.0 or self.episodes_per_record < 1:
            raise ValueError(f"need 0 <= other_record <= 1, episodes_per_record >= 1 ({self.other_record}, {self.episodes_per_record})")
        rule_weight(self.rule, np.zeros(1))  # refuses an unknown rule

    @classmethod
    def of(cls, cfg: dict) -> Settings:
        """From a config section (any subset of the fields; lists become tuples)."""
        known = set(cls.__dataclass_fields__)
        extra = set(cfg) - known
        if extra:
            raise ValueError(f"unknown CaLiNet-E settings {sorted(extra)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})

    def arch(self) -> dict:
        return {"channels": [int(c) for c in self.channels], "embed_dim": int(self.embed_dim), "kernel": int(self.kernel)}

    def budget(self) -> Budget:
        return Budget(int(self.max_epochs), int(self.patience), self.lr_schedule)


# ---------------------------------------------------------------- calibration quality


def crossfit_quality(maps: PatientMaps) -> np.ndarray:
    """PCM's two-fold cross-fit R^2 of the per-patient map, clipped to [0, 1] (NaN -> 0): (n, J)."""
    return np.nan_to_num(np.clip(maps.q_pcm, 0.0, 1.0), nan=0.0)


def crossfit_score(maps: PatientMaps) -> np.ndarray:
    """q_PCM - max(q_GL, 0): PCM's score with GL's R^2 floored at the calibration mean's (module docstring)."""
    return maps.q_pcm - np.maximum(maps.q_gl, 0.0)


def cond_score(cal_x: np.ndarray, context: int, decades: float) -> tuple[np.ndarray, np.ndarray]:
    """(s_cond, cond) per window: cond of the centred interior lag design of cal_x (n, C, m)."""
    s, cond = np.zeros(len(cal_x)), np.full(len(cal_x), np.inf)
    for i in range(len(cal_x)):
        f = design(np.asarray(cal_x[i : i + 1], dtype=np.float64), context, interior=True)
        f = f - f.mean(axis=0)
        ev = np.linalg.eigvalsh(f.T @ f / len(f))
        if ev[0] > 1e-12 * max(ev[-1], 1e-300):
            cond[i] = ev[-1] / ev[0]
            s[i] = 1.0 / (1.0 + np.log10(max(cond[i], 1.0)) / decades)
    return s, cond


def fit_score(maps: PatientMaps, cal_x: np.ndarray, cal_y: np.ndarray, context: int) -> np.ndarray:
    """In-calibration R^2 of the fitted maps, pooled over target leads, clipped to [0, 1]: (n,)."""
    pred = predict_pcm(maps, cal_x, np.arange(len(cal_x)), context)
    y = np.asarray(cal_y, dtype=np.float64)
    sse = ((pred - y) ** 2).sum(axis=(1, 2))
    sst = ((y - y.mean(axis=2, keepdims=True)) ** 2).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / sst, 0.0)
    return np.clip(r2, 0.0, 1.0)


def beats_plausibility(n_beats, duration_s: float, hr_bpm=(40.0, 180.0)) -> np.ndarray:
    """s_beat of beat counts in a window of ``duration_s``: 1 for n_lo <= n <= n_hi (a rate in ``hr_bpm`` can give
    n beats: n_lo = max(floor(lo D / 60), 1), n_hi = ceil(hi D / 60)), n / n_lo below, n_hi / n above."""
    n = np.asarray(n_beats, dtype=np.float64)
    n_lo, n_hi = max(int(np.floor(hr_bpm[0] * duration_s / 60.0)), 1), int(np.ceil(hr_bpm[1] * duration_s / 60.0))
    return np.where(n < n_lo, n / n_lo, np.where(n > n_hi, n_hi / np.maximum(n, 1.0), 1.0))


def beat_score(cal: np.ndarray, fs: float, hr_bpm=(40.0, 180.0)) -> tuple[np.ndarray, np.ndarray]:
    """(s_beat, n_beats) per window of cal (n, L, m) mV: the R-peak detector's count, :func:`beats_plausibility`."""
    n = np.array([len(detect_r_peaks(c, fs)) for c in cal], dtype=np.int64)
    return beats_plausibility(n, cal.shape[2] / fs, hr_bpm), n


def source_quality(maps: PatientMaps, cal_x, cal_y, context: int, fs: float, settings: Settings) -> dict:
    """The source's rho = 0.3 s_cond + 0.6 s_fit + 0.1 s_beat and its parts, each (n,) in [0, 1]."""
    s_cond, cond = cond_score(cal_x, context, settings.cond_decades)
    s_fit = fit_score(maps, cal_x, cal_y, context)
    s_beat, n_beats = beat_score(np.concatenate([np.asarray(cal_x), np.asarray(cal_y)], axis=1), fs, settings.hr_bpm)
    w = SOURCE_WEIGHTS
    rho = np.clip(w[0] * s_cond + w[1] * s_fit + w[2] * s_beat, 0.0, 1.0)
    return {"rho": rho, "s_cond": s_cond, "s_fit": s_fit, "s_beat": s_beat, "cond": cond, "n_beats": n_beats}


def rho_of(maps: PatientMaps, cal_x, cal_y, gl: LinearMap, fs: float, settings: Settings) -> np.ndarray:
    """rho (n, J) in [0, 1] of the ``settings.rho`` option (module docstring)."""
    if settings.rho == "pcm":
        return rule_weight(settings.rule, maps.score)
    if settings.rho == "crossfit":
        return rule_weight(settings.rule, crossfit_score(maps))
    rho = source_quality(maps, cal_x, cal_y, gl.context, fs, settings)["rho"]
    return np.repeat(rho[:, None], len(gl.targets), axis=1)


def effective_maps(maps: PatientMaps, gl: LinearMap, rho: np.ndarray) -> PatientMaps:
    """W_eff = rho W_i + (1 - rho) W_GL, b_eff likewise, per window and target lead, as PCM maps (same scores)."""
    r = np.asarray(rho, dtype=np.float64)
    if r.shape != maps.intercept.shape or not ((r >= 0) & (r <= 1)).all():
        raise ValueError(f"rho must be {maps.intercept.shape} in [0, 1]")
    w = r[:, :, None, None] * maps.weights + (1.0 - r[:, :, None, None]) * gl.weights[None]
    b = r * maps.intercept + (1.0 - r) * gl.intercept[None]
    return PatientMaps(maps.ecg_id, w, b, maps.q_pcm, maps.q_gl, maps.alpha)


def calibrate(cal_x, cal_y, gl: LinearMap, fs: float, settings: Settings, ecg_id=None) -> tuple[PatientMaps, np.ndarray, PatientMaps]:
    """(PCM maps, rho (n, J), effective maps) of calibration windows cal_x (n, C, m), cal_y (n, J, m) in mV."""
    maps = fit_patient_maps(cal_x, cal_y, gl, settings.alpha, ecg_id)
    rho = rho_of(maps, cal_x, cal_y, gl, fs, settings)
    return maps, rho, effective_maps(maps, gl, rho)


# ---------------------------------------------------------------- cohorts and episodes


@dataclass
class Cohort:
    """Cleaned records of one split: signals (n, C + J, T) mV (inputs then targets), ids, patients."""

    ecg_id: np.ndarray
    patient_id: np.ndarray
    signals: np.ndarray
    inputs: list[str]
    targets: list[str]
    fs: float
    split: str

    @property
    def n_samples(self) -> int:
        return int(self.signals.shape[2])


def split_of(ids, folds: dict) -> str:
    """The one split (key of ``folds``: split -> ecg_ids) holding every id; ValueError for ids of two splits or none."""
    ids = np.asarray(list(ids), dtype=np.int64)
    found = {s: np.isin(ids, np.asarray(v, dtype=np.int64)) for s, v in folds.items()}
    hit = [s for s, m in found.items() if m.any()]
    if len(hit) != 1 or not found[hit[0]].all():
        missing = ids[~np.any(list(found.values()), axis=0)] if found else ids
        raise ValueError(f"records must come from exactly one split: they span {hit or 'none'} (not in any split: {missing[:5].tolist()})")
    return hit[0]


def check_split(meta: pd.DataFrame, ids, folds: dict) -> str:
    """The split of ``ids`` (:func:`split_of`); ValueError when a patient of theirs has a record of ``meta``
    (ecg_id, patient_id of the cleaned records) in another split (the folds must be patient-wise)."""
    split = split_of(ids, folds)
    ecg = meta["ecg_id"].to_numpy(np.int64)
    pat = meta["patient_id"].to_numpy(np.int64)
    mine = pat[np.isin(ecg, np.asarray(list(ids), dtype=np.int64))]
    others = [np.asarray(v, dtype=np.int64) for s, v in folds.items() if s != split]
    leak = np.isin(pat, mine) & np.isin(ecg, np.concatenate(others)) if others else np.zeros(len(ecg), bool)
    if leak.any():
        raise ValueError(f"patients {sorted(set(pat[leak].tolist()))[:5]} have records in split {split} and in another split")
    return split


def cohort_from_arrays(signals, meta: pd.DataFrame, ids, folds: dict, inputs, targets, fs: float) -> Cohort:
    """The records ``ids`` of ``signals`` (n_rec, T, 12) aligned with ``meta`` (ecg_id, patient_id).

    ``folds``: split -> ecg_ids of the fold; the ids must all lie in one split, and no patient of
    theirs may have a record of ``meta`` in another split (:func:`check_split`).
    """
    split = check_split(meta, ids, folds)
    ecg = meta["ecg_id"].to_numpy(np.int64)
    pat = meta["patient_id"].to_numpy(np.int64)
    rows = pd.Index(ecg).get_indexer(np.asarray(sorted(int(i) for i in ids), dtype=np.int64))
    if (rows < 0).any():
        raise ValueError("some records are not among the cleaned records")
    idx = lead_indices(list(inputs) + list(targets))
    sig = np.ascontiguousarray(np.asarray(signals[rows], dtype=np.float32)[:, :, idx].transpose(0, 2, 1))
    if not np.isfinite(sig).all():
        raise ValueError("non-finite values in the cohort's signals")
    return Cohort(ecg[rows], pat[rows], sig, list(inputs), list(targets), float(fs), split)


def load_cohort(clean_h5, folds_json, fold: str, split: str, inputs, targets) -> Cohort:
    """The cleaned records of ``split`` of ``fold`` (folds.json) from clean.h5."""
    folds = load_folds(folds_json, fold)
    f, meta = open_clean(clean_h5)
    with f:
        keep = np.flatnonzero(np.isin(meta["ecg_id"].to_numpy(np.int64), folds[split]))
        sig = f["signals"][keep] if len(keep) else np.zeros((0,) + f["signals"].shape[1:], np.float32)
        fs = float(f.attrs["fs"])
    sub = meta.iloc[keep].reset_index(drop=True)
    check_split(meta, sub["ecg_id"], folds)
    return cohort_from_arrays(sig, sub, sub["ecg_id"], folds, inputs, targets, fs)


EPISODE_COLUMNS = ["patient_id", "cal_ecg_id", "cal_start", "tgt_ecg_id", "tgt_start", "gap"]


def make_episodes(cohort: Cohort, settings: Settings, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Episodes (columns EPISODE_COLUMNS, samples; gap -1 for another record) of one cohort.

    ``rng`` given: training episodes (``episodes_per_record`` per record, random gap and start);
    None: evaluation episodes (one per record: calibration at 0, gap ``eval_gap_s``).
    """
    fs, t, w = cohort.fs, cohort.n_samples, int(settings.window)
    n_cal = int(round(settings.cal_s * fs))
    gaps = [int(round(g * fs)) for g in (settings.gaps_s if rng is not None else (settings.eval_gap_s,))]
    if n_cal + max(gaps) + w > t:
        raise ValueError(f"calibration {n_cal} + gap {max(gaps)} + window {w} samples do not fit records of {t}")
    rows = []
    if rng is None:
        for e, p in zip(cohort.ecg_id.tolist(), cohort.patient_id.tolist()):
            rows.append((p, e, 0, e, n_cal + gaps[0], gaps[0]))
    else:
        by_patient: dict[int, list[int]] = {}
        for e, p in zip(cohort.ecg_id.tolist(), cohort.patient_id.tolist()):
            by_patient.setdefault(p, []).append(e)
        for e, p in zip(cohort.ecg_id.tolist(), cohort.patient_id.tolist()):
            others = [o for o in by_patient[p] if o != e]
            for _ in range(int(settings.episodes_per_record)):
                g = gaps[int(rng.integers(len(gaps)))]
                if others and rng.random() < settings.other_record:
                    c = others[int(rng.integers(len(others)))]
                    rows.append((p, c, int(rng.integers(t - n_cal + 1)), e, int(rng.integers(t - w + 1)), -1))
                else:
                    s = int(rng.integers(t - n_cal - g - w + 1))
                    rows.append((p, e, s, e, s + n_cal + g, g))
    ep = pd.DataFrame(rows, columns=EPISODE_COLUMNS).astype(np.int64)
    check_episodes(ep, cohort, n_cal, w)
    return ep


def check_episodes(episodes: pd.DataFrame, cohort: Cohort, n_cal: int, window: int) -> None:
    """ValueError unless every episode stays in the cohort's split and patient, its windows fit, and a
    same-record target starts after its calibration ends."""
    pos = pd.Index(cohort.ecg_id)
    for col in ("cal_ecg_id", "tgt_ecg_id"):
        bad = pos.get_indexer(episodes[col].to_numpy(np.int64)) < 0
        if bad.any():
            raise ValueError(f"episodes use records outside split {cohort.split}: {episodes.loc[bad, col].tolist()[:5]}")
    pat = cohort.patient_id
    pc = pat[pos.get_indexer(episodes["cal_ecg_id"].to_numpy(np.int64))]
    pt = pat[pos.get_indexer(episodes["tgt_ecg_id"].to_numpy(np.int64))]
    two = (pc != pt) | (pt != episodes["patient_id"].to_numpy(np.int64))
    if two.any():
        raise ValueError(f"{int(two.sum())} episode(s) pair windows of two patients (first: {episodes[two].iloc[0].to_dict()})")
    cs, ts, t = episodes["cal_start"].to_numpy(), episodes["tgt_start"].to_numpy(), cohort.n_samples
    if (cs < 0).any() or (cs + n_cal > t).any() or (ts < 0).any() or (ts + window > t).any():
        raise ValueError("episode windows outside their records")
    same = episodes["cal_ecg_id"].to_numpy() == episodes["tgt_ecg_id"].to_numpy()
    if (same & (ts < cs + n_cal)).any():
        raise ValueError("a same-record episode's target window overlaps its calibration window")


def episode_arrays(cohort: Cohort, episodes: pd.DataFrame, n_cal: int, window: int):
    """(cal_x (n, C, m), cal_y (n, J, m), x (n, C, W), y (n, J, W)) float64 / float32 arrays of episodes."""
    pos = pd.Index(cohort.ecg_id)
    rc = pos.get_indexer(episodes["cal_ecg_id"].to_numpy(np.int64))
    rt = pos.get_indexer(episodes["tgt_ecg_id"].to_numpy(np.int64))
    cal = cohort.signals[rc[:, None], :, episodes["cal_start"].to_numpy()[:, None] + np.arange(n_cal)[None]]  # (n, m, L)
    tgt = cohort.signals[rt[:, None], :, episodes["tgt_start"].to_numpy()[:, None] + np.arange(window)[None]]
    cal, tgt = cal.transpose(0, 2, 1).astype(np.float64), np.ascontiguousarray(tgt.transpose(0, 2, 1))
    c = len(cohort.inputs)
    return cal[:, :c], cal[:, c:], tgt[:, :c], tgt[:, c:]


@dataclass
class EpisodeBatch:
    """Model-ready episodes: x (n, C, W), y (n, J, W), w_eff (n, J, C, 2K+1), b_eff (n, J), rho (n, J); float32."""

    x: np.ndarray
    y: np.ndarray
    w_eff: np.ndarray
    b_eff: np.ndarray
    rho: np.ndarray


def prepare(cohort: Cohort, episodes: pd.DataFrame, gl: LinearMap, settings: Settings) -> EpisodeBatch:
    """Fit every episode's calibration map and rho; the arrays the model trains on."""
    if cohort.inputs != list(gl.inputs) or cohort.targets != list(gl.targets):
        raise ValueError(f"cohort leads {cohort.inputs} -> {cohort.targets} differ from GL's {gl.inputs} -> {gl.targets}")
    n_cal = int(round(settings.cal_s * cohort.fs))
    cal_x, cal_y, x, y = episode_arrays(cohort, episodes, n_cal, int(settings.window))
    _, rho, eff = calibrate(cal_x, cal_y, gl, cohort.fs, settings)
    f32 = partial(np.ascontiguousarray, dtype=np.float32)
    return EpisodeBatch(f32(x), f32(y), f32(eff.weights), f32(eff.intercept), f32(rho))


# ---------------------------------------------------------------- training and prediction


def build_model(gl: LinearMap, settings: Settings) -> CaLiNetE:
    return CaLiNetE.from_gl(gl, **settings.arch())


def _tensors(b: EpisodeBatch, dev) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(a).to(dev) for a in (b.x, b.w_eff, b.b_eff, b.y))


def batch_loss(model: CaLiNetE, x, w, b, y) -> torch.Tensor:
    """MSE (mV^2) on the target leads."""
    return torch.mean((model(x, w, b) - y) ** 2)


def _train_epoch(epoch: int, *, model, opt, train: Cohort, gl, settings: Settings, seed: int, dev) -> float:
    rng = np.random.default_rng(derive_seed(seed, "calinet-episodes", epoch))
    x, w, b, y = _tensors(prepare(train, make_episodes(train, settings, rng), gl, settings), dev)
    g = torch.Generator().manual_seed(derive_seed(seed, "calinet-batches", epoch))
    perm = torch.randperm(len(x), generator=g).to(dev)
    bs, total = int(settings.batch_size), 0.0
    for lo in range(0, len(x), bs):
        i = perm[lo : lo + bs]
        total += step(opt, batch_loss(model, x[i], w[i], b[i], y[i])) * len(i)
    return total / len(x)


def _validate(*, model, val: tuple, vb: int) -> dict:
    x, w, b, y = val
    se = 0.0
    for lo in range(0, len(x), vb):
        sl = slice(lo, lo + vb)
        se += float(((model(x[sl], w[sl], b[sl]) - y[sl]).double() ** 2).sum())
    mse = se / y.numel()
    return {"val_loss": mse, "val_rmse_mv": mse**0.5}


def train_calinet(
    train: Cohort, val: Cohort, gl: LinearMap, settings: Settings, *, seed: int, out_path, device: str = "auto", log=print, epoch_hook=None
) -> tuple[CaLiNetE, dict]:
    """Train on ``train``'s episodes, stop early on ``val``'s; write the checkpoint to ``out_path``.

    Resumes from ``{out_path stem}.resume.pt`` when it was made for the same settings, seed, thread
    count, GL and data (and removes it at the end). Returns the model (best weights, eval mode) and
    the checkpoint dict: format, arch, state_dict, settings, gl (its JSON form), leads, fs, n_params,
    best_epoch, best_val_loss, history, seed.
    """
    if train.split == val.split:
        raise ValueError(f"train and validation cohorts are the same split ({train.split})")
    dev = resolve_device(device)
    seed_everything(seed, dev)
    torch.manual_seed(derive_seed(seed, "calinet-init"))
    model = build_model(gl, settings).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=float(settings.lr), weight_decay=float(settings.weight_decay))
    val_t = _tensors(prepare(val, make_episodes(val, settings), gl, settings), dev)
    fp = fingerprint(
        {"settings": asdict(settings), "seed": seed, "device": dev.type, "threads": torch.get_num_threads(), "gl": gl.to_dict()},
        train.signals,
        val.signals,
        train.ecg_id,
        val.ecg_id,
    )
    state_path = resume_path(out_path)
    log(f"CaLiNet-E: {len(train.ecg_id)} train / {len(val.ecg_id)} val records, {count_params(model)} parameters, rho {settings.rho}")
    result = fit(
        {"model": model},
        opt,
        partial(_train_epoch, model=model, opt=opt, train=train, gl=gl, settings=settings, seed=seed, dev=dev),
        partial(_validate, model=model, val=val_t, vb=inference_batch(dev)),
        budget=settings.budget(),
        state_path=state_path,
        fp=fp,
        log=log,
        epoch_hook=epoch_hook,
        validate_initial=True,
    )
    model.load_state_dict(result["best"]["model"])
    model.eval()
    ckpt = {
        "format": FORMAT,
        "arch": model.arch,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "settings": plain(asdict(settings)),
        "gl": gl.to_dict(),
        "inputs": list(gl.inputs),
        "targets": list(gl.targets),
        "fs": float(train.fs),
        "n_params": count_params(model),
        "best_epoch": int(result["best_epoch"]),
        "best_val_loss": float(result["best_val"]),
        "history": result["history"],
        "seed": int(seed),
    }
    save_torch(out_path, ckpt)
    state_path.unlink(missing_ok=True)
    log(f"CaLiNet-E: best epoch {result['best_epoch']} (val MSE {result['best_val']:.6f} mV^2) of {len(result['history'])}")
    return model, ckpt


def load_calinet(path, device="cpu") -> tuple[CaLiNetE, dict, LinearMap, Settings]:
    """Model (eval mode), checkpoint, GL map and settings of a checkpoint written by :func:`train_calinet`."""
    ckpt = load_checkpoint(path, "CaLiNet-E")
    gl = gl_from_dict(ckpt["gl"], path)
    model = CaLiNetE(len(gl.inputs), len(gl.targets), gl.context, **ckpt["arch"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt, gl, Settings.of(ckpt["settings"])


@torch.no_grad()
def predict(
    model: CaLiNetE, gl: LinearMap, settings: Settings, x, row_of, cal_x, cal_y, fs: float, device="cpu", batch: int | None = None
) -> dict:
    """CaLiNet-E for test windows x (n_win, C, W) mV whose patients' calibration windows are
    cal_x (n_cal, C, m), cal_y (n_cal, J, m); ``row_of`` (n_win,): calibration row per window.

    Returns ``calinet`` (n_win, J, W) float32, ``linear`` (its calibrated linear part, = the
    untrained model; float64 via PCM's predict_pcm), ``rho`` (n_cal, J) and the PCM ``maps``.
    """
    dev = torch.device(device)
    maps, rho, eff = calibrate(cal_x, cal_y, gl, fs, settings)
    row_of = np.asarray(row_of, dtype=np.int64)
    batch = batch or inference_batch(dev)
    model = model.to(dev).eval()
    w_all = torch.from_numpy(eff.weights.astype(np.float32))
    b_all = torch.from_numpy(eff.intercept.astype(np.float32))
    out = np.empty((len(x), len(gl.targets), np.shape(x)[2]), np.float32)
    for lo in range(0, len(x), batch):
        r = torch.from_numpy(row_of[lo : lo + batch])
        xb = torch.from_numpy(np.asarray(x[lo : lo + batch], dtype=np.float32)).to(dev)
        out[lo : lo + batch] = model(xb, w_all[r].to(dev), b_all[r].to(dev)).cpu().numpy()
    return {"calinet": out, "linear": predict_pcm(eff, x, row_of, gl.context), "rho": rho, "maps": maps}
