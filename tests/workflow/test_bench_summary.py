"""bench/summarise.py: benchmark collection, scaling exponents and extrapolation on constructed TSVs."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import summarise as sm  # noqa: E402

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
SMK = '''
rule clean:
    """doc"""
    input:
        raw="x",
    benchmark:
        "benchmarks/clean_{dataset}.tsv"
    script:
        "s.py"


rule train_decoder:
    benchmark:
        "benchmarks/train_decoder/{variant}_{fold}_{lead}.tsv"


rule no_bench:
    output:
        "y"


rule segment:
    benchmark:
        f"benchmarks/segment.tsv"
'''


def write_tsv(path: Path, s: float, rss: float, cpu, repeats=1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{s}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n" * repeats)


def test_patterns_and_rule_matching():
    pats = sm.benchmark_patterns([SMK])
    assert pats == [
        ("clean", "benchmarks/clean_{dataset}.tsv"),
        ("train_decoder", "benchmarks/train_decoder/{variant}_{fold}_{lead}.tsv"),
        ("segment", "benchmarks/segment.tsv"),
    ]
    assert sm.match_rule("benchmarks/clean_synthetic.tsv", pats) == ("clean", "dataset=synthetic")
    assert sm.match_rule("benchmarks/train_decoder/Ch_official_V5.tsv", pats) == ("train_decoder", "variant=Ch,fold=official,lead=V5")
    assert sm.match_rule("benchmarks/segment.tsv", pats) == ("segment", "")
    assert sm.match_rule("benchmarks/other/thing.tsv", pats) == ("other/thing", "")


def test_project_rules_all_have_patterns():
    rules = {r for r, _ in sm.project_patterns()}
    assert {"synthesize", "clean", "qc_stats", "segment", "folds"} <= rules


def test_collect_per_stage_and_exact_exponents(tmp_path):
    pats = sm.benchmark_patterns([SMK])
    runs = {}
    for n in (500, 2000, 8000):
        run = tmp_path / str(n)
        write_tsv(run / "benchmarks/clean_synthetic.tsv", 0.01 * n, 100 + 0.05 * n, 0.02 * n)  # s ~ n
        write_tsv(run / "benchmarks/segment.tsv", 1e-6 * n**2, 50.0, "-")  # s ~ n^2
        for lead, k in (("V1", 1.0), ("V3", 3.0)):  # 2 jobs
            write_tsv(run / f"benchmarks/train_decoder/C_official_{lead}.tsv", k * n**0.5, 200 * k, k, repeats=2)
        runs[n] = run
    jobs = sm.collect(runs, pats)
    assert list(jobs.columns) == ["size", "rule", "wildcards", "s", "max_rss_mb", "cpu_time"]
    assert len(jobs) == 12
    assert jobs["cpu_time"][jobs["rule"] == "segment"].isna().all()
    stages = sm.per_stage(jobs, {500: 10.0, 2000: 40.0, 8000: 160.0})
    dec = stages[(stages["rule"] == "train_decoder") & (stages["size"] == 2000)].iloc[0]
    assert dec["jobs"] == 2 and dec["s"] == pytest.approx(4 * 2000**0.5) and dec["max_rss_mb"] == 600
    table = sm.scaling(stages).set_index("rule")
    assert table.loc["clean", "s_exponent"] == pytest.approx(1.0)
    assert table.loc["segment", "s_exponent"] == pytest.approx(2.0)
    assert table.loc["train_decoder", "s_exponent"] == pytest.approx(0.5)
    assert table.loc[sm.DAG, "s_exponent"] == pytest.approx(1.0)
    assert table.loc[sm.DAG, "jobs"] == 4
    cpu = stages[(stages["rule"] == sm.DAG_CPU) & (stages["size"] == 500)].iloc[0]
    assert cpu["s"] == pytest.approx((0.02 * 500 + 1.0 + 3.0) / 2)  # segment's missing CPU time is skipped
    assert not (stages["rule"].isin([sm.DAG, sm.DAG_CPU]) & ~stages["size"].isin([500, 2000, 8000])).any()
    # the exact CPU of a whole run (rusage of Snakemake's process tree) replaces the polled sum where recorded
    exact = sm.per_stage(jobs, {500: 10.0, 2000: 40.0, 8000: 160.0}, 2, {500: 30.0, 2000: float("nan")})
    dag_cpu = exact[exact["rule"] == sm.DAG_CPU].set_index("size")["s"]
    assert dag_cpu[500] == 15.0
    assert dag_cpu[2000] == pytest.approx((0.02 * 2000 + 1.0 + 3.0) / 2)  # NaN record: the polled sum
    assert np.isnan(table.loc["segment", "cpu_exponent"])
    # pure power laws: every estimate agrees except the straight line on the curved ones
    assert table.loc["clean", "s_low"] == pytest.approx(0.01 * sm.PTBXL_RECORDS)
    assert table.loc["clean", "s_high"] == pytest.approx(0.01 * sm.PTBXL_RECORDS)
    assert table.loc["segment", "s_high"] == pytest.approx(1e-6 * sm.PTBXL_RECORDS**2)
    assert table.loc["clean", "s@8000"] == pytest.approx(80.0)
    assert table["s_high"].is_monotonic_decreasing  # most expensive stage at PTB-XL size first
    # affine RSS 100 + 0.05 n: the straight line is exact, the power law through 8000 is below it
    assert table.loc["clean", "rss_high"] == pytest.approx(100 + 0.05 * sm.PTBXL_RECORDS)
    assert table.loc["clean", "rss_low"] < table.loc["clean", "rss_high"]


def test_extrapolate_fixed_cost_and_noise():
    n = np.array([500, 2000, 8000])
    fixed = sm.extrapolate(n, 2.0 + 0.001 * n, target=21800)  # fixed cost + linear part
    assert 0 < fixed["exponent"] < fixed["exponent_top"] < 1
    assert fixed["line"] == pytest.approx(2.0 + 21.8)
    assert fixed["high"] == pytest.approx(23.8) and fixed["low"] < 23.8
    noisy = sm.extrapolate(n, np.array([3.0, 2.0, 1.5]), target=21800)  # falls with n: not believed
    assert noisy["exponent"] < 0 and noisy["low"] == noisy["high"] == 1.5
    one = sm.extrapolate([500], [1.0])
    assert np.isnan(one["exponent"]) and np.isnan(one["high"])


def test_fit_exponent_ignores_missing_and_needs_two_sizes():
    assert sm.fit_exponent([10, 100, 1000], [1.0, np.nan, 100.0])[0] == pytest.approx(1.0)
    assert np.isnan(sm.fit_exponent([10, 10], [1.0, 2.0])[0])


def test_read_benchmark_mean_of_repeats(tmp_path):
    p = tmp_path / "b.tsv"
    p.write_text(HEADER + "1.0\t0\t10\t1\t1\t1\t0\t0\t5\t2\n3.0\t0\t30\t1\t1\t1\t0\t0\t5\tNA\n")
    assert sm.read_benchmark(p) == {"s": 2.0, "max_rss_mb": 20.0, "cpu_time": 2.0}
    assert isinstance(sm.md_table(pd.DataFrame({"a": ["x"], "b": [1.5]})), str)


def test_targets_table_latency_floor_and_verdicts():
    """run_bench.targets: met / NO / n/a per target, including the decoder's latency floor row."""
    import run_bench as rb

    stages = pd.DataFrame({"size": [1000] * 3, "rule": list(rb.PREPROCESS_RULES), "s": [2.0, 1.0, 1.0]})
    table = pd.DataFrame(
        {
            "rule": [sm.DAG, "clean", "qc_stats", "segment", "train_decoder"],
            "s@1000": [100.0, 2.0, 1.0, 1.0, 80.0],
            "s_exponent": [np.nan, 0.9, 0.1, 1.0, 1.2],
            "cpu_exponent": [np.nan] * 5,
            "s_high": [4 * 3600.0, 40.0, 2.0, 20.0, 3000.0],
            "rss_high": [np.nan, 900.0, 100.0, 300.0, 9000.0],
        }
    )
    micro = pd.DataFrame(
        [
            ("inference per lead", "C", "latency_ms_batch1024", 0.5),
            ("inference per lead", "Ch", "latency_ms_batch1024", 0.02),
            ("latency floor at peak GEMM rate", "decoder_C", "latency_ms", 0.09),
            ("inference per lead", "C", "latency_ms_batch1024_chunked", 0.2),
            ("inference per lead", "C_bf16", "latency_ms_batch1024_chunked", 0.03),
            ("latency floor at peak GEMM rate", "decoder_C_bf16", "latency_ms", 0.02),
        ],
        columns=["benchmark", "item", "metric", "value"],
    )
    tg = rb.targets(stages, table, micro, full=True).set_index("target")["met"]
    assert tg["clean+QC+segment records/s, DAG rules at 1,000 records"] == "yes"  # 1000 / 4 s = 250
    assert tg["batched inference (1,024) ms/segment/lead, C"] == "NO"
    assert tg["batched inference (1,024) ms/segment/lead, Ch"] == "yes"
    assert tg["decoder C at the measured float32 peak GEMM rate (floor for this architecture), ms/segment/lead"] == "NO"
    assert tg["batched inference (1,024 in pipeline chunks, fp32) ms/segment/lead, C"] == "NO"
    assert tg["batched inference (1,024 in pipeline chunks, bf16) ms/segment/lead, C"] == "yes"
    assert "batched inference (1,024 in pipeline chunks, bf16) ms/segment/lead, Ch" not in tg  # not measured
    assert tg["decoder C at the measured bfloat16 peak GEMM rate (floor for this architecture), ms/segment/lead"] == "yes"
    assert tg["whole DAG at 21,800 records, hours (wall time, upper estimate)"] == "NO"  # 4 h
    assert tg["largest exponent of wall s (train_decoder; stages >= 1 s)"] == "NO"
    assert tg["peak RSS at 21,800, MB (train_decoder, upper estimate)"] == "NO"
    no_micro = rb.targets(stages, table, None, full=False)
    assert not no_micro["target"].str.contains("inference").any()


