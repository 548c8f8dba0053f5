"""bench/bench_noise.py runs and writes its table (a smoke run; the speed itself is a benchmark, not a test)."""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))


def test_noise_bench_writes_its_tables_for_every_kind(tmp_path, shared_data):
    import bench_noise

    df = bench_noise.main(["--n-records", "200", "--n-naive", "20", "--out", str(tmp_path), "--nstdb", str(shared_data / "nstdb")])
    assert list(df["kind"]) == ["bw", "em", "ma"] and set(df["source"]) == {"nstdb", "nstdb-derived"}
    assert (df["total_s"] > 0).all() and (df["naive_s_scaled"] > 0).all()
    assert pd.read_csv(tmp_path / "noise_speed.csv").shape[0] == 3
    assert "| em | nstdb-derived |" in (tmp_path / "noise_speed.md").read_text()
    assert (tmp_path / "noise_speed.png").stat().st_size > 1000
