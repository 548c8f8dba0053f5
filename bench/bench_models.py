"""Benchmark (not a test): training throughput and per-segment inference latency of the models.

Builds the encoder and the C / C-h decoders from the config (random weights: speed does not
depend on the values), then measures on the chosen device and thread count
- training samples/s (forward + backward + AdamW step, batch = config batch size),
- inference latency per segment at batch 1 (median of single calls) and batch 1024, the latter
  both as one pass and as the pipeline predicts (1,024 segments in ``inference_batch`` chunks),
- the decoders again under bfloat16 autocast (``_bf16`` rows) where the device has native bf16,
- the peak matrix-multiply rate of the device (GFLOP/s, 2048 x 2048, float32 and bf16): dividing a
  model's FLOPs by it gives the latency that model could reach if every layer ran at GEMM speed.
Writes results/bench/bench_models.{json,csv}.

    .venv/bin/python bench/bench_models.py [--config config.yaml] [--threads 1] [--out results/bench]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ecgrecon import methods as registry  # noqa: E402
from ecgrecon.io.atomic import write_csv, write_json  # noqa: E402
from ecgrecon.learn.device import autocast, bf16_native, inference_batch, resolve_device, set_threads  # noqa: E402
from ecgrecon.learn.losses import supcon_loss  # noqa: E402
from ecgrecon.learn.models import build_decoder, build_encoder, count_params  # noqa: E402


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def train_rate(step, batch: int, dev, seconds: float) -> float:
    """Samples per second of ``step()`` (one optimisation step on ``batch`` samples)."""
    step()
    step()
    _sync(dev)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step()
        n += 1
    _sync(dev)
    return n * batch / (time.perf_counter() - t0)


@torch.no_grad()
def latency_ms(fn, batch: int, dev, repeats: int) -> float:
    """Milliseconds per segment: median over ``repeats`` calls of ``fn()`` on ``batch`` segments."""
    fn()
    times = []
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times) / batch


@torch.no_grad()
def peak_gflops(dev, n: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    """Best-of-``repeats`` n x n matrix-multiply rate (GFLOP/s) on ``dev`` with the current threads."""
    a = torch.randn(n, n, device=dev, dtype=dtype)
    a @ a
    best = float("inf")
    for _ in range(repeats):
        _sync(dev)
        t0 = time.perf_counter()
        a @ a
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default=None, help="auto | cpu | cuda (default: config device)")
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per training benchmark")
    ap.add_argument("--out", default="results/bench")
    args = ap.parse_args(argv)
    cfg = yaml.safe_load(Path(args.config).read_text())
    set_threads(args.threads)
    dev = resolve_device(args.device or cfg["device"])
    torch.manual_seed(cfg["seed"])
    n_in, window = len(cfg["tasks"]["paper"]["inputs"]), int(cfg["segment"]["window"])
    enc_cfg, dec_cfg = cfg["encoder"], cfg["decoder"]
    rows = []

    enc, head = build_encoder(n_in, enc_cfg)
    enc, head = enc.to(dev), head.to(dev)
    opt = torch.optim.AdamW(list(enc.parameters()) + list(head.parameters()))
    bs = int(enc_cfg["batch_size"])
    x2 = torch.randn(2 * bs, n_in, window, device=dev)
    labels = torch.randint(0, 2, (2 * bs, 5), device=dev).bool()
    ids = torch.arange(bs, device=dev).repeat(2)

    def enc_step():
        loss = supcon_loss(head(enc(x2)), labels, ids, float(enc_cfg["temperature"]))
        opt.zero_grad()
        loss.backward()
        opt.step()

    enc_rate = train_rate(enc_step, bs, dev, args.seconds)
    enc.eval()
    rows.append(
        {
            "model": "encoder",
            "params": count_params(enc),
            "train_samples_per_s": enc_rate,
            "latency_ms_batch1": latency_ms(lambda: enc(x2[:1]), 1, dev, 200),
            "latency_ms_batch1024": latency_ms(lambda: enc(torch.randn(1024, n_in, window, device=dev)), 1024, dev, 5),
        }
    )

    h_dim = int(enc_cfg["embed_dim"])
    bs = int(dec_cfg["batch_size"])
    precisions = ["fp32"] + (["bf16"] if bf16_native(dev) else [])
    chunk = inference_batch(dev)
    for variant, precision in (
        (v, p) for v in registry.names("decoder") if not registry.get(v).anchor and registry.get(v).design == "ours" for p in precisions
    ):
        torch.manual_seed(cfg["seed"])
        dec = build_decoder(variant, n_in, h_dim, dec_cfg).to(dev)
        opt = torch.optim.AdamW(dec.parameters())
        x, y = torch.randn(bs, n_in, window, device=dev), torch.randn(bs, window, device=dev)
        h = torch.randn(bs, h_dim, device=dev) if registry.get(variant).uses_h else None

        def dec_step():
            with autocast(precision, dev):
                pred = dec(x, h)
            err = pred.float() - y
            loss = (err**2).mean() + err.abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        rate = train_rate(dec_step, bs, dev, args.seconds)
        dec.eval()
        xb = torch.randn(1024, n_in, window, device=dev)
        hb = torch.randn(1024, h_dim, device=dev) if h is not None else None

        def infer(lo=0, hi=1024):
            with autocast(precision, dev):
                return dec(xb[lo:hi], None if hb is None else hb[lo:hi])

        rows.append(
            {
                "model": f"decoder_{variant}" + ("" if precision == "fp32" else "_bf16"),
                "params": count_params(dec),
                "train_samples_per_s": rate,
                "latency_ms_batch1": latency_ms(lambda: infer(0, 1), 1, dev, 200),
                "latency_ms_batch1024": latency_ms(infer, 1024, dev, 5),
                "latency_ms_batch1024_chunked": latency_ms(lambda: [infer(lo, lo + chunk) for lo in range(0, 1024, chunk)], 1024, dev, 5),
            }
        )
    rows.append({"model": "gemm_peak", "params": 0, "gflop_per_s": peak_gflops(dev)})
    if "bf16" in precisions:
        rows.append({"model": "gemm_peak_bf16", "params": 0, "gflop_per_s": peak_gflops(dev, dtype=torch.bfloat16)})
    table = pd.DataFrame(rows)
    out = Path(args.out)
    meta = {
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "window": window,
        "inputs": cfg["tasks"]["paper"]["inputs"],
        "inference_chunk": chunk,
        "bf16_native": "bf16" in precisions,
        "note": "latency excludes data loading and z-scoring; one decoder = one target lead",
    }
    write_json(out / "bench_models.json", {**meta, "results": table.to_dict(orient="records")})
    write_csv(out / "bench_models.csv", table)
    print(table.to_string(index=False))
    print(meta)
    return table


if __name__ == "__main__":
    main()
