"""Printout completion: a digitised partial record (each lead's window and the lead-II rhythm strip) -> 12 leads x 10 s.

A standard 3x4 page shows each lead for 2.5 s only (I, II, III 0-2.5 s; aVR, aVL, aVF 2.5-5 s; V1-V3 5-7.5 s;
V4-V6 7.5-10 s) and lead II for the whole 10 s (the rhythm strip). Completion predicts every lead over the whole
record from lead II, the one lead seen throughout. Arrays here are channels first: a record is (12, T) in
LEADS12 order, in mV, NaN where the digitiser read nothing; ``plotted`` (12, T) bool marks what the layout draws
(:func:`visible_mask`, or ``PrintoutTruth.plotted()``).

Methods (:data:`METHODS`); every one keeps the digitised samples as they are and fills only the missing ones:

- ``visible``: the digitised samples alone (nothing filled; the reference of what the page gives back);
- ``GL``: a population ridge map (:mod:`ecgrecon.learn.linear`) from lead II with +-K samples of context to the
  other 11 leads, fitted on the train segments of a fold and its alpha chosen on the fold's validation segments
  (:func:`fit_gl`; the test split is never read);
- ``PPM``: a per-patient map, as PCM does on its calibration window: for each lead j a ridge map lead II -> j
  fitted on the samples where j was read (lead II from the rhythm strip over the same samples, with the same
  +-K context), applied to the whole 10 s of lead II. The weights are shrunk toward the GL map's:

      W = argmin ||y - b - X W||^2 / m + a ||W - W_GL||^2,   i.e.   (G + a I) W = c + a W_GL

  (G, c the centred, per-sample normalised normal equations of the window; the intercept is not penalised),
  solved as W = W_GL + D with (G + a I) D = c - G W_GL by :func:`ecgrecon.learn.linear.ridge_solutions`.
  a -> infinity gives GL's weights (with the patient's own intercept); without a GL map the prior is 0 (plain
  ridge). ``a`` is chosen per record and lead from a grid by a two-fold cross-fit *inside the visible window*
  (fit on the first half of the lead's read samples, predict the second, and vice versa; the smallest pooled
  squared error, the smaller ``a`` on ties); a one-value grid fixes it. The hidden part of the record is never
  used.

- ``diffusion`` (only with a diffusion prior, :class:`DiffusionSetup`): the posterior mean of the prior of the 8
  independent leads (:mod:`ecgrecon.learn.diffusion`) given what was read (:func:`diffusion_prediction`). It observes
  I, II, V1-V6 where they were read, and lead I derived sample-wise where only other limb leads were (on a 3x4 page
  2.5-5 s: I = aVL + II / 2 = -2 aVR - II = 2 (II - aVF), from III where I was not read: I = II - III; the mean of
  the estimates available at a sample, each needing lead II read there too; :func:`prior_observation`). The record
  is covered by windows of the prior's length W (:func:`window_starts`: starts evenly spaced from 0 to T - W, hop at
  most W / 2; a record window longer than T: one window, the samples past T unobserved); each window's posterior is
  sampled by the configured sampler (``ddnm`` by default: the observed coordinates are exact constraints; ``mgps``
  an option) with K samples and a generator seeded by (seed, record); the K samples are averaged, overlapping
  windows averaged, the 12 leads derived (:func:`ecgrecon.learn.diffusion.prior.derive_12`). A window with nothing
  observed is not sampled (a note): it contributes GL's prediction (NaN without a map) to that average instead.
  Cost: windows x K x (steps + guidance) network evaluations per record (``nfe`` per sample, seconds recorded).

Fallbacks, never silent (:class:`Completion` counts them): a lead whose window was read on fewer than
``min_coverage`` of its plotted samples (or too few samples for the map) gets GL's prediction in PPM
(``fallback``; NaN when there is no GL map for it); a rhythm strip read on fewer than ``min_coverage`` of its
samples cannot be completed (:class:`CompletionError`, the record is skipped with the reason); shorter gaps of the
strip are filled by linear interpolation (``n_interpolated``).

Scores (:func:`completion_scores`) per lead over a region: the full record, the unseen samples only (those the
layout does not plot) or the plotted ones; a missing output sample counts as 0 mV (the Challenge's convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, read_segment_meta
from ecgrecon.learn.device import derive_seed
from ecgrecon.learn.diffusion.prior import PRIOR_LEADS, Prior, derive_12
from ecgrecon.learn.diffusion.samplers import METHODS as SAMPLERS
from ecgrecon.learn.diffusion.samplers import Observation, Stacked, sample, sampler_options
from ecgrecon.learn.linear import LinearMap, design, fit_from_segments, load, ridge_solutions
from ecgrecon.printout.layout import Layout, PrintoutError, get_layout, panels_of
from ecgrecon.printout.scoring import lead_scores

REFERENCE = "II"
"""The lead every map reads: the one the rhythm strip shows for the whole record."""
REF = LEADS12.index(REFERENCE)
OTHERS = [lead for lead in LEADS12 if lead != REFERENCE]
"""The 11 leads a completion predicts (LEADS12 order)."""
METHODS = ("visible", "GL", "PPM", "diffusion")
"""Every completion method in report order; ``GL`` runs with a map, ``diffusion`` with a prior (:class:`DiffusionSetup`)."""
REGIONS = ("full", "unseen", "plotted")
SCORES = ("snr", "pearson", "r2", "rmse", "mae", "coverage")


class CompletionError(PrintoutError):
    """A record that cannot be completed (its lead-II rhythm strip was not read); one line naming the record."""


@dataclass
class Completion:
    """The completions of one record: ``signals[method]`` (12, T) mV for each method of :data:`METHODS` that ran
    (``GL`` only with a map), and what happened per lead."""

    signals: dict[str, np.ndarray]
    fallback: np.ndarray  # (12,) bool: PPM fell back to GL (or to nothing: NaN) for this lead
    alpha: np.ndarray  # (12,) the PPM shrinkage a chosen per lead (NaN for lead II and fallbacks)
    n_interpolated: int  # rhythm-strip samples filled by interpolation
    notes: list[str] = field(default_factory=list)
    diffusion: dict = field(default_factory=dict)  # with a prior: windows, empty windows, nfe, nvjp, seconds


@dataclass(frozen=True)
class DiffusionSetup:
    """The ``diffusion`` completion: a loaded prior and how its posterior is sampled (``printout.completion.diffusion``:
    ``sampler`` of :data:`ecgrecon.learn.diffusion.samplers.METHODS`, ``K`` samples, ``steps``, sampler ``options``),
    ``seed`` the run's seed (every record's generator derives from it and the record's name)."""

    prior: Prior
    sampler: str = "ddnm"
    K: int = 4  # posterior samples per window
    steps: int = 12
    options: dict = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self):
        if self.sampler not in SAMPLERS:
            raise ValueError(f"diffusion sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if int(self.K) < 1 or int(self.steps) < 2:
            raise ValueError(f"diffusion completion needs K >= 1 and steps >= 2, got K {self.K}, steps {self.steps}")
        unknown = sorted(set(self.options or {}) - set(sampler_options(self.sampler)))
        if unknown:
            raise ValueError(f"diffusion sampler {self.sampler} has no options {unknown} (it has {sorted(sampler_options(self.sampler))})")
        if [str(v).upper() for v in self.prior.leads] != [v.upper() for v in PRIOR_LEADS]:
            raise ValueError(f"diffusion completion needs a prior of the leads {', '.join(PRIOR_LEADS)}, got {self.prior.leads}")

    @classmethod
    def of(cls, prior: Prior, cfg: dict, seed: int) -> DiffusionSetup:
        """From a ``printout.completion.diffusion`` section."""
        return cls(prior, str(cfg["sampler"]), int(cfg["K"]), int(cfg["steps"]), dict(cfg.get("options") or {}), int(seed))


def visible_mask(layout: str | Layout, n_samples: int) -> np.ndarray:
    """(12, n_samples) bool: the samples of each lead that ``layout`` plots (3x4: 2.5 s per lead, lead II 10 s)."""
    mask = np.zeros((len(LEADS12), n_samples), dtype=bool)
    for p in panels_of(get_layout(layout), n_samples):
        mask[LEADS12.index(p.lead), p.start : p.stop] = True
    return mask


def check_gl(gl: LinearMap, source="GL map") -> LinearMap:
    """``gl`` if it maps lead II alone to leads of LEADS12; else an ArtifactError naming ``source``."""
    if [str(i).upper() for i in gl.inputs] != [REFERENCE]:
        raise ArtifactError(f"{source}: a completion map reads lead II alone; this GL map's inputs are {gl.inputs}")
    unknown = [t for t in gl.targets if t not in OTHERS]
    if unknown:
        raise ArtifactError(f"{source}: GL map targets {unknown} are not leads a completion predicts ({', '.join(OTHERS)})")
    return gl


def load_gl(path, fs: float | None = None) -> LinearMap:
    """A completion map (JSON of :meth:`LinearMap.save`), checked by :func:`check_gl`; ArtifactError naming the file.

    ``fs``: refuse a map fitted at another sampling rate (its context is in samples; ``info.fs`` when recorded)."""
    gl = check_gl(load(path), path)
    fitted = gl.info.get("fs")
    if fs is not None and fitted is not None and abs(float(fitted) - float(fs)) > 1e-9:
        raise ArtifactError(f"{path}: GL map fitted at {float(fitted):g} Hz, the record is at {float(fs):g} Hz")
    return gl


def fit_gl(segments, folds, fold: str, context: int, alphas, log=print) -> LinearMap:
    """The GL completion map II -> the 11 other leads, fitted on the train segments of ``fold`` in segments.h5 with
    alpha chosen per lead on its validation segments (:func:`ecgrecon.learn.linear.fit_from_segments`: only the
    train and val rows of ``fold`` are read, never its test rows)."""
    _, attrs = read_segment_meta(segments)
    gl = fit_from_segments(segments, folds, fold, [REFERENCE], OTHERS, context=int(context), alphas=alphas, log=log)
    gl.info.update(purpose="printout completion", fs=float(attrs["fs"]))
    return gl


def reference_lead(partial: np.ndarray, plotted: np.ndarray, min_coverage: float, name: str = "<record>") -> tuple[np.ndarray, int]:
    """(lead II over the whole record, samples interpolated) from the digitised rhythm strip.

    Gaps (NaN) are filled linearly (the ends by the nearest sample read). Raises :class:`CompletionError` when the
    layout does not plot lead II throughout or the strip was read on fewer than ``min_coverage`` of its samples."""
    n = partial.shape[1]
    if not plotted[REF].all():
        raise CompletionError(f"{name}: the layout has no lead-II rhythm strip over the whole record: cannot complete")
    ii = np.asarray(partial[REF], dtype=np.float64)
    ok = np.isfinite(ii)
    share = float(ok.mean()) if n else 0.0
    if share < min_coverage or ok.sum() < 2:
        raise CompletionError(
            f"{name}: lead-II rhythm strip read on {100 * share:.0f} % of its samples (< {100 * min_coverage:.0f} %): cannot complete"
        )
    t = np.arange(n)
    return (ii if ok.all() else np.interp(t, t[ok], ii[ok])), int((~ok).sum())


def lag_features(ii: np.ndarray, context: int) -> np.ndarray:
    """(T, 2K+1) float64: lead II at t-K..t+K for every sample t (the edges repeated), GL's feature order."""
    return design(np.asarray(ii, dtype=np.float64)[None, None, :], int(context))


def min_samples(context: int) -> int:
    """Fewest read samples a per-patient map is fitted on (as PCM asks of its calibration window)."""
    return 4 * (2 * int(context) + 1) + 4


def _centred(feats: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    mx, my = feats.mean(axis=0), float(y.mean())
    fc = feats - mx
    g = fc.T @ fc / len(fc)
    return (g + g.T) / 2, fc.T @ (y - my) / len(fc), mx, my


def shrunk_ridge(feats: np.ndarray, y: np.ndarray, prior: np.ndarray, alphas) -> tuple[np.ndarray, np.ndarray]:
    """Ridge toward ``prior``: for every ``a`` of ``alphas`` the W solving (G + a I) W = c + a prior on rows (feats, y).

    Returns (weights (n_alphas, p), intercepts (n_alphas,)); G = Xc'Xc / m, c = Xc'yc / m (centred rows)."""
    g, c, mx, my = _centred(feats, y)
    prior = np.asarray(prior, dtype=np.float64).reshape(-1)
    w = ridge_solutions(g, c[:, None], [float(a) for a in alphas], prior[:, None])[:, :, 0]
    return w, my - w @ mx


def choose_alpha(feats: np.ndarray, y: np.ndarray, prior: np.ndarray, alphas) -> tuple[float, np.ndarray]:
    """(a, pooled squared error per a of the sorted grid) by a two-fold cross-fit on the rows given (first half <->
    second half); the smaller a on ties. One value in ``alphas``: that one, no cross-fit (SSE NaN)."""
    alphas = sorted(float(a) for a in alphas)
    if len(alphas) == 1:
        return alphas[0], np.full(1, np.nan)
    half = len(y) // 2
    sse = np.zeros(len(alphas))
    for fit_rows, test_rows in ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))):
        w, b = shrunk_ridge(feats[fit_rows], y[fit_rows], prior, alphas)
        pred = feats[test_rows] @ w.T + b[None]
        sse += ((pred - y[test_rows, None]) ** 2).sum(axis=0)
    return alphas[int(np.argmin(sse))], sse


