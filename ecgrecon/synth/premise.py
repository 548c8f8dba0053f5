"""The method's premise, measured: per-patient vs population linear maps between leads.

With Phi = A(s) v, the three inputs (I, II, V2) determine the dipole for a known lead field,
so a per-patient linear map to V1, V3-V6 is nearly exact, while one population map must
average over anatomies ("regression to the mean"). Both maps are least squares without
intercept on band-passed signals; scores pool all samples of all records.
"""

from __future__ import annotations

import numpy as np

from ecgrecon import LEADS12

INPUTS = ("I", "II", "V2")
TARGETS = ("V1", "V3", "V4", "V5", "V6")


def _scores(y: np.ndarray, pred: np.ndarray) -> dict:
    err = y - pred
    sst = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    r2 = 1 - (err**2).sum(axis=0) / sst
    r = np.array([np.corrcoef(y[:, k], pred[:, k])[0, 1] for k in range(y.shape[1])])
    return {
        "rmse_mv": float(np.sqrt((err**2).mean())),
        "r2": float(r2.mean()),
        "r": float(r.mean()),
        "r2_per_lead": dict(zip(TARGETS, map(float, r2))),
    }


def linear_map_scores(signals: np.ndarray, patient_ids: np.ndarray) -> dict:
    """Population and per-patient least-squares maps I, II, V2 -> V1, V3-V6 on ``signals``.

    ``signals``: (n_records, n_samples, 12) band-passed mV in LEADS12 order. Returns
    ``{"population": scores, "per_patient": scores}`` with RMSE (mV), mean R^2 and mean r.
    """
    ii = [LEADS12.index(k) for k in INPUTS]
    it = [LEADS12.index(k) for k in TARGETS]
    x = signals[:, :, ii]
    y = signals[:, :, it]
    xf, yf = x.reshape(-1, 3), y.reshape(-1, 5)
    w_pop, *_ = np.linalg.lstsq(xf, yf, rcond=None)
    pred_pat = np.empty_like(y)
    pids = np.asarray(patient_ids)
    for pid in np.unique(pids):
        sel = pids == pid
        w, *_ = np.linalg.lstsq(x[sel].reshape(-1, 3), y[sel].reshape(-1, 5), rcond=None)
        pred_pat[sel] = x[sel] @ w
    return {
        "population": _scores(yf, xf @ w_pop),
        "per_patient": _scores(yf, pred_pat.reshape(-1, 5)),
        "n_records": int(len(signals)),
        "n_patients": int(len(np.unique(pids))),
    }
