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

Fallbacks, never silent (:class:`Completion` counts them): a lead whose window was read on fewer than
``min_coverage`` of its plotted samples (or too few samples for the map) gets GL's prediction in PPM
(``fallback``; NaN when there is no GL map for it); a rhythm strip read on fewer than ``min_coverage`` of its
samples cannot be completed (:class:`CompletionError`, the record is skipped with the reason); shorter gaps of the
strip are filled by linear interpolation (``n_interpolated``).

Scores (:func:`completion_scores`) per lead over a region: the full record, the unseen samples only (those the
layout does not plot) or the plotted ones; a missing output sample counts as 0 mV (the Challenge's convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecgrecon import LEADS12
from ecgrecon.data.datasets import ArtifactError, read_segment_meta
from ecgrecon.learn.linear import LinearMap, design, fit_from_segments, load, ridge_solutions
from ecgrecon.printout.layout import Layout, PrintoutError, get_layout, panels_of
from ecgrecon.printout.scoring import lead_scores

REFERENCE = "II"
"""The lead every map reads: the one the rhythm strip shows for the whole record."""
REF = LEADS12.index(REFERENCE)
OTHERS = [lead for lead in LEADS12 if lead != REFERENCE]
"""The 11 leads a completion predicts (LEADS12 order)."""
METHODS = ("visible", "GL", "PPM")
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


def complete_record(
    partial: np.ndarray, plotted: np.ndarray, gl: LinearMap | None, *, context: int, alphas, min_coverage: float, name: str = "<record>"
) -> Completion:
    """Every method of :data:`METHODS` on one digitised record.

    ``partial`` (12, T) mV, NaN where nothing was read; ``plotted`` (12, T) bool, what the layout draws; ``gl`` the
    population map (:func:`check_gl`; None: no GL method, PPM as plain ridge). ``context`` is the PPM's +-K (with a
    map it must equal the map's), ``alphas`` the PPM shrinkage grid (:func:`choose_alpha`), ``min_coverage`` the
    share of a window's plotted samples that must have been read (else the fallbacks of the module docstring).
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
    signals = {m: signals[m] for m in METHODS if m in signals}
    return Completion(signals, fallback, alpha, n_interp, notes)


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
