"""Superclass classifier (ecgrecon.learn.classifier): metrics, thresholds, training, retention."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from defaults import section
from ecgrecon import LEADS12
from ecgrecon.data.clean import clean_dataset
from ecgrecon.data.datasets import ArtifactError, load_folds
from ecgrecon.io.h5io import read_table
from ecgrecon.learn import classifier, linear
from ecgrecon.signal.morphology import replace_leads
from ecgrecon.synth import write_cohort
from ptbxl_fixture import CLEAN_CFG, LABELS_CFG

INPUTS, TARGETS = ["I", "II", "V2"], ["V1", "V3", "V4", "V5", "V6"]
CFG = section("classifier", width=24, batch_size=16, lr=0.002, max_epochs=15, patience=6)


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.random((60, 4)) < 0.3
    scores = np.round(rng.random((60, 4)) + 0.5 * y, 1)  # rounding makes ties
    y[:, 3] = False  # a class without positives
    auc = classifier.auc_per_class(y, scores)
    for c in range(3):
        pos, neg = scores[y[:, c], c], scores[~y[:, c], c]
        pairs = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
        assert auc[c] == pytest.approx(pairs, abs=1e-12)
    assert np.isnan(auc[3])
    assert classifier.auc_per_class(y[:, :1], y[:, :1].astype(float))[0] == 1.0


def test_thresholds_maximise_f1_on_validation():
    rng = np.random.default_rng(1)
    y = rng.random((80, 3)) < 0.35
    scores = np.round(rng.random((80, 3)) * 0.7 + 0.4 * y, 2)
    y[:, 2] = False
    thr = classifier.choose_thresholds(y, scores)
    for c in range(2):
        f1 = classifier.f1_per_class(y[:, [c]], scores[:, [c]] >= thr[c])[0]
        brute = max(classifier.f1_per_class(y[:, [c]], scores[:, [c]] >= t)[0] for t in np.unique(scores[:, c]))
        assert f1 == pytest.approx(brute)
    assert thr[2] == 0.5
    tp_only = classifier.f1_per_class(np.array([[1], [0]], bool), np.array([[1], [0]], bool))
    assert tp_only[0] == 1.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """200 synthetic records, cleaned; custom patient-wise split by strat_fold (1-5 / 6-7 / 8-10).

    One torch thread: on 2 shared cores more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("clf")
    write_cohort(d / "raw", 200, seed=3, threads=1, progress=lambda s: None)
    cfg = dict(CLEAN_CFG, max_quarantine_fraction=0.2)
    clean_dataset(d / "raw", d / "clean.h5", d / "q.csv", cfg, LABELS_CFG, log=lambda s: None)
    with h5py.File(d / "clean.h5", "r") as f:
        meta = read_table(f["meta"])
    fold = meta["strat_fold"].to_numpy()
    ecg = meta["ecg_id"].to_numpy()
    split = {"train": ecg[fold <= 5].tolist(), "val": ecg[(fold == 6) | (fold == 7)].tolist(), "test": ecg[fold >= 8].tolist()}
    (d / "folds.json").write_text(json.dumps({"seed": 0, "folds": {"custom": split}}))
    summary = classifier.train_from_clean(
        d / "clean.h5", d / "folds.json", "custom", d / "clf.pt", d / "clf.json", cfg=CFG, seed=0, device="cpu", log=lambda s: None
    )
    yield d, summary
    torch.set_num_threads(threads)


def test_classifier_well_above_chance_on_synthetic_cohort(trained):
    d, summary = trained
    model, thr, classes = classifier.load_classifier(d / "clf.pt")
    assert classes == list(classifier.CLASSES) and thr.tolist() == summary["thresholds"]
    ids = load_folds(d / "folds.json", "custom")["test"]
    x, y, _ = classifier.load_records(d / "clean.h5", ids)
    assert len(x) >= 50 and (y.sum(axis=0) >= 3).all()
    s = classifier.scores_summary(y, classifier.predict_proba(model, x), thr)
    assert s["macro_auc"] > 0.68 and not s["auc_undefined"]  # chance: 0.5 (SE ~0.04 here)
    assert s["auc"]["NORM"] > 0.7 and s["macro_f1"] > 0.3
    assert not (d / "clf.resume.pt").exists() and json.loads((d / "clf.json").read_text())["best_epoch"] >= 1


def test_retention_of_reconstructions(trained):
    d, summary = trained
    model, thr, _ = classifier.load_classifier(d / "clf.pt")
    ids = load_folds(d / "folds.json", "custom")
    x_tr, _, _ = classifier.load_records(d / "clean.h5", ids["train"])
    x_va, _, _ = classifier.load_records(d / "clean.h5", ids["val"])
    x, y, _ = classifier.load_records(d / "clean.h5", ids["test"])
    ii, it = [LEADS12.index(k) for k in INPUTS], [LEADS12.index(k) for k in TARGETS]
    gl = linear.fit(x_tr[:, ii], x_tr[:, it], x_va[:, ii], x_va[:, it], INPUTS, TARGETS)
    records = {"original": x, "copy": replace_leads(x, x[:, it], TARGETS), "GL": replace_leads(x, gl.predict(x[:, ii]), TARGETS)}
    table = classifier.retention_table(model, thr, y, records).set_index("method")
    assert (table.loc[["original", "copy"], ["f1_retention", "auc_retention"]] == 1.0).all().all()
    gl_scores = classifier.scores_summary(y, classifier.predict_proba(model, records["GL"]), thr)
    assert table.loc["GL", "macro_auc"] == gl_scores["macro_auc"] != table.loc["original", "macro_auc"]
    orig_auc = table.loc["original", "macro_auc"]
    assert table.loc["GL", "auc_retention"] == pytest.approx(gl_scores["macro_auc"] / orig_auc)
    with pytest.raises(ValueError, match="must include 'original'"):
        classifier.retention_table(model, thr, y, {"GL": records["GL"]})


