"""Pool several cleaned databases into one cleaned file (config ``pool:``).

The main dataset's ``results/clean/{dataset}.h5`` and each pooled ``datasets:`` entry's
cleaned file are concatenated, in config order, into ``results/pooled/clean.h5`` with the same
layout (``signals``, ``meta``, attrs ``fs`` / ``leads``), so QC, segmentation, folds and every
learning stage run on all of them at once. Identifiers are renumbered so they cannot collide:

- ``ecg_id``: 1..N in pooled order; the original id is kept in ``source_ecg_id``;
- ``patient_id``: one new id per (source dataset, patient), numbered in order of appearance
  (two databases' patient 7 are different people);
- ``dataset``: the source name; ``filename``: ``{dataset}/{filename}``.

``strat_fold`` is kept: PTB-XL's own patient-wise folds, and for databases without folds the
adapter's hash of the patient id (:func:`ecgrecon.io.adapters.base.patient_fold`), so the split
stays subject-wise across the pooled records.
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd

from ecgrecon.data.datasets import ArtifactError, open_clean
from ecgrecon.io.atomic import atomic_path
from ecgrecon.io.h5io import write_table

CHUNK = 512


def pool_clean(sources: dict[str, str], out_h5, log=print) -> dict:
    """Concatenate the cleaned files ``sources`` (name -> path, in order) into ``out_h5``; returns counts."""
    if len(sources) < 2:
        raise ValueError(f"pooling needs at least two datasets, got {list(sources)}")
    files, metas = {}, {}
    try:
        for name, path in sources.items():
            files[name], metas[name] = open_clean(path, f"dataset '{name}'")
        first = next(iter(sources))
        ref = files[first]
        for name, f in files.items():
            for key in ("fs", "leads"):
                if list(np.atleast_1d(f.attrs[key])) != list(np.atleast_1d(ref.attrs[key])):
                    raise ArtifactError(
                        f"{sources[name]}: {key} {f.attrs[key]} differs from {ref.attrs[key]} of "
                        f"'{first}' ({sources[first]}): clean every dataset with the same settings"
                    )
            if f["signals"].shape[1:] != ref["signals"].shape[1:]:
                raise ArtifactError(
                    f"{sources[name]}: records of shape {f['signals'].shape[1:]} differ from {ref['signals'].shape[1:]} of '{first}'"
                )
        parts, counts, offset = [], {}, 0
        for name, meta in metas.items():
            m = meta.copy()
            m.insert(0, "dataset", name)
            m["source_ecg_id"] = m["ecg_id"].astype(np.int64)
            m["filename"] = name + "/" + m["filename"].astype(str)
            parts.append(m)
            counts[name] = len(m)
        meta = pd.concat(parts, ignore_index=True)
        meta["ecg_id"] = np.arange(1, len(meta) + 1, dtype=np.int64)
        keys = list(zip(meta["dataset"], meta["patient_id"].astype(np.int64)))
        new_ids: dict = {}
        meta["patient_id"] = np.array([new_ids.setdefault(k, len(new_ids) + 1) for k in keys], dtype=np.int64)
        shape = (len(meta),) + ref["signals"].shape[1:]
        with atomic_path(out_h5) as tmp, h5py.File(tmp, "w") as out:
            ds = out.create_dataset("signals", shape=shape, dtype="f4", chunks=(max(1, min(16, shape[0])),) + shape[1:])
            for f in files.values():
                src = f["signals"]
                for lo in range(0, len(src), CHUNK):
                    block = src[lo : lo + CHUNK]
                    ds[offset + lo : offset + lo + len(block)] = block
                offset += len(src)
            out.attrs["fs"] = ref.attrs["fs"]
            out.attrs["leads"] = ref.attrs["leads"]
            out.attrs["pooled"] = list(sources)
            write_table(out, "meta", meta)
    finally:
        for f in files.values():
            f.close()
    log(f"pool: {len(meta)} records from " + ", ".join(f"{n} {c}" for n, c in counts.items()) + f"; {len(new_ids)} patients -> {out_h5}")
    return {"n_records": len(meta), "n_patients": len(new_ids), "per_dataset": counts}