def test_peak_gemm_rate_is_a_rate_of_the_real_multiply():
    """bench_models.peak_gflops times a real float32 multiply: positive, finite, and slower for one thread
    than the work could possibly allow (< 1e4 GFLOP/s on a CPU)."""
    import torch

    import bench_models

    rate = bench_models.peak_gflops(torch.device("cpu"), n=256, repeats=3)
    assert 0.1 < rate < 1e4


def test_paper_design_bench_writes_both_designs_with_the_authors_sizes(tmp_path):
    import paper_design

    assert paper_design.main(["--reps", "1", "--threads", "1", "--n-train", "1000", "--out", str(tmp_path / "pd")]) == 0
    df = pd.read_csv(tmp_path / "pd.csv").set_index("what")
    assert df.loc["decoder C-paper", "params"] == 123_649 and df.loc["decoder C-h-paper", "params"] == 238_593
    assert set(df.loc["encoder + head", "design"]) == {"ours", "paper"}
    assert (df["train_ms_per_segment"] > 0).all() and (df["infer_ms_per_segment"] > 0).all()
    assert df.loc["decoder C-paper", "epoch_segments"] == 250  # config.yaml: decoder_paper.epoch_fraction 0.25 of 1,000
    assert "C-h-paper / C-h: training per segment" in (tmp_path / "pd.md").read_text()


