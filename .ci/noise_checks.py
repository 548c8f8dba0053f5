"""What every CI run must hold for the noise tasks of config.yaml's run_tasks (imported by the check scripts)."""

from pathlib import Path

import pandas as pd
import yaml

from ecgrecon import methods as registry

CONFIG = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
TASKS = CONFIG["tasks"]
CLEAN_TASKS = {t: TASKS[t] for t in CONFIG["run_tasks"] if TASKS[t]["corruption"] == "none"}
NOISE_TASKS = {t: TASKS[t] for t in CONFIG["run_tasks"] if TASKS[t]["corruption"] == "noise"}


def check_noise_tasks(work: Path, label: str) -> None:
    """Every noise task: its noise-trained (and clean-trained) predictors at every level, real NSTDB noise."""
    for task, spec in NOISE_TASKS.items():
        t = pd.read_csv(work / "results" / task / "noise" / "metrics.csv")
        want = {
            f"{registry.display(m)} (noise-trained)" if registry.get(m).kind != "fixed" else registry.display(m)
            for m in spec["methods"]
            if registry.get(m).joint  # the diffusion prior has its own table (checked below)
        }
        if spec.get("clean_models"):
            want |= {f"{registry.display(m)} (clean-trained)" for m in TASKS[spec["clean_models"]]["methods"] if registry.get(m).joint}
        assert want <= set(t["predictor"]), (task, sorted(set(t["predictor"])))
        assert len(set(t["level"])) == len(spec["noise"]["levels"]), (task, sorted(set(t["level"])))
        assert set(t["source"]) <= {"nstdb", "nstdb-derived"}, (task, set(t["source"]))  # CI has ../shared/data/nstdb
        if "diffusion" in spec["methods"]:
            d = pd.read_csv(work / "results" / task / "diffusion" / "metrics.csv")
            d = d[(d["method"] == "Diffusion") & (d["lead"] == "Mean")]
            assert len(d) == len(spec["noise"]["levels"]) and d["rmse"].notna().all(), (task, d)
            print(
                f"{label}, noise task {task}: diffusion posterior-mean RMSE (mV) per level "
                + ", ".join(f"{r.level} {r.rmse:.3f}" for r in d.itertuples())
            )
        mean = t.groupby(["level", "predictor"], sort=False)["rmse"].mean()
        for level in dict.fromkeys(t["level"]):
            print(
                f"{label}, noise task {task} ({spec['noise']['kind']}), {level}: mean RMSE (mV) "
                + ", ".join(f"{p} {v:.3f}" for p, v in mean[level].items() if p != "zero")
            )
    summary = pd.read_csv(work / "results/noise/summary.csv")
    assert set(summary["task"]) == set(NOISE_TASKS), sorted(set(summary["task"]))
