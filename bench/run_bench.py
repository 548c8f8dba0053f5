"""Pipeline benchmark: the DAG at several cohort sizes, scaling per stage, micro-benchmarks, targets.

    .venv/bin/python bench/run_bench.py [--sizes 500 2000 8000] [--out results/bench] [--stages data|all]

For each size n: writes config/bench_<n>.yaml (if missing; merged on top of config.yaml), runs
Snakemake on the synthetic cohort in a fresh <out>/runs/<n>/ (``--directory``, ``--cores``), and
records its wall time and the load average. ``--stages data`` builds synthesize, clean, qc_stats,
segment, folds; ``all`` the default target (the whole DAG). Then collects every rule's
``benchmark:`` file into <out>/summary.csv, fits per-stage log-log slopes, extrapolates to
PTB-XL size (bench/summarise.py) and runs the micro-benchmarks in the same invocation
(bench/bench_preprocess.py on the largest cohort, bench/bench_models.py, a GL fit): their rows go
to <out>/micro.csv. Writes <out>/summary.md (tables + targets met / missed) and <out>/scaling.png.
``--profile`` adds a cProfile of clean + QC + segment (one process) as <out>/profile_preprocess.txt
and, with ``--stages all``, of one decoder epoch as <out>/profile_train_decoder.txt;
``--reconstruct`` adds bench/bench_reconstruct.py (``ecgrecon reconstruct`` records/s) on the smallest cohort;
``--keep`` reuses finished run folders (their recorded wall time is kept); ``--merge DIR`` adds the
per-rule rows of another output folder at other sizes to the fits (e.g. data-stage sizes to an ``all`` run).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import summarise as sm  # noqa: E402

PY = sys.executable
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def timed_decoders() -> list[tuple[str, bool]]:
    """(name, reads h) of the decoder methods the micro-benchmarks time: our unanchored ones (ChA = GL + a C-h; the
    authors' design is timed beside ours by bench/paper_design.py)."""
    from ecgrecon import methods as registry

    return [
        (m, registry.get(m).uses_h) for m in registry.names("decoder") if not registry.get(m).anchor and registry.get(m).design == "ours"
    ]


DATA_TARGETS = ["results/clean/synthetic.h5", "results/qc/qc_stats.json", "results/segments/segments.h5", "results/folds/folds.json"]
PREPROCESS_RULES = ("clean", "qc_stats", "segment")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process (RUSAGE_SELF) or of its finished, waited-for children
    and their descendants (RUSAGE_CHILDREN: a Snakemake run and every job it ran)."""
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def bench_config(n: int) -> Path:
    """config/bench_<n>.yaml: the cohort size (and CPU); written only when missing."""
    path = ROOT / "config" / f"bench_{n}.yaml"
    if not path.exists():
        path.write_text(
            f"# Benchmark cohort: {n:,} synthetic records on the CPU (bench/run_bench.py);\n"
            f"# merged on top of config.yaml with --configfile.\n"
            + yaml.safe_dump({"synth": {"n_records": n}, "device": "cpu"}, sort_keys=False)
        )
    return path


def run_dag(n: int, run_dir: Path, stages: str, cores: int, snakefile: Path, keep: bool) -> dict:
    """Run Snakemake for cohort size n in run_dir; wall seconds, load before / after, return code."""
    if run_dir.exists() and not keep:
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    targets = DATA_TARGETS if stages == "data" else []
    cmd = [
        SNAKEMAKE,
        *targets,
        "--snakefile",
        str(snakefile),
        "--directory",
        str(run_dir),
        "--cores",
        str(cores),
        "--configfile",
        str(bench_config(n)),
    ]
    before, t0, c0 = load(), time.perf_counter(), cpu_s(resource.RUSAGE_CHILDREN)
    with open(run_dir / "snakemake.log", "w") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=run_dir).returncode
    wall, cpu = time.perf_counter() - t0, cpu_s(resource.RUSAGE_CHILDREN) - c0
    print(f"  {n} records ({stages}): {wall:.1f} s, rc {rc}, load {before} -> {load()}", flush=True)
    if rc != 0:
        raise SystemExit(f"snakemake failed for {n} records; see {run_dir / 'snakemake.log'}")
    record = run_dir / "bench_run.json"
    if keep and record.exists() and "Nothing to be done" in (run_dir / "snakemake.log").read_text():
        return json.loads(record.read_text())  # nothing ran: keep the numbers of the run that built it
    row = {
        "size": n,
        "stages": stages,
        "cores": cores,
        "fresh": not keep,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "load_before": before,
        "load_after": load(),
        "n_segments": n_segments(run_dir / "results/segments/segments.h5"),
    }
    record.write_text(json.dumps(row))
    return row


def n_segments(path: Path) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return int(f["x"].shape[0])


# ---------------------------------------------------------------- micro-benchmarks


def run_script(args: list[str]) -> None:
    print(f"  {' '.join(Path(a).name if a.endswith('.py') else a for a in args)}", flush=True)
    subprocess.run([PY, *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def gl_micro(run_dir: Path, out: Path) -> pd.DataFrame:
    """CPU time of a GL fit (context 0, alpha grid) on the official train split, and its latency."""
    from ecgrecon.data.datasets import read_leads
    from ecgrecon.learn import linear

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())["tasks"]["paper"]
    seg, folds = run_dir / "results/segments/segments.h5", run_dir / "results/folds/folds.json"
    c0, t0 = cpu_s(), time.perf_counter()
    gl = linear.fit_from_segments(seg, folds, "official", cfg["inputs"], cfg["targets"], log=lambda m: None)
    fit_wall, fit_cpu = time.perf_counter() - t0, cpu_s() - c0
    x = read_leads(seg, cfg["inputs"], np.arange(1024))
    lat = {}
    for batch, reps in ((1, 200), (1024, 5)):
        gl.predict(x[:batch])
        t0 = time.perf_counter()
        for _ in range(reps):
            gl.predict(x[:batch], chunk=1024)
        lat[batch] = 1e3 * (time.perf_counter() - t0) / reps / batch / len(cfg["targets"])
    df = pd.DataFrame(
        [
            {
                "n_train_segments": gl.info["n_train_segments"],
                "fit_wall_s": fit_wall,
                "fit_cpu_s": fit_cpu,
                "latency_ms_per_lead_batch1": lat[1],
                "latency_ms_per_lead_batch1024": lat[1024],
                "load_avg_1min": load(),
            }
        ]
    )
    df.to_csv(out / "gl_fit_speed.csv", index=False)
    return df


def model_mflop() -> dict[str, float]:
    """Forward FLOPs per segment (torch's FlopCounterMode) of the encoder, the two decoders and the decoders'
    first layer (the x projection), which every decoder variant runs at full time resolution."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ecgrecon.learn.models import build_decoder, build_encoder

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    n_in, h_dim = len(cfg["tasks"]["paper"]["inputs"]), int(cfg["encoder"]["embed_dim"])
    x, h = torch.randn(1, n_in, int(cfg["segment"]["window"])), torch.randn(1, h_dim)
    nets = {
        "encoder": (build_encoder(n_in, cfg["encoder"])[0], ()),
        **{f"decoder_{v}": (build_decoder(v, n_in, h_dim, cfg["decoder"]), (h if uses_h else None,)) for v, uses_h in timed_decoders()},
    }
    dec = nets["decoder_C"][0]
    nets[f"decoder x projection ({dec.proj} channels; paper: 128)"] = (dec.x_proj, ())
    out = {}
    for name, (net, extra) in nets.items():
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            net.eval()(x, *extra)
        out[name] = fc.get_total_flops() / 1e6
    return out


def micro(out: Path, cohort_run: Path, cores: int, reconstruct: Path | None = None) -> pd.DataFrame:
    """Run the micro-benchmarks now; one long table (benchmark, item, metric, value, unit, load)."""
    rows = []

    def add(bench, item, metric, value, unit, ld):
        rows.append({"benchmark": bench, "item": item, "metric": metric, "value": float(value), "unit": unit, "load_avg_1min": ld})

    ld = load()
    run_script(
        ["bench/bench_preprocess.py", "--cohort", str(cohort_run / "results/raw/synthetic"), "--threads", str(cores), "--out", str(out)]
    )
    for r in pd.read_csv(out / "preprocess_speed.csv").itertuples():
        item = f"{r.stage} ({r.items} {r.unit})"
        add("preprocess", item, "per_s", r.per_s, f"{r.unit}/s", ld)
        add("preprocess", item, "per_cpu_s", r.per_cpu_s, f"{r.unit}/CPU-s", ld)
        if np.isfinite(r.speedup_vs_naive):
            add("preprocess", item, "speedup_vs_naive", r.speedup_vs_naive, "x (wall)", ld)
            add("preprocess", item, "speedup_vs_naive_cpu", r.speedup_vs_naive_cpu, "x (CPU)", ld)
    ld = load()
    run_script(["bench/bench_models.py", "--threads", str(cores), "--device", "cpu", "--out", str(out)])
    models = pd.read_csv(out / "bench_models.csv").set_index("model")
    peaks = {"": float(models.loc["gemm_peak", "gflop_per_s"])}
    add("models", "float32 matrix multiply 2048 x 2048", "gflop_per_s_peak", peaks[""], "GFLOP/s", ld)
    if "gemm_peak_bf16" in models.index:
        peaks["_bf16"] = float(models.loc["gemm_peak_bf16", "gflop_per_s"])
        add("models", "bfloat16 matrix multiply 2048 x 2048", "gflop_per_s_peak", peaks["_bf16"], "GFLOP/s", ld)
    models = models.drop(index=[m for m in models.index if m.startswith("gemm_peak")])
    n_targets = len(yaml.safe_load((ROOT / "config.yaml").read_text())["tasks"]["paper"]["targets"])
    lat_cols = [c for c in ("latency_ms_batch1", "latency_ms_batch1024", "latency_ms_batch1024_chunked") if c in models.columns]
    for model, r in models.iterrows():
        add("models", model, "train_samples_per_s", r["train_samples_per_s"], "samples/s", ld)
        for col in lat_cols:
            if np.isfinite(r[col]):
                add("models", model, col, r[col], "ms/segment", ld)
    for model, mflop in model_mflop().items():  # work per segment; GFLOP/s = how hard the cores are used
        add("models", model, "mflop_per_segment", mflop, "MFLOP", ld)
        for suffix, peak in peaks.items():
            if model + suffix in models.index:
                best = models.loc[model + suffix, lat_cols[1:]].min()
                add("models", model + suffix, "gflop_per_s_batch1024", mflop / best, "GFLOP/s", ld)
            # the latency this network would have if every layer ran at the measured matrix-multiply peak
            add("latency floor at peak GEMM rate", model + suffix, "latency_ms", mflop / peak, "ms/segment", ld)
    for col in lat_cols:  # per target lead: C = its decoder; Ch = its decoder + the shared encoder / leads
        enc = models.loc["encoder", col]
        if not np.isfinite(enc):  # the encoder has no chunked row: h is extracted in batches of 1,024
            enc = models.loc["encoder", "latency_ms_batch1024"]
        for suffix in peaks:
            if f"decoder_C{suffix}" not in models.index:
                continue
            add("inference per lead", f"C{suffix}", col, models.loc[f"decoder_C{suffix}", col], "ms/segment/lead", ld)
            add("inference per lead", f"Ch{suffix}", col, models.loc[f"decoder_Ch{suffix}", col] + enc / n_targets, "ms/segment/lead", ld)
    if reconstruct is not None:  # `ecgrecon reconstruct` end to end on a run's cohort (fresh bundles)
        ld = load()
        run_script(
            [
                "bench/bench_reconstruct.py",
                "--folder",
                str(reconstruct / "results/raw/synthetic/records100"),
                "--jobs",
                str(cores),
                "--out",
                str(out),
            ]
        )
        for r in pd.read_csv(out / "reconstruct_speed.csv").itertuples():
            item = f"reconstruct {r.variant} ({r.records} records, {r.jobs} jobs)"
            add("reconstruct", item, "per_s", r.records_per_s, "records/s", ld)
            add("reconstruct", item, "per_cpu_s", r.records_per_cpu_s, "records/CPU-s", ld)
    print("  GL fit", flush=True)
    g = gl_micro(cohort_run, out).iloc[0]
    add("GL", f"fit ({int(g.n_train_segments)} train segments)", "cpu_s", g.fit_cpu_s, "CPU-s", g.load_avg_1min)
    add("GL", f"fit ({int(g.n_train_segments)} train segments)", "wall_s", g.fit_wall_s, "s", g.load_avg_1min)
    for b in (1, 1024):
        add("inference per lead", "GL", f"latency_ms_batch{b}", g[f"latency_ms_per_lead_batch{b}"], "ms/segment/lead", g.load_avg_1min)
    return pd.DataFrame(rows)


def profile_preprocess(cohort: Path, out: Path, top: int = 18) -> Path:
    """cProfile of clean (1 process, so every call is seen) + QC + segment; top functions by own time."""
    from ecgrecon.data.clean import clean_dataset
    from ecgrecon.data.qc import compute_qc_stats
    from ecgrecon.data.segment import segment_dataset

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    tmp = out / "profile_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    prof = cProfile.Profile()
    prof.enable()
    clean_dataset(
        cohort, tmp / "c.h5", tmp / "q.csv", {**cfg["clean"], "max_quarantine_fraction": 1.0}, cfg["labels"], threads=1, log=lambda m: None
    )
    compute_qc_stats(
        tmp / "c.h5",
        tmp / "qc.json",
        tmp / "qc.png",
        cfg["qc"]["percentiles"],
        cfg["segment"]["window"],
        cfg["qc"]["n_sample_windows"],
        cfg["seed"],
        log=lambda m: None,
        statistic=cfg["qc"]["statistic"],
    )
    segment_dataset(
        tmp / "c.h5",
        tmp / "qc.json",
        tmp / "s.h5",
        tmp / "r.csv",
        cfg["segment"]["window"],
        cfg["segment"]["hop"],
        log=lambda m: None,
        statistic=cfg["qc"]["statistic"],
        max_bad_leads=cfg["qc"]["max_bad_leads"],
    )
    prof.disable()
    shutil.rmtree(tmp)
    return write_profile(prof, f"cProfile of clean (threads=1) + qc_stats + segment on {cohort}", out / "profile_preprocess.txt", top)


def profile_training(run_dir: Path, out: Path, top: int = 18) -> Path:
    """cProfile of one epoch of one C decoder (1 torch thread, as a decoder job in the DAG) on a run's segments."""
    import torch

    from ecgrecon.learn.train_decoder import train_decoder

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    torch.set_num_threads(1)
    tmp = out / "profile_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    prof = cProfile.Profile()
    prof.enable()
    train_decoder(
        run_dir / "results/segments/segments.h5",
        run_dir / "results/folds/folds.json",
        None,
        tmp / "d.pt",
        tmp / "d.csv",
        variant="C",
        fold="official",
        lead=cfg["tasks"]["paper"]["targets"][0],
        inputs=cfg["tasks"]["paper"]["inputs"],
        cfg={**cfg["decoder"], "max_epochs": 1},
        seed=cfg["seed"],
        device="cpu",
        log=lambda m: None,
    )
    prof.disable()
    shutil.rmtree(tmp)
    return write_profile(
        prof,
        f"cProfile of one epoch of decoder C/official/{cfg['tasks']['paper']['targets'][0]} (1 thread) on {run_dir}",
        out / "profile_train_decoder.txt",
        top,
    )


def write_profile(prof: cProfile.Profile, title: str, path: Path, top: int) -> Path:
    """The ``top`` functions by own time and by cumulative time, under ``title``, into ``path``."""
    buf = io.StringIO()
    buf.write(title + "\n")
    st = pstats.Stats(prof, stream=buf).strip_dirs()
    st.sort_stats("tottime").print_stats(top)
    st.sort_stats("cumulative").print_stats(top)
    path.write_text(buf.getvalue())
    return path


# ---------------------------------------------------------------- targets and report


def rates(stages: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per size, from the rules' benchmark files: clean records/s, segment segments/s, clean+QC+segment records/s."""
    s = stages.pivot_table(index="size", columns="rule", values="s", aggfunc="sum")
    seg = runs.set_index("size")["n_segments"]
    out = pd.DataFrame(
        {
            "clean_records_per_s": s.index / s["clean"],
            "segment_segments_per_s": seg / s["segment"],
            "preprocess_records_per_s": s.index / s[list(PREPROCESS_RULES)].sum(axis=1),
        }
    )
    return out.rename_axis("size").reset_index()


def targets(stages: pd.DataFrame, table: pd.DataFrame, micro_df: pd.DataFrame | None, full: bool) -> pd.DataFrame:
    """One row per issue target: measured value, threshold, met (yes / no / n/a)."""
    rows = []
    n_max = stages["size"].max()
    pre = stages[(stages["size"] == n_max) & stages["rule"].isin(PREPROCESS_RULES)]["s"].sum()
    hi = table.set_index("rule")
    pre_ptb = sum(hi.loc[r, "s_high"] for r in PREPROCESS_RULES if r in hi.index)
    rows.append((f"clean+QC+segment records/s, DAG rules at {n_max:,} records", n_max / pre, ">= 250"))
    rows.append(("clean+QC+segment records/s at 21,800 (upper time estimate)", sm.PTBXL_RECORDS / pre_ptb, ">= 250"))
    if micro_df is not None and len(micro_df):
        m = micro_df.set_index(["benchmark", "item", "metric"])["value"]
        pp = micro_df[(micro_df["benchmark"] == "preprocess") & micro_df["item"].str.startswith("clean+qc+segment")]
        if len(pp):
            rows.append(
                (
                    "clean+QC+segment records/s, micro-benchmark (one process chain)",
                    float(pp[pp["metric"] == "per_s"]["value"].iloc[0]),
                    ">= 250",
                )
            )
        for v, _ in timed_decoders():
            rows.append(
                (
                    f"batched inference (1,024) ms/segment/lead, {v}",
                    m.get(("inference per lead", v, "latency_ms_batch1024"), np.nan),
                    "<= 0.035",
                )
            )
            for suffix, prec in (("", "fp32"), ("_bf16", "bf16")):
                key = ("inference per lead", v + suffix, "latency_ms_batch1024_chunked")
                if key in m.index:
                    rows.append((f"batched inference (1,024 in pipeline chunks, {prec}) ms/segment/lead, {v}", m[key], "<= 0.035"))
        for suffix, prec in (("", "float32"), ("_bf16", "bfloat16")):
            key = ("latency floor at peak GEMM rate", "decoder_C" + suffix, "latency_ms")
            if key in m.index or not suffix:
                rows.append(
                    (
                        f"decoder C at the measured {prec} peak GEMM rate (floor for this architecture), ms/segment/lead",
                        m.get(key, np.nan),
                        "<= 0.035",
                    )
                )
    what = "whole DAG" if full else "data stages only (learning rules not run)"
    for rule, how in ((sm.DAG, "wall time"), (sm.DAG_CPU, "CPU s / cores")):
        if rule in hi.index:
            rows.append((f"{what} at 21,800 records, hours ({how}, upper estimate)", hi.loc[rule, "s_high"] / 3600, "<= 3"))
    dags = table["rule"].isin([sm.DAG, sm.DAG_CPU])
    real = table[~dags & (table[[c for c in table if c.startswith("s@")]].max(axis=1) >= 1.0)]
    for col, how in (("s_exponent", "wall s"), ("cpu_exponent", "CPU s")):
        if len(real) and real[col].notna().any():
            worst = real.loc[real[col].idxmax()]
            rows.append((f"largest exponent of {how} ({worst['rule']}; stages >= 1 s)", worst[col], "<= 1.1"))
    rss = table[~dags]
    if len(rss):
        w = rss.loc[rss["rss_high"].idxmax()]
        rows.append((f"peak RSS at 21,800, MB ({w['rule']}, upper estimate)", w["rss_high"], "< 8000"))
    out = pd.DataFrame(rows, columns=["target", "value", "threshold"])
    out["met"] = [_met(v, t) for v, t in zip(out["value"], out["threshold"])]
    return out


def _met(v, t: str) -> str:
    if not np.isfinite(v):
        return "n/a"
    op, x = t.split()
    x = float(x)
    ok = {">=": v >= x, "<=": v <= x, "<": v < x}[op]
    return "yes" if ok else "NO"


def write_summary(
    out: Path,
    runs: pd.DataFrame,
    stages: pd.DataFrame,
    table: pd.DataFrame,
    tg: pd.DataFrame,
    micro_df: pd.DataFrame | None,
    full: bool,
    merged=(),
    micro_now=True,
) -> Path:
    sizes = sorted(stages["size"].unique())
    cols = [
        "rule",
        "jobs",
        *[f"s@{n}" for n in sizes],
        "s_exponent",
        "s_exponent_top",
        "cpu_exponent",
        "s_low",
        "s_high",
        "rss_exponent",
        "rss_high",
    ]
    show = table[[c for c in cols if c in table]].rename(
        columns={
            "s_exponent": "exp (s)",
            "s_exponent_top": "exp (2 largest)",
            "cpu_exponent": "exp (CPU s)",
            "s_low": "s @21,800 low",
            "s_high": "s @21,800 high",
            "rss_exponent": "exp (RSS)",
            "rss_high": "RSS MB @21,800 high",
        }
    )
    rss_last = stages.sort_values("size").groupby("rule")["max_rss_mb"].last()
    show.insert(show.columns.get_loc("exp (RSS)"), "RSS MB @largest", show["rule"].map(rss_last))
    text = [
        f"# Pipeline benchmark ({'whole DAG' if full else 'data stages'})\n",
        f"{platform.node()} | {platform.machine()} | {os.cpu_count()} CPUs | Python {platform.python_version()} | "
        f"{time.strftime('%Y-%m-%d %H:%M')} | cores per run: {int(runs['cores'].iloc[0])}\n",
        "## Runs (fresh = new working directory; else only missing outputs were built)\n",
        sm.md_table(runs, 2),
        "\n## Stages: time (wall s, jobs summed), scaling exponent, extrapolation to 21,800 records\n",
        "Exponent = least-squares slope of log(s) on log(records) over all sizes; `2 largest` = slope "
        "between the two largest sizes. `low`/`high` = smallest/largest of: power law through the largest "
        "size with either exponent, and the straight line a + b·n. The DAG row is the wall time of the "
        "Snakemake run (jobs overlap on the cores); `CPU s / cores` is its load-independent counterpart "
        "(CPU seconds of the whole Snakemake run, its process tree measured by rusage, over the cores; "
        "without that record: the jobs' summed `cpu_time`, which Snakemake polls and undercounts)."
        + (f" Rules also measured in {', '.join(str(m) for m in merged)} include those sizes." if merged else "")
        + "\n",
        sm.md_table(show, 2),
        "\n## Targets\n",
        sm.md_table(tg, 3),
    ]
    if micro_df is not None and len(micro_df):
        when = "same invocation" if micro_now else "micro.csv of an earlier invocation"
        text += [f"\n## Micro-benchmarks ({when})\n", sm.md_table(micro_df, 4)]
    text.append("\nScaling plot: `scaling.png`; per-job rows: `summary.csv`; micro rows: `micro.csv`.\n")
    path = out / "summary.md"
    path.write_text("\n".join(text))
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 2000, 8000])
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    ap.add_argument("--stages", choices=["data", "all"], default="data")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--snakefile", type=Path, default=ROOT / "Snakefile")
    ap.add_argument("--keep", action="store_true", help="reuse existing run folders (no fresh run)")
    ap.add_argument("--no-micro", action="store_true", help="skip the micro-benchmarks")
    ap.add_argument(
        "--merge", type=Path, nargs="*", default=[], help="output folders of other runs: their rules' rows at other sizes join the fits"
    )
    ap.add_argument("--profile", action="store_true", help="also cProfile clean + QC + segment")
    ap.add_argument(
        "--reconstruct",
        action="store_true",
        help="also bench/bench_reconstruct.py on the smallest cohort (ecgrecon reconstruct, records/s)",
    )
    args = ap.parse_args(argv)
    if len(set(args.sizes)) < 2:
        ap.error(f"--sizes needs at least two different cohort sizes to fit a scaling exponent (got {args.sizes})")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    full = args.stages == "all"
    if full and "decoders.smk" not in args.snakefile.read_text():
        print(f"note: {args.snakefile} does not include the learning rules; 'all' runs the data stages only")
        full = False
    print(f"DAG runs ({args.stages}) at {args.sizes} records, load {load()}", flush=True)
    runs = pd.DataFrame([run_dag(n, out / "runs" / str(n), args.stages, args.cores, args.snakefile, args.keep) for n in args.sizes])
    jobs = sm.collect({n: out / "runs" / str(n) for n in args.sizes}, sm.project_patterns())
    jobs.to_csv(out / "summary.csv", index=False)
    for other in args.merge:  # per-rule rows of other runs at sizes not run here (never their DAG rows)
        more = pd.read_csv(other / "summary.csv")
        jobs = pd.concat([jobs, more[~more["size"].isin(args.sizes)]], ignore_index=True)
    dag_cpu = dict(zip(runs["size"], runs["cpu_s"])) if "cpu_s" in runs else None  # older bench_run.json: none
    stages = sm.per_stage(jobs, dict(zip(runs["size"], runs["wall_s"])), args.cores, dag_cpu)
    table = sm.scaling(stages)
    runs = runs.merge(rates(stages, runs), on="size")
    table.to_csv(out / "scaling.csv", index=False)
    sm.plot_scaling(stages, table, out / "scaling.png")
    micro_df, micro_now = None, not args.no_micro
    if micro_now:
        print(f"micro-benchmarks, load {load()}", flush=True)
        micro_df = micro(
            out, out / "runs" / str(max(args.sizes)), args.cores, out / "runs" / str(min(args.sizes)) if args.reconstruct else None
        )
        micro_df.to_csv(out / "micro.csv", index=False)
    elif (out / "micro.csv").exists():
        micro_df = pd.read_csv(out / "micro.csv")
    if args.profile:
        cohort = out / "runs" / str(min(args.sizes, key=lambda n: abs(n - 2000))) / "results/raw/synthetic"
        print(f"profile: {profile_preprocess(cohort, out)}", flush=True)
        if full:
            print(f"profile: {profile_training(out / 'runs' / str(min(args.sizes)), out)}", flush=True)
    tg = targets(stages, table, micro_df, full)
    path = write_summary(out, runs, stages, table, tg, micro_df, full, args.merge, micro_now)
    print(tg.to_string(index=False))
    print(f"wrote {path}, {out / 'summary.csv'}, {out / 'scaling.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
