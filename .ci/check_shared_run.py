"""Assert what CI's pooled real-data run (config/real_shared.yaml) must produce."""
import sys
from pathlib import Path

import h5py
import pandas as pd

from ecgrecon.h5io import read_table

work = Path(sys.argv[1])
with h5py.File(work / "results/pooled/clean.h5", "r") as f:
    meta = read_table(f["meta"])
counts = meta["dataset"].value_counts().to_dict()
print(f"pooled: {len(meta)} records {counts}, {meta['patient_id'].nunique()} patients")
assert set(counts) == {"ptbxl_local", "ludb", "cinc2021"} and counts["ptbxl_local"] == 34, counts
assert counts["ludb"] > 100 and counts["cinc2021"] > 50, counts
tables = work / "results/tables"
for name in ("segment_metrics", "record_metrics"):
    t = pd.read_csv(tables / f"{name}.csv")
    assert {"GL", "C", "Ch", "ChA"} <= set(t["variant"]), (name, sorted(set(t["variant"])))
seg = pd.read_csv(tables / "segment_metrics.csv")
mean = seg[(seg["lead"] == "Mean") & (seg["fold"] == "official")].set_index("variant")
print("pooled real test split, mean RMSE (mV): " + ", ".join(f"{v} {mean.loc[v, 'rmse']:.3f}"
                                                            for v in ("GL", "C", "Ch", "ChA")))
ret = pd.read_csv(tables / "retention_metrics.csv")
assert {"original", "GL", "ChA"} <= set(ret["method"]), sorted(ret["method"])
assert (tables / "pcm_metrics.csv").stat().st_size > 0 and (tables / "morphology_metrics.csv").stat().st_size > 0
print("pooled real-data run OK")
