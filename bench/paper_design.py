"""Benchmark: the authors' design (Cpaper, Chpaper, their ResNet encoder) beside our redesign (C, Ch, our encoder).

    .venv/bin/python bench/paper_design.py --out results/bench/paper_design [--config config.yaml ...] [--threads 2]

Measured in one process, on the same thread count and random inputs of the task's shapes (speed does not depend
on the values): decoder training ms per segment and per epoch of one lead (each design's own batch size and
epoch definition: ours `decoder.epoch_fraction` of the train segments, the authors' every segment), inference
ms per segment per lead (batch 1,024, eval mode, no gradients), and encoder training ms per segment (two views)
and per epoch. Writes {out}.csv and {out}.md; the ratio column is authors' / ours measured in this run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decoder_width import load_configs  # noqa: E402  (this folder)
from ecgrecon import methods as registry
from ecgrecon.io.atomic import write_csv
from ecgrecon.learn import paper
from ecgrecon.learn.device import set_threads
from ecgrecon.learn.fitloop import step
from ecgrecon.learn.models import build_decoder, build_encoder, count_params

ROOT = Path(__file__).resolve().parents[1]


def _timed(fn, reps: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def decoder_rows(cfg: dict, n_in: int, h_dim: dict, n_train: int, window: int, reps: int) -> list[dict]:
    rows = []
    for name in ("C", "Ch", "Cpaper", "Chpaper"):
        m = registry.get(name)
        dcfg = cfg[m.decoder_section]
        hd = h_dim[m.encoder_section] if m.uses_h else 0
        torch.manual_seed(0)
        model = build_decoder(name, n_in, hd, dcfg)
        bs = int(dcfg["batch_size"])
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        x, y = torch.randn(bs, n_in, window), torch.randn(bs, window)
        h = torch.randn(bs, hd) if hd else None

        def train_step():
            pred = model(x, h)
            step(opt, ((pred - y) ** 2).mean() + (pred - y).abs().mean(), clip=dcfg.get("grad_clip"))

        model.train()
        per_batch = _timed(train_step, reps)
        model.eval()
        xi, hi = torch.randn(1024, n_in, window), (torch.randn(1024, hd) if hd else None)
        with torch.no_grad():
            infer = _timed(lambda: model(xi, hi), max(2, reps // 2))
        per_epoch = float(dcfg["epoch_fraction"]) * n_train
        rows.append(
            {
                "what": f"decoder {m.display}",
                "design": m.design,
                "params": count_params(model),
                "train_ms_per_segment": 1000 * per_batch / bs,
                "train_s_per_epoch": per_batch / bs * per_epoch,
                "epoch_segments": int(per_epoch),
                "infer_ms_per_segment": 1000 * infer / 1024,
            }
        )
    return rows


def encoder_rows(cfg: dict, n_in: int, n_train: int, window: int, reps: int) -> list[dict]:
    rows = []
    torch.manual_seed(0)
    enc, head = build_encoder(n_in, cfg["encoder"])
    pcfg = cfg["encoder_paper"]
    penc = paper.PaperEncoder(n_in, int(pcfg["width"]), int(pcfg["depth"]))
    phead = paper.PaperHead(penc.embed_dim, int(pcfg["proj_dim"]))
    for design, e, hd, bs in (
        ("ours", enc, head, int(cfg["encoder"]["batch_size"])),
        ("paper", penc, phead, int(pcfg["classes_per_batch"]) * int(pcfg["per_class"])),
    ):
        opt = torch.optim.AdamW(list(e.parameters()) + list(hd.parameters()), lr=1e-4)
        x = torch.randn(2 * bs, n_in, window)  # two views per segment
        e.train(), hd.train()
        per_batch = _timed(lambda: step(opt, hd(e(x)).pow(2).sum()), reps)  # noqa: B023 - timed at once
        e.eval()
        with torch.no_grad():
            infer = _timed(lambda: e(torch.randn(1024, n_in, window)), max(2, reps // 2))  # noqa: B023
        rows.append(
            {
                "what": "encoder + head",
                "design": design,
                "params": count_params(e) + count_params(hd),
                "train_ms_per_segment": 1000 * per_batch / bs,
                "train_s_per_epoch": per_batch / bs * n_train,
                "epoch_segments": n_train,
                "infer_ms_per_segment": 1000 * infer / 1024,
            }
        )
    return rows


def markdown(df: pd.DataFrame, threads: int, n_train: int) -> str:
    lines = [
        f"Threads: {threads}; {n_train} train segments per epoch definition (decoders: times `epoch_fraction`).",
        "",
        "| model | design | parameters | train ms / segment | train s / epoch (segments) | inference ms / segment / lead |",
        "|---|---|---|---|---|---|",
    ]
    for _, r in df.iterrows():
        lines.append(
            f"| {r['what']} | {r['design']} | {r['params']:,} | {r['train_ms_per_segment']:.2f} | "
            f"{r['train_s_per_epoch']:.1f} ({r['epoch_segments']:,}) | {r['infer_ms_per_segment']:.3f} |"
        )
    ratios = []
    t = df.set_index("what")
    for ours, theirs in (("decoder C", "decoder C-paper"), ("decoder C-h", "decoder C-h-paper")):
        a, b = t.loc[theirs], t.loc[ours]
        r = {k: a[k] / b[k] for k in ("train_ms_per_segment", "train_s_per_epoch", "infer_ms_per_segment")}
        ratios.append(
            f"{theirs.split()[1]} / {ours.split()[1]}: training per segment {r['train_ms_per_segment']:.1f}x, "
            f"per epoch {r['train_s_per_epoch']:.1f}x, inference {r['infer_ms_per_segment']:.1f}x"
        )
    enc = df[df["what"] == "encoder + head"].set_index("design")["train_ms_per_segment"]
    ratios.append(f"encoder (authors' / ours): training per segment {enc['paper'] / enc['ours']:.1f}x")
    return "\n".join(lines + ["", "Measured in the same run: " + "; ".join(ratios) + "."])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", action="append", help="config file(s), merged in order (default: config.yaml)")
    ap.add_argument("--task", default="paper")
    ap.add_argument("--n-train", type=int, default=5661, help="train segments per epoch (default: the 600-record cohort's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--out", type=Path, default=ROOT / "results/bench/paper_design")
    a = ap.parse_args(argv)
    cfg = load_configs(a.config or [ROOT / "config.yaml"])
    set_threads(a.threads)
    n_in, window = len(cfg["tasks"][a.task]["inputs"]), int(cfg["segment"]["window"])
    pe = cfg["encoder_paper"]
    h_dim = {
        "encoder": int(cfg["encoder"]["embed_dim"]),
        "encoder_paper": paper.PaperEncoder(n_in, int(pe["width"]), int(pe["depth"])).embed_dim,
    }
    rows = decoder_rows(cfg, n_in, h_dim, a.n_train, window, a.reps) + encoder_rows(cfg, n_in, a.n_train, window, a.reps)
    df = pd.DataFrame(rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_csv(a.out.with_suffix(".csv"), df)
    text = markdown(df, a.threads, a.n_train)
    a.out.with_suffix(".md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
