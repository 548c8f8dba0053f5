"""Cross-dataset evaluation: a database evaluated with models trained on the main data set.

No fine-tuning and no choice is made on the evaluated database: it is segmented with the main
data set's QC bounds, every record goes to the test split of a one-fold ``folds.json``, its h
is standardised with the main data set's train statistics, and the main data set's GL maps and
decoders (fold ``official``) predict it. The same evaluation code then writes the same tables
and figures as for the main test split (results/cross/{dataset}/...).
"""

from __future__ import annotations

import h5py

from ecgrecon.data.datasets import ArtifactError
from ecgrecon.io.atomic import write_json
from ecgrecon.io.h5io import read_table

FOLD = "official"


def test_only_folds(clean_h5, out_json, seed: int, log=print) -> dict:
    """folds.json with one fold (``official``): every record of ``clean_h5`` in test, none in train/val."""
    try:
        with h5py.File(clean_h5, "r") as f:
            meta = read_table(f["meta"])
    except (FileNotFoundError, OSError, KeyError) as exc:
        raise ArtifactError(f"{clean_h5}: not a readable cleaned HDF5 file ({exc})") from exc
    ids = sorted(int(e) for e in meta["ecg_id"])
    if not ids:
        raise ArtifactError(f"{clean_h5}: no records to evaluate")
    folds = {FOLD: {"train": [], "val": [], "test": ids}}
    write_json(out_json, {"seed": seed, "folds": folds, "note": "cross-dataset evaluation: every record is test"})
    log(f"cross folds: {len(ids)} records, all in test")
    return folds