def gl_prediction(gl: LinearMap, ii: np.ndarray) -> np.ndarray:
    """(12, T): lead II itself and GL's prediction of each lead the map targets (NaN for the others)."""
    out = np.full((len(LEADS12), len(ii)), np.nan)
    out[REF] = ii
    pred = gl.predict(np.asarray(ii, dtype=np.float64)[None, None, :])[0].astype(np.float64)
    for k, lead in enumerate(gl.targets):
        out[LEADS12.index(lead)] = pred[k]
    return out


def keep_plotted(partial: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """The digitised samples where they were read, the prediction everywhere else."""
    return np.where(np.isfinite(partial), partial, prediction)


def prior_observation(partial: np.ndarray) -> np.ndarray:
    """(8, T) mV: the prior's leads :data:`PRIOR_LEADS` as the digitised record shows them, NaN where not observed.

    I, II, V1-V6 where they were read; lead I where it was not read but lead II and a limb lead were, from each such
    lead (I = aVL + II / 2 = -2 aVR - II = 2 (II - aVF) = II - III), averaged over the estimates available there."""
    partial = np.asarray(partial, dtype=np.float64)
    row = {lead: partial[LEADS12.index(lead)] for lead in LEADS12}
    out = np.stack([row[lead] for lead in PRIOR_LEADS]).copy()
    ii = row["II"]
    estimates = np.stack([row["AVL"] + ii / 2, -2 * row["AVR"] - ii, 2 * (ii - row["AVF"]), ii - row["III"]])
    ok = np.isfinite(estimates)
    n = ok.sum(axis=0)
    derived = np.where(ok, estimates, 0.0).sum(axis=0) / np.maximum(n, 1)
    i = PRIOR_LEADS.index("I")
    out[i] = np.where(np.isfinite(out[i]), out[i], np.where(n > 0, derived, np.nan))
    return out


def window_starts(n_samples: int, window: int) -> np.ndarray:
    """Starts of the windows of length ``window`` that cover ``n_samples``: evenly spaced, the first at 0, the last at
    n_samples - window, consecutive starts at most window / 2 apart (overlap >= half a window); one window at 0 when
    the window covers the record."""
    if n_samples <= window:
        return np.zeros(1, dtype=np.int64)
    n = 1 + math.ceil((n_samples - window) / max(window // 2, 1))
    return np.round(np.linspace(0, n_samples - window, n)).astype(np.int64)


def diffusion_prediction(
    partial: np.ndarray, setup: DiffusionSetup, *, fallback: np.ndarray | None = None, name: str = "<record>"
) -> tuple[np.ndarray, dict, list[str]]:
    """(12, T) mV: the prior's posterior mean given the digitised record (module docstring), before the digitised
    samples are put back; the cost (windows, empty, nfe, nvjp per sample, seconds) and notes.

    ``fallback`` (12, T): what a window with nothing observed contributes (GL's prediction; None: NaN)."""
    prior = setup.prior
    y8 = prior_observation(partial)
    n, w = y8.shape[1], int(prior.window)
    starts = window_starts(n, w)
    padded = np.full((len(PRIOR_LEADS), max(n, w)), np.nan)
    padded[:, :n] = y8
    wins = np.stack([padded[:, s : s + w] for s in starts])  # (n_win, 8, W), NaN = not observed (or past T)
    seen = np.isfinite(wins)
    full = seen.reshape(len(starts), -1).any(axis=1)
    notes, est = [], np.full(wins.shape, np.nan)
    info = {"windows": len(starts), "empty": int((~full).sum()), "nfe": 0, "nvjp": 0, "seconds": 0.0}
    if full.any():
        dev = next(prior.model.parameters()).device
        mask = torch.from_numpy(seen[full]).to(dev)
        y = torch.from_numpy(np.where(seen[full], wins[full], 0.0) / prior.scale).float().to(dev)
        obs = Observation(mask, y, 0.0, event_dims=2)
        g = torch.Generator(device=dev).manual_seed(derive_seed(setup.seed, "printout", "complete", "diffusion", name))
        out = sample(setup.sampler, Stacked(prior.denoiser()), prior.schedule, obs, int(setup.K), steps=int(setup.steps),
                     generator=g, **dict(setup.options or {}))  # fmt: skip
        est[full] = out["mean"].double().cpu().numpy() * prior.scale
        info.update(nfe=int(out["nfe"]), nvjp=int(out["nvjp"]), seconds=float(out["seconds"]))
    fb8 = None if fallback is None else np.asarray(fallback, np.float64)[[LEADS12.index(lead) for lead in PRIOR_LEADS]]
    for k in np.flatnonzero(~full):
        s = int(starts[k])
        notes.append(f"diffusion: window {s}-{min(s + w, n)} has no observed sample -> {'GL' if fb8 is not None else 'NaN'} there")
        if fb8 is not None:
            est[k, :, : max(min(w, n - s), 0)] = fb8[:, s : s + w]
    total, count = np.zeros((len(PRIOR_LEADS), max(n, w))), np.zeros((len(PRIOR_LEADS), max(n, w)))
    for k, s in enumerate(starts):
        ok = np.isfinite(est[k])
        total[:, s : s + w] += np.where(ok, est[k], 0.0)
        count[:, s : s + w] += ok
    x8 = np.where(count > 0, total / np.maximum(count, 1), np.nan)[:, :n]
    return derive_12(x8), info, notes


def complete_record(
    partial: np.ndarray,
    plotted: np.ndarray,
    gl: LinearMap | None,
    *,
    context: int,
    alphas,
    min_coverage: float,
    name: str = "<record>",
    diffusion: DiffusionSetup | None = None,
) -> Completion:
    """Every method of :data:`METHODS` on one digitised record.

    ``partial`` (12, T) mV, NaN where nothing was read; ``plotted`` (12, T) bool, what the layout draws; ``gl`` the
    population map (:func:`check_gl`; None: no GL method, PPM as plain ridge). ``context`` is the PPM's +-K (with a
    map it must equal the map's), ``alphas`` the PPM shrinkage grid (:func:`choose_alpha`), ``min_coverage`` the
    share of a window's plotted samples that must have been read (else the fallbacks of the module docstring),
    ``diffusion`` the prior and sampler of the ``diffusion`` method (None: that method does not run).
    Raises :class:`CompletionError` when the rhythm strip is missing."""
    partial = np.asarray(partial, dtype=np.float64)
    plotted = np.asarray(plotted, dtype=bool)
    if partial.shape[0] != len(LEADS12) or plotted.shape != partial.shape:
        raise ValueError(f"expected (12, T) record and plotted mask, got {partial.shape} and {plotted.shape}")
    if gl is not None and int(gl.context) != int(context):
        raise ValueError(f"context {context} differs from the GL map's {gl.context}")
    ii, n_interp = reference_lead(partial, plotted, min_coverage, name)
    feats = lag_features(ii, context)
    gl_full = gl_prediction(gl, ii) if gl is not None else None
    ppm = np.full_like(partial, np.nan)
    ppm[REF] = ii
    fallback = np.zeros(len(LEADS12), dtype=bool)
    alpha = np.full(len(LEADS12), np.nan)
    notes = [f"{n_interp} rhythm-strip samples interpolated"] if n_interp else []
    for lead in OTHERS:
        j = LEADS12.index(lead)
        rows = np.flatnonzero(plotted[j] & np.isfinite(partial[j]))
        n_plot = int(plotted[j].sum())
        if n_plot == 0 or len(rows) < max(min_coverage * n_plot, min_samples(context)):
            fallback[j] = True
            has_gl = gl_full is not None and lead in gl.targets
            if has_gl:
                ppm[j] = gl_full[j]
            notes.append(f"{lead}: window read on {len(rows)} of {n_plot} samples -> {'GL' if has_gl else 'not completed'}")
            continue
        prior = gl.weights[gl.targets.index(lead)].reshape(-1) if gl is not None and lead in gl.targets else np.zeros(feats.shape[1])
        a, _ = choose_alpha(feats[rows], partial[j, rows], prior, alphas)
        w, b = shrunk_ridge(feats[rows], partial[j, rows], prior, [a])
        ppm[j] = feats @ w[0] + b[0]
        alpha[j] = a
    signals = {"visible": partial.copy(), "PPM": keep_plotted(partial, ppm)}
    if gl_full is not None:
        signals["GL"] = keep_plotted(partial, gl_full)
    cost = {}
    if diffusion is not None:
        pred, cost, more = diffusion_prediction(partial, diffusion, fallback=gl_full, name=name)
        signals["diffusion"] = keep_plotted(partial, pred)
        notes += more
    signals = {m: signals[m] for m in METHODS if m in signals}
    return Completion(signals, fallback, alpha, n_interp, notes, cost)


def region_masks(plotted: np.ndarray) -> dict[str, np.ndarray]:
    """{full, unseen, plotted} -> (12, T) bool masks of the scored samples."""
    plotted = np.asarray(plotted, dtype=bool)
    return {"full": np.ones_like(plotted), "unseen": ~plotted, "plotted": plotted.copy()}


def completion_scores(label: np.ndarray, output: np.ndarray, region: np.ndarray) -> dict[str, np.ndarray]:
    """Per lead (12,) over the samples of ``region`` (12, T): Challenge SNR (dB), Pearson r, R2, RMSE and MAE (mV)
    with a missing (NaN) output sample counted as 0 mV, and ``coverage`` (share of the region's samples with an
    output). ``label`` and ``output`` are (12, T); a lead with no sample in the region scores NaN."""
    label = np.asarray(label, dtype=np.float64)
    output = np.asarray(output, dtype=np.float64)
    region = np.asarray(region, dtype=bool)
    filled = lead_scores(label.T, np.nan_to_num(output, nan=0.0).T, region)
    raw = lead_scores(label.T, output.T, region)
    out = {k: filled[k] for k in ("snr", "pearson", "r2", "rmse", "mae")}
    out["coverage"] = raw["coverage"]
    return out
