"""Benchmark `ecgrecon reconstruct`: records per second for a folder of ten-second records.

Usage: .venv/bin/python bench/bench_reconstruct.py [--n-records 1000] [--bundle PATH ...] [--jobs 1 2]
Without --bundle, bundles of the default architecture (config.yaml; freshly initialised: speed does
not depend on the weights) are built for C and Ch. A synthetic cohort of N 10-s records at 100 Hz
(ecgrecon.synth) is generated under results/bench/reconstruct_cohort unless --folder is given.
Each (bundle, jobs) runs the real CLI over the whole folder (read, clean, reconstruct, write WFDB).
Writes results/bench/reconstruct_speed.{csv,png}. Wall time depends on other load on the machine,
so CPU seconds (this process + worker processes) are recorded too.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon import methods as registry  # noqa: E402
from ecgrecon.deploy.bundle import assemble_bundle, save_bundle, settings_from_config  # noqa: E402
from ecgrecon.deploy.cli import main as ecgrecon_main  # noqa: E402
from ecgrecon.io.atomic import save_png, write_csv  # noqa: E402
from ecgrecon.learn.models import build_decoder, build_encoder, count_params  # noqa: E402


def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def fresh_bundle(variant: str, cfg: dict, path: Path, seed: int) -> Path:
    """A bundle of the config's architecture with freshly initialised weights."""
    torch.manual_seed(seed)
    settings = settings_from_config(cfg)
    n_in = len(settings["inputs"])
    enc, _ = build_encoder(n_in, cfg["encoder"])
    embed = int(cfg["encoder"]["embed_dim"])
    arch = {k: cfg["decoder"][k] for k in ("proj", "hidden", "stride", "out_channels")}
    decs = {lead: build_decoder(variant, n_in, embed, cfg["decoder"]) for lead in settings["targets"]}
    info = {lead: {"arch": arch, "h_dim": d.h_dim, "n_params": count_params(d)} for lead, d in decs.items()}
    bundle = assemble_bundle(
        variant=variant,
        fold="untrained",
        settings=settings,
        decoders=decs,
        decoder_info=info,
        encoder=enc,
        encoder_info={"embed_dim": embed, "width": int(cfg["encoder"]["width"]), "n_params": count_params(enc)},
        h_mean=np.zeros(embed),
        h_std=np.ones(embed),
        config_sha256="benchmark",
    )
    save_bundle(bundle, path)
    return path


def n_params(bundle: Path) -> int:
    meta = torch.load(bundle, weights_only=True)["meta"]
    return sum(d["n_params"] for d in meta["decoders"].values()) + (meta["encoder"]["n_params"] if meta["encoder"] else 0)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, help="folder of WFDB records (default: a synthetic cohort's records100)")
    ap.add_argument("--n-records", type=int, default=1000, help="synthetic cohort size (no --folder)")
    ap.add_argument("--bundle", type=Path, nargs="*", help="model bundles (default: fresh C and Ch bundles)")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="worker processes to compare")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    args = ap.parse_args(argv)
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    folder = args.folder
    if folder is None:
        from ecgrecon.synth import write_cohort

        cohort = args.out / "reconstruct_cohort"
        if not (cohort / "ptbxl_database.csv").exists() or len(list((cohort / "records100").rglob("*.hea"))) != args.n_records:
            t0 = time.perf_counter()
            write_cohort(cohort, args.n_records, args.seed, threads=2, progress=lambda m: None)
            print(f"synthetic cohort of {args.n_records} records in {time.perf_counter() - t0:.1f} s -> {cohort}")
        folder = cohort / "records100"
    n_rec = len(list(folder.rglob("*.hea")))
    rows = []
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        tmp = Path(tmp)
        bundles = args.bundle or [
            fresh_bundle(v, cfg, tmp / f"fresh-{v}.pt", args.seed)
            for v in registry.names("decoder")
            if registry.get(v).exportable and not registry.get(v).anchor
        ]
        for bundle in bundles:
            variant = torch.load(bundle, weights_only=True)["meta"]["variant"]
            for jobs in args.jobs:
                load = round(os.getloadavg()[0], 2)
                c0, t0 = cpu_seconds(), time.perf_counter()
                code = ecgrecon_main(
                    [
                        "reconstruct",
                        "--model",
                        str(bundle),
                        "--input",
                        str(folder),
                        "--output",
                        str(tmp / f"out-{bundle.stem}-{jobs}"),
                        "--jobs",
                        str(jobs),
                        "--quiet",
                    ]
                )
                wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
                if code != 0:
                    raise SystemExit(f"ecgrecon reconstruct failed (exit {code}) on {folder}")
                rows.append(
                    {
                        "bundle": bundle.name,
                        "variant": variant,
                        "n_params": n_params(bundle),
                        "jobs": jobs,
                        "torch_threads": 1,
                        "records": n_rec,
                        "seconds": round(wall, 2),
                        "records_per_s": round(n_rec / wall, 1),
                        "cpu_seconds": round(cpu, 2),
                        "records_per_cpu_s": round(n_rec / cpu, 1),
                        "load_avg_1min_before": load,
                    }
                )
                print(
                    f"{bundle.name} jobs={jobs}: {n_rec} records in {wall:.1f} s = {n_rec / wall:.1f} records/s "
                    f"({n_rec / cpu:.1f} per CPU-second)"
                )
    df = pd.DataFrame(rows)
    df["folder"] = str(folder)
    df["machine"] = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    write_csv(args.out / "reconstruct_speed.csv", df)
    _plot(df, args.out / "reconstruct_speed.png")
    print(df.drop(columns=["folder", "machine"]).to_string(index=False))


def _plot(df: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.4))
    labels = [f"{r.variant}\njobs={r.jobs}" for r in df.itertuples()]
    bars = ax.bar(range(len(df)), df["records_per_s"], color=["tab:blue" if v == "C" else "tab:red" for v in df["variant"]])
    for b, v in zip(bars, df["records_per_s"]):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height(), f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(df)), labels, fontsize=8)
    ax.set_ylabel("records / s")
    ax.set_title(f"ecgrecon reconstruct: {df['records'].iloc[0]} ten-second records, {os.cpu_count()} cores", fontsize=9)
    fig.tight_layout()
    save_png(fig, path, dpi=110)


if __name__ == "__main__":
    main()
