"""Two metadata rows naming one record file: the quarantine row names the ecg_id that was dropped."""

import pandas as pd

from ecgrecon.data.clean import clean_dataset
from ptbxl_fixture import CLEAN_CFG, LABELS_CFG, make_cohort, rel_name, write_tables


def test_duplicate_metadata_row_names_the_dropped_ecg_id(tmp_path):
    raw = tmp_path / "raw"
    rows = make_cohort(raw, 3, seed=4)
    write_tables(raw, [*rows, {**rows[1], "ecg_id": 7, "patient_id": 999}])  # ecg_id 7 points at ecg_id 2's file
    logs = []
    summary = clean_dataset(
        raw, tmp_path / "clean.h5", tmp_path / "q.csv", {**CLEAN_CFG, "max_quarantine_fraction": 1.0}, LABELS_CFG, log=logs.append
    )
    assert (summary["n_input"], summary["n_kept"], summary["n_quarantined"]) == (4, 3, 1)
    (q,) = pd.read_csv(tmp_path / "q.csv").itertuples()
    assert q.record == rel_name(2) and q.stage == "clean.metadata"
    assert q.reason == "duplicate metadata row for this file: ecg_id 7 dropped (the first row for it: ecg_id 2)"
    assert any("ecg_id 7 dropped" in line for line in logs)
    assert summary["reasons"] == {"duplicate metadata row for this file": 1}
