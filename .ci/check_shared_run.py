"""Assert what CI's pooled real-data run (config/real_shared.yaml) must produce."""

import sys
from pathlib import Path

import h5py
import pandas as pd

from ecgrecon import methods as registry
from ecgrecon.io.h5io import read_table

work = Path(sys.argv[1])
sys.path.insert(0, str(Path(__file__).resolve().parent))
from calinet_checks import check_calinet  # noqa: E402
from noise_checks import CLEAN_TASKS as TASKS  # noqa: E402 (the clean tasks of run_tasks; noise tasks below)
from noise_checks import check_noise_tasks  # noqa: E402

with h5py.File(work / "results/pooled/clean.h5", "r") as f:
    meta = read_table(f["meta"])
counts = meta["dataset"].value_counts().to_dict()
print(f"pooled: {len(meta)} records {counts}, {meta['patient_id'].nunique()} patients")
assert set(counts) == {"ptbxl_local", "ludb", "cinc2021"} and counts["ptbxl_local"] == 34, counts
assert counts["ludb"] > 100 and counts["cinc2021"] > 50, counts
for task, spec in TASKS.items():  # every task's population methods, from the method registry
    tables = work / "results" / task / "tables"
    expected = [m for m in spec["methods"] if registry.get(m).joint]
    for name in ("segment_metrics", "record_metrics"):
        t = pd.read_csv(tables / f"{name}.csv")
        assert set(expected) <= set(t["variant"]), (task, name, sorted(set(t["variant"])))
    seg = pd.read_csv(tables / "segment_metrics.csv")
    mean = seg[(seg["lead"] == "Mean") & (seg["fold"] == "official")].set_index("variant")
    print(
        f"pooled real test split, task {task}, mean RMSE (mV): "
        + ", ".join(f"{registry.display(v)} {mean.loc[v, 'rmse']:.3f}" for v in expected)
    )
    ret = pd.read_csv(tables / "retention_metrics.csv")
    assert {"original", *expected} <= set(ret["method"]), (task, sorted(ret["method"]))
    assert (tables / "morphology_metrics.csv").stat().st_size > 0
    if any(registry.get(m).kind == "calibrated" for m in spec["methods"]):
        assert (tables / "pcm_metrics.csv").stat().st_size > 0
    if "calinet" in spec["methods"]:
        check_calinet(work, task)
check_noise_tasks(work, "pooled real")
print("pooled real-data run OK")
