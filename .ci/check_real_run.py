"""Assert what CI's real-data run must produce (63 shared PTB-XL records, 34 with metadata)."""
import sys
from pathlib import Path

import h5py
import pandas as pd

work = Path(sys.argv[1])
quarantine = pd.read_csv(work / "results/qc/quarantine_ptbxl_local.csv")
with h5py.File(work / "results/clean/ptbxl_local.h5", "r") as f:
    kept = f["signals"].shape[0]
no_meta = int((quarantine["reason"] == "no metadata row").sum())
print(f"clean: kept {kept}, quarantined {len(quarantine)} ({no_meta} 'no metadata row')")
assert kept + len(quarantine) == 63, "kept + quarantined must equal the 63 input records"
assert no_meta == 29, no_meta
with h5py.File(work / "results/segments/segments.h5", "r") as f:
    n_seg = f["x"].shape[0]
print(f"segment: {n_seg} segments")
assert n_seg > 0
for table in sorted((work / "results/tables").glob("*.csv")) if (work / "results/tables").exists() else []:
    print(f"table {table.name}: {len(pd.read_csv(table))} rows")
print("real-data run OK")
cross = work / "results/cross/ludb/tables/segment_metrics.csv"
table = pd.read_csv(cross)
assert {"GL", "C", "Ch", "ChA"} <= set(table["variant"]), sorted(set(table["variant"]))
mean = table[(table["lead"] == "Mean") & (table["fold"] == "official")].set_index("variant")
print("cross-dataset PTB-XL -> LUDB, mean RMSE (mV): "
      + ", ".join(f"{v} {mean.loc[v, 'rmse']:.3f}" for v in ("GL", "C", "Ch", "ChA")))
print("cross-dataset run OK")
