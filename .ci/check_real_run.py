"""Assert what CI's real-data run must produce (63 shared PTB-XL records, 34 with metadata)."""

import sys
from pathlib import Path

import h5py
import pandas as pd

from ecgrecon import methods as registry

work = Path(sys.argv[1])
sys.path.insert(0, str(Path(__file__).resolve().parent))
from calinet_checks import check_calinet  # noqa: E402
from noise_checks import CLEAN_TASKS as TASKS  # noqa: E402 (the clean tasks of run_tasks; noise tasks below)
from noise_checks import check_noise_tasks  # noqa: E402

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
for task in ("paper", "lead_i"):
    for table in sorted((work / "results" / task / "tables").glob("*.csv")):
        print(f"{task} table {table.name}: {len(pd.read_csv(table))} rows")
for task, spec in TASKS.items():
    if "calinet" in spec["methods"]:
        check_calinet(work, task)
print("real-data run OK")
for task, spec in TASKS.items():  # every task's population methods, from the method registry
    expected = [m for m in spec["methods"] if registry.get(m).joint]
    table = pd.read_csv(work / "results" / task / "cross/ludb/tables/segment_metrics.csv")
    assert set(expected) <= set(table["variant"]), (task, sorted(set(table["variant"])))
    assert set(table["lead"]) == {*spec["targets"], *spec["derived"], "Mean"}, (task, sorted(set(table["lead"])))
    mean = table[(table["lead"] == "Mean") & (table["fold"] == "official")].set_index("variant")
    print(
        f"cross-dataset PTB-XL -> LUDB, task {task}, mean RMSE (mV): "
        + ", ".join(f"{registry.display(v)} {mean.loc[v, 'rmse']:.3f}" for v in expected)
    )
print("cross-dataset run OK")
check_noise_tasks(work, "real PTB-XL")
print("noise tasks OK")