def test_job_times_groups_a_runs_jobs_by_rule_and_task(tmp_path):
    import job_times as jt

    run = tmp_path / "run"
    files = {
        "benchmarks/train_decoder/paper/C_official_V1.tsv": 10.0,
        "benchmarks/train_decoder/paper/C_official_V3.tsv": 30.0,
        "benchmarks/train_decoder/lead_i/C_official_V1.tsv": 5.0,
        "benchmarks/train_prior.tsv": 15.0,
    }
    for rel, s in files.items():
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text(HEADER + f"{s}\t0:00:{int(s):02d}\t100\t0\t0\t0\t0\t0\t0\t{s}\n")
    jt.main(["--run", str(run), "--out", str(tmp_path / "out")])
    t = pd.read_csv(tmp_path / "out" / "job_times.csv")
    assert list(zip(t["rule"], t["task"], t["jobs"])) == [
        ("train_decoder", "paper", 2),
        ("train_prior", "-", 1),
        ("train_decoder", "lead_i", 1),
    ]
    assert t["s"].tolist() == [40.0, 15.0, 5.0] and t["max_s"].iloc[0] == 30.0
    assert np.isclose(t["share"].sum(), 1.0) and np.isclose(t["share"].iloc[0], 40 / 60)
    md = (tmp_path / "out" / "job_times.md").read_text()
    assert "4 jobs, 60 s of job time; / 2 cores = 0.5 min." in md
    with pytest.raises(SystemExit, match="no benchmarks"):
        jt.main(["--run", str(tmp_path / "empty"), "--out", str(tmp_path / "out2")])
