"""Benchmark (not a test): decoder width and training precision vs validation accuracy, training time
and inference latency.

Trains every (variant, target lead) decoder of the ``official`` fold once per candidate width,
training precision (fp32 / bf16 autocast) and seed on the artifacts of a finished run (segments,
folds, reps, GL maps) and reads, for each, the best **validation** (fold 9) RMSE of the kept
weights, the seconds per epoch and the epochs run; then measures the batch-1,024 inference latency
per segment per lead of each width in the same process. The test fold is never read: this is the
evidence for choosing ``decoder.hidden`` / ``decoder.out_channels`` / ``decoder.precision``. ``proj``
(the paper's 128-channel projections of x and h) is not varied. Several ``--seeds`` (decoder
initialisation and batch order) show whether a difference exceeds seed-to-seed noise.
Writes ``{out}/decoder_width.{csv,md,png}`` (per decoder rows in ``decoder_width_runs.csv``).

    .venv/bin/python bench/decoder_width.py [--run results] [--config config.yaml] [--widths 128:32,64:16,32:16]
        [--precisions fp32,bf16] [--seeds 42,43]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_models import latency_ms  # noqa: E402  (this folder)
from ecgrecon import methods as registry  # noqa: E402
from ecgrecon.io.atomic import atomic_path, save_png, write_csv  # noqa: E402
from ecgrecon.learn.device import autocast, set_threads  # noqa: E402
from ecgrecon.learn.models import build_decoder  # noqa: E402
from ecgrecon.learn.train_decoder import train_decoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def parse_widths(text: str) -> list[tuple[int, int]]:
    """'128:32,64:16' -> [(hidden, out_channels), ...]."""
    out = []
    for item in text.split(","):
        hidden, oc = item.split(":")
        out.append((int(hidden), int(oc)))
    return out


def decoder_latency_ms(variant: str, n_in: int, h_dim: int, dcfg: dict, precision: str = "fp32") -> float:
    """ms per segment of one decoder forward pass at batch 1,024 (random weights; ChA timed as its C-h part)."""
    if registry.get(variant).anchor:  # an anchored decoder costs its residual network: the unanchored one reading the same
        variant = next(
            m
            for m in registry.names("decoder")
            if not registry.get(m).anchor and registry.get(m).design == "ours" and registry.get(m).uses_h == registry.get(variant).uses_h
        )
    model = build_decoder(variant, n_in, h_dim, dcfg).eval()
    x, h = torch.randn(1024, n_in, 256), (torch.randn(1024, h_dim) if variant != "C" else None)
    cpu = torch.device("cpu")

    def forward():
        with autocast(precision, cpu):
            return model(x, h)

    return latency_ms(forward, 1024, cpu, 5)


def summarise_runs(runs: pd.DataFrame, n_seeds: int) -> pd.DataFrame:
    """Per (width, precision, variant): mean best validation RMSE over leads and seeds, the spread of the
    per-seed means (``val_rmse_seed_sd``, 0 with one seed), mean epochs, summed job seconds per seed;
    ratios against the first candidate (same variant), all from the same invocation."""
    keys = ["hidden", "out_channels", "precision", "variant"]
    per_seed = runs.groupby(keys + ["seed"], sort=False)["best_val_rmse_mv"].mean()
    spread = per_seed.groupby(level=keys, sort=False).std(ddof=1).fillna(0.0).rename("val_rmse_seed_sd")
    summary = (
        runs.groupby(keys, sort=False)
        .agg(
            val_rmse_mv=("best_val_rmse_mv", "mean"),
            s_per_epoch=("s_per_epoch", "mean"),
            epochs_run=("epochs_run", "mean"),
            job_s=("job_s", "sum"),
            params=("params", "mean"),
        )
        .join(spread)
        .reset_index()
        .astype({"params": int})
    )
    summary["job_s"] /= n_seeds
    first = summary.loc[0, ["hidden", "out_channels", "precision"]]
    base = summary[(summary[["hidden", "out_channels", "precision"]] == first).all(axis=1)].set_index("variant")
    summary["val_rmse_vs_first"] = summary["val_rmse_mv"] / summary["variant"].map(base["val_rmse_mv"])
    summary["job_s_vs_first"] = summary["job_s"] / summary["variant"].map(base["job_s"])
    return summary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, default=ROOT / "results", help="results folder of a finished run")
    ap.add_argument("--config", type=Path, action="append", help="config file(s) of that run (default config.yaml)")
    ap.add_argument("--widths", default="128:32,64:16,32:16", help="hidden:out_channels candidates")
    ap.add_argument(
        "--precisions", default=None, help="training precisions, comma list of auto, fp32, bf16 (default: the config's decoder.precision)"
    )
    ap.add_argument("--seeds", default=None, help="comma list of seeds (default: the config's seed)")
    ap.add_argument("--task", default="paper", help="the task (config `tasks:`) whose decoders to sweep")
    ap.add_argument("--variants", default=None, help="comma list (default: the task's decoder methods)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "bench")
    a = ap.parse_args(argv)
    cfg = load_configs(a.config or [ROOT / "config.yaml"])
    set_threads(a.threads)
    task = cfg["tasks"][a.task]
    variants = (
        a.variants.split(",")
        if a.variants
        else [m for m in task["methods"] if registry.get(m).kind == "decoder" and registry.get(m).design == "ours"]
    )
    inputs, targets = task["inputs"], task["targets"]
    run = a.run
    reps, gl_map = run / "encoders" / "-".join(inputs) / "reps.h5", run / a.task / "linear/official/GL.json"
    seeds = [int(v) for v in a.seeds.split(",")] if a.seeds else [int(cfg["seed"])]
    precisions = a.precisions.split(",") if a.precisions else [cfg["decoder"].get("precision", "fp32")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for (hidden, oc), seed, precision in itertools.product(parse_widths(a.widths), seeds, precisions):
            dcfg = {**cfg["decoder"], "hidden": hidden, "out_channels": oc, "precision": precision}
            for variant in variants:
                for lead in targets:
                    stem = Path(tmp) / f"{hidden}_{precision}_{seed}_{variant}_{lead}"
                    t0 = time.perf_counter()
                    fitted = train_decoder(
                        run / "segments/segments.h5",
                        run / "folds/folds.json",
                        reps,
                        stem.with_suffix(".pt"),
                        stem.with_suffix(".csv"),
                        variant=variant,
                        fold="official",
                        lead=lead,
                        inputs=inputs,
                        cfg=dcfg,
                        seed=seed,
                        device="cpu",
                        log=lambda *_: None,
                        gl_path=gl_map,
                    )
                    wall = time.perf_counter() - t0
                    full = pd.read_csv(stem.with_suffix(".csv")).set_index("epoch")  # ChA: epoch-0 row = GL alone
                    best_rmse = float(full.loc[fitted["best_epoch"], "val_rmse_mv"])  # the kept weights' epoch
                    trained = full.loc[full.index > 0]
                    rows.append(
                        {
                            "hidden": hidden,
                            "out_channels": oc,
                            "precision": fitted["precision"],
                            "seed": seed,
                            "variant": variant,
                            "lead": lead,
                            "params": int(fitted["n_params"]),
                            "best_val_rmse_mv": best_rmse,
                            "best_epoch": int(fitted["best_epoch"]),
                            "epochs_run": len(trained),
                            "s_per_epoch": float(trained["seconds"].mean()),
                            "job_s": wall,
                        }
                    )
                    print(
                        f"  hidden {hidden} out {oc} {fitted['precision']} seed {seed} {variant} {lead}: "
                        f"val RMSE {best_rmse:.4f} mV, {len(trained)} epochs, {wall:.0f} s",
                        flush=True,
                    )
    runs = pd.DataFrame(rows)
    summary = summarise_runs(runs, len(seeds))
    n_in, h_dim = len(inputs), int(cfg["encoder"]["embed_dim"])
    summary["latency_ms_batch1024"] = [
        decoder_latency_ms(
            r.variant, n_in, h_dim, {**cfg["decoder"], "hidden": int(r.hidden), "out_channels": int(r.out_channels)}, r.precision
        )
        for r in summary.itertuples()
    ]
    a.out.mkdir(parents=True, exist_ok=True)
    write_csv(a.out / "decoder_width_runs.csv", runs)
    write_csv(a.out / "decoder_width.csv", summary)
    with atomic_path(a.out / "decoder_width.md") as tmp:
        tmp.write_text(_markdown(summary, run, len(targets)))
    _plot(summary, a.out / "decoder_width.png")
    print(summary.to_string(index=False))
    return 0


def load_configs(paths) -> dict:
    """The config files ``paths`` merged in order, nested sections key by key (as Snakemake merges --configfile)."""
    cfg: dict = {}
    for path in paths:
        _merge(cfg, yaml.safe_load(Path(path).read_text()))
    return cfg


def _merge(into: dict, new: dict) -> None:
    for k, v in (new or {}).items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def _markdown(summary: pd.DataFrame, run: Path, n_leads: int) -> str:
    cols = [
        "hidden",
        "out_channels",
        "precision",
        "variant",
        "params",
        "val_rmse_mv",
        "val_rmse_seed_sd",
        "val_rmse_vs_first",
        "epochs_run",
        "s_per_epoch",
        "job_s",
        "job_s_vs_first",
        "latency_ms_batch1024",
    ]
    lines = [
        f"# Decoder width and precision: validation (fold 9) RMSE, training time, latency ({run})",
        "",
        f"Mean over {n_leads} target leads (and the seeds) of the best validation RMSE; `val_rmse_seed_sd` = "
        "standard deviation of the per-seed means; `job_s` = summed wall seconds of the decoder trainings of "
        "one seed; ratios against the first candidate, measured in the same run. Test fold not read.",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for r in summary[cols].itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def _plot(summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for variant, g in summary.groupby("variant", sort=False):
        ax.errorbar(g["job_s"], g["val_rmse_mv"], yerr=g["val_rmse_seed_sd"], fmt="o-", capsize=3, label=variant)
        for r in g.itertuples():
            ax.annotate(
                f"{r.hidden}/{r.out_channels} {r.precision}",
                (r.job_s, r.val_rmse_mv),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    ax.set_xlabel("decoder training wall s (all leads, one seed)")
    ax.set_ylabel("validation RMSE (mV), mean over leads (+- seed sd)")
    ax.set_title("decoder width / precision trade-off (fold 9)")
    ax.legend()
    fig.tight_layout()
    save_png(fig, path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