class _V1Mean(torch.nn.Module):
    """A fixed two-class 'classifier': both logits are 10 x the record's mean V1 (mV)."""

    def __init__(self):
        super().__init__()
        self.out = torch.nn.Linear(1, 2)  # unused; predict_proba reads out.out_features

    def forward(self, x):
        return x[:, LEADS12.index("V1")].mean(dim=-1, keepdim=True).expand(-1, 2) * 10.0


def test_retention_arithmetic_with_a_known_classifier():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.1, (40, 12, 100)).astype(np.float32)
    v1 = x[:, LEADS12.index("V1")].mean(axis=-1)
    y = np.stack([v1 > 0, v1 > np.median(v1)], axis=1).astype(np.float32)
    blank = replace_leads(x, np.zeros((40, 1, 100), np.float32), ["V1"])
    table = classifier.retention_table(_V1Mean(), np.array([0.5, 0.5]), y, {"original": x, "blank": blank}, classes=("A", "B")).set_index(
        "method"
    )
    assert table.loc["original", "macro_auc"] == 1.0
    assert table.loc["blank", "macro_auc"] == 0.5 and table.loc["blank", "auc_retention"] == 0.5
    # blank: every score is sigmoid(0) = 0.5 >= 0.5, all records predicted positive
    f1_blank = np.mean([2 * y[:, c].sum() / (y[:, c].sum() + 40) for c in range(2)])
    assert table.loc["blank", "macro_f1"] == pytest.approx(f1_blank)
    assert table.loc["blank", "f1_retention"] == pytest.approx(f1_blank / table.loc["original", "macro_f1"])


def test_training_is_deterministic_and_checks_input(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(0, 0.2, (24, 12, 200)).astype(np.float32)
    y = (rng.random((24, 5)) < 0.4).astype(np.float32)
    x[y[:, 1] > 0, 3] += 0.5  # a learnable signal for class MI
    kw = dict(cfg=section("classifier", width=4, max_epochs=2, patience=2, batch_size=8), seed=3, device="cpu", log=lambda s: None)
    m1, s1 = classifier.train(x[:16], y[:16], x[16:], y[16:], state_path=tmp_path / "a.pt", **kw)
    m2, s2 = classifier.train(x[:16], y[:16], x[16:], y[16:], state_path=tmp_path / "b.pt", **kw)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert s1["thresholds"] == s2["thresholds"]
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="train: non-finite"):
        classifier.train(bad[:16], y[:16], x[16:], y[16:], state_path=tmp_path / "c.pt", **kw)
    with pytest.raises(ValueError, match=r"expected records \(n, 12, T\)"):
        classifier.train(x[:16, :8], y[:16], x[16:], y[16:], state_path=tmp_path / "c.pt", **kw)
    with pytest.raises(ArtifactError, match="missing.h5"):
        classifier.load_records(tmp_path / "missing.h5", [1])
    with pytest.raises(ArtifactError, match="classifier checkpoint not found"):
        classifier.load_classifier(tmp_path / "none.pt")


def test_a_partial_classifier_section_is_refused_naming_the_missing_keys(tmp_path):
    x = np.zeros((4, 12, 100), np.float32)
    y = np.eye(5, dtype=np.float32)[[0, 1, 2, 3]]
    with pytest.raises(ValueError, match=r"classifier config lacks \['dropout', 'crop'\]"):
        classifier.train(
            x,
            y,
            x,
            y,
            cfg={k: v for k, v in section("classifier").items() if k not in ("dropout", "crop")},
            seed=0,
            state_path=tmp_path / "s.pt",
            device="cpu",
            log=lambda s: None,
        )


def test_training_does_not_depend_on_the_callers_thread_count_or_machine_load(tmp_path):
    """Multi-threaded CPU training of this network gave load-dependent last bits (a local and a SLURM run of the same
    job differed); the classifier trains on one intra-op thread, so 1 and 2 caller threads give identical weights."""
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.2, (96, 12, 1000)).astype(np.float32)
    y = (rng.random((96, 5)) < 0.4).astype(np.float32)
    kw = dict(cfg=section("classifier", max_epochs=1, patience=1), seed=3, device="cpu", log=lambda s: None)
    before = torch.get_num_threads()
    states = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            model, _ = classifier.train(x[:80], y[:80], x[80:], y[80:], state_path=tmp_path / f"{n}.pt", **kw)
            assert torch.get_num_threads() == n  # the caller's setting is restored
            states.append(model.state_dict())
    finally:
        torch.set_num_threads(before)
    for a, b in zip(states[0].values(), states[1].values()):
        assert torch.equal(a, b)
