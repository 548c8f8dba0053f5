"""Store and load pandas tables inside HDF5 groups (one dataset per column).

Numeric and boolean columns keep their dtype; everything else is stored as UTF-8 strings
(lists and dicts should be JSON-encoded by the caller before writing).
"""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd

_STR = h5py.string_dtype("utf-8")


def write_table(parent: h5py.Group, name: str, df: pd.DataFrame) -> h5py.Group:
    """Write ``df`` as group ``name`` of ``parent``; column order is kept in an attribute."""
    grp = parent.create_group(name)
    grp.attrs["columns"] = list(map(str, df.columns))
    grp.attrs["n_rows"] = len(df)
    for col in df.columns:
        values = df[col].to_numpy()
        if values.dtype.kind in "biuf":
            grp.create_dataset(str(col), data=values)
        else:
            grp.create_dataset(str(col), data=np.asarray([str(v) for v in values], dtype=object), dtype=_STR)
    return grp


def read_table(grp: h5py.Group) -> pd.DataFrame:
    """Read a table written by :func:`write_table`."""
    out = {}
    for col in grp.attrs["columns"]:
        ds = grp[col]
        if h5py.check_string_dtype(ds.dtype) is not None:
            out[col] = ds.asstr()[...] if len(ds) else np.array([], dtype=object)
        else:
            out[col] = ds[...]
    return pd.DataFrame(out, columns=list(grp.attrs["columns"]))
