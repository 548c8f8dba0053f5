"""Benchmark the diffusion prior's posterior samplers beside GL and C-h: windows per second on a run's test windows.

Usage: .venv/bin/python bench/bench_diffusion.py [--run .] [--task paper] [--windows 32] [--K 4] [--steps 20]
       [--threads 2] [--repeats 2] [--device auto] [--decoders Ch] [--out results/bench]

Reads the run's ``results/prior/model.pt`` (the prior, rule ``train_prior``), ``results/{task}/linear/{fold}/GL.json``,
``results/segments/segments.h5`` and ``results/folds/folds.json``, and, where present, the decoders
``results/{task}/decoders/{method}/{fold}/{lead}.pt`` with their encoder (``results/encoders/{inputs}/encoder.pt``)
and its h statistics (``reps.h5``). The task's input and target leads come from the run's ``config.yaml``
(:func:`ecgrecon.tasks.parse_tasks`), or from GL.json when the config is missing or does not declare the task.

On ``--windows`` test windows of the fold (a seeded choice), all in this process, best of ``--repeats``:

- each sampler (ddnm, dps, mgps of :mod:`ecgrecon.learn.diffusion.samplers`, default options) drawing ``--K``
  samples per window in ``--steps`` steps; the observation is the task's input leads among the prior's 8
  (I, II, V1-V6), exact (sigma_y 0), divided by the prior's scale; all windows x K samples in one batch;
- GL (:meth:`ecgrecon.learn.linear.LinearMap.predict`, numpy, CPU);
- each decoder method of ``--decoders`` (default C-h) whose checkpoints exist: the encoder's h (normalised with
  the fold's train statistics), the per-segment z-scoring and one network per target lead, on ``--device``
  (skipped with a logged line when the run has no such decoders).

Each row records windows / s, samples / s, seconds, nfe / nvjp per sample (denoiser forward / backward passes),
the machine (platform, CPU count, torch threads, device) and the ratio of its time per window to GL's. Writes
``diffusion_speed.csv`` and ``diffusion_speed.md`` into ``--out``. Not a test: timings depend on the machine and
its load (nothing here asserts them).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ecgrecon import methods as registry  # noqa: E402
from ecgrecon.data.datasets import (  # noqa: E402
    ArtifactError,
    load_folds,
    normalise_h,
    read_leads,
    read_reps,
    read_segment_meta,
    split_rows,
    zscore_segments,
)
from ecgrecon.evaluation.diffusion_report import Stacked, lead_observation  # noqa: E402
from ecgrecon.io.atomic import atomic_path, write_csv  # noqa: E402
from ecgrecon.learn import linear  # noqa: E402
from ecgrecon.learn.device import derive_seed, resolve_device, set_threads  # noqa: E402
from ecgrecon.learn.diffusion.prior import PRIOR_LEADS, Prior, load_prior  # noqa: E402
from ecgrecon.learn.diffusion.samplers import METHODS, sample  # noqa: E402
from ecgrecon.learn.models import predict as run_decoder  # noqa: E402
from ecgrecon.learn.reps import encode  # noqa: E402
from ecgrecon.learn.train_decoder import load_decoder  # noqa: E402
from ecgrecon.learn.train_encoder import load_encoder  # noqa: E402
from ecgrecon.methods.registry import ENCODER_DIRS  # noqa: E402
from ecgrecon.tasks import TaskError, parse_tasks  # noqa: E402


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def best_of(fn: Callable[[], object], repeats: int, dev: torch.device) -> tuple[float, object]:
    """(best wall seconds of ``repeats`` calls of ``fn``, the last result)."""
    best, out = float("inf"), None
    for _ in range(max(1, repeats)):
        _sync(dev)
        t0 = time.perf_counter()
        out = fn()
        _sync(dev)
        best = min(best, time.perf_counter() - t0)
    return best, out


def task_leads(run: Path, task: str, gl: linear.LinearMap, log=print) -> tuple[list[str], list[str]]:
    """(inputs, targets) of ``task``: from the run's config.yaml, else from its GL map."""
    cfg_path = run / "config.yaml"
    if cfg_path.is_file():
        cfg = yaml.safe_load(cfg_path.read_text()) or {}
        try:
            registry.load_plugins([str(run / p) for p in cfg.get("method_plugins") or []])
            tasks = parse_tasks(cfg.get("tasks") or {})
        except (TaskError, OSError, ImportError) as exc:
            log(f"{cfg_path}: tasks not readable ({exc}); inputs / targets from the GL map")
        else:
            if task in tasks:
                t = tasks[task]
                if list(t.inputs) != gl.inputs or list(t.targets) != gl.targets:
                    raise SystemExit(
                        f"{cfg_path}: task {task} has inputs {list(t.inputs)} -> {list(t.targets)}, GL map {gl.inputs} -> {gl.targets}"
                    )
                return list(t.inputs), list(t.targets)
            log(f"{cfg_path}: no task {task!r}; inputs / targets from the GL map")
    return list(gl.inputs), list(gl.targets)


def pick_test_rows(segments: Path, folds: Path, fold: str, n: int, seed: int) -> np.ndarray:
    """``n`` rows (a seeded choice, in file order) of the fold's test segments."""
    meta, _ = read_segment_meta(segments)
    rows = split_rows(meta, load_folds(folds, fold), segments).get("test", np.array([], np.int64))
    if not len(rows):
        raise SystemExit(f"{segments}: no test segments in fold {fold}")
    rng = np.random.default_rng(derive_seed(seed, "bench-diffusion", fold))
    return np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False))


def sampler_rows(prior: Prior, x8: np.ndarray, inputs: list[str], a, dev: torch.device, log=print) -> list[dict]:
    """One row per sampler: best-of-repeats wall time for K samples of every window."""
    seen = [lead for lead in inputs if lead in PRIOR_LEADS]
    obs = lead_observation(seen, x8[:, [PRIOR_LEADS.index(lead) for lead in seen]], prior.scale, device=dev)
    den = Stacked(prior.denoiser())
    rows = []
    for method in METHODS:
        draw = lambda steps, k: sample(
            method, den, prior.schedule, obs, k, steps=steps, generator=torch.Generator(device=dev).manual_seed(a.seed)
        )
        draw(2, 1)  # warm-up (allocations, kernels)
        seconds, out = best_of(lambda: draw(a.steps, a.K), a.repeats, dev)
        rows.append(
            {
                "method": method,
                "kind": "sampler",
                "device": str(dev),
                "seconds": seconds,
                "K": a.K,
                "steps": int(out["steps"]),
                "nfe_per_sample": int(out["nfe"]),
                "nvjp_per_sample": int(out["nvjp"]),
            }
        )
        log(f"{method}: {len(x8)} windows x K {a.K} in {seconds:.2f} s (nfe {out['nfe']}, nvjp {out['nvjp']} per sample)")
    return rows


def decoder_rows(run: Path, task: str, fold: str, names: list[str], inputs, targets, raw_in, a, dev, log=print) -> list[dict]:
    """One row per decoder method whose checkpoints the run has: encoder h + z-scoring + one network per lead."""
    rows = []
    for name in names:
        try:
            m = registry.get(name)
        except (KeyError, ValueError):
            log(f"{name}: not a registered method; skipped")
            continue
        if m.kind != "decoder" or m.design != "ours":
            log(f"{name}: not one of our decoder methods (kind {m.kind}, design {m.design}); skipped")
            continue
        paths = [run / f"results/{task}/decoders/{name}/{fold}/{lead}.pt" for lead in targets]
        enc_dir = run / "results/encoders" / "-".join(inputs) / ENCODER_DIRS.get(m.encoder_section, "")
        need = paths + ([enc_dir / "encoder.pt", enc_dir / "reps.h5"] if m.uses_h else [])
        missing = [str(p) for p in need if not p.is_file()]
        if missing:
            log(f"{m.display}: skipped, the run has no {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
            continue
        if m.anchor:
            log(f"{m.display}: skipped (anchored decoders are not timed here)")
            continue
        nets = [load_decoder(p, dev) for p in paths]
        enc = load_encoder(enc_dir / "encoder.pt", dev)[0] if m.uses_h else None
        stats = read_reps(enc_dir / "reps.h5", fold)[2:] if m.uses_h else None
        cols = [[list(inputs).index(i) for i in m.input_leads(inputs, lead)] for lead in targets]

        def infer():
            h = normalise_h(encode(enc, raw_in, dev), *stats) if enc is not None else None
            x = raw_in if m.raw_inputs else zscore_segments(raw_in)
            return [run_decoder(net, np.ascontiguousarray(x[:, c]), h, dev) for (net, _), c in zip(nets, cols)]

        infer()
        seconds, _ = best_of(infer, a.repeats, dev)
        n_params = sum(int(ck["n_params"]) for _, ck in nets)
        rows.append({"method": m.display, "kind": "decoder", "device": str(dev), "seconds": seconds, "n_params": n_params})
        log(f"{m.display}: {len(raw_in)} windows in {seconds * 1e3:.1f} ms ({len(targets)} lead networks" + (" + encoder)" if enc else ")"))
    return rows


def machine(dev: torch.device) -> dict:
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device_name": name,
    }


def markdown(df: pd.DataFrame, a, task: str, inputs, targets, info: dict) -> str:
    observed = [lead for lead in inputs if lead in PRIOR_LEADS]
    lines = [
        f"# Diffusion samplers beside GL and C-h (task {task}: {', '.join(inputs)} -> {', '.join(targets)})",
        "",
        f"{int(df['windows'].iloc[0])} test windows of fold {a.fold}; samplers: K {a.K} samples per window, {a.steps} steps, "
        f"observed leads {', '.join(observed)} of the prior's {len(PRIOR_LEADS)} (exact); best of {a.repeats}, one process. "
        f"Machine: {info['platform']}, {info['cpu_count']} CPUs, {info['torch_threads']} torch threads, {info['device_name']}.",
        "",
        "| method | kind | device | windows / s | samples / s | nfe / sample | nvjp / sample | time per window vs GL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in df.itertuples():
        nfe = "-" if pd.isna(r.nfe_per_sample) else f"{int(r.nfe_per_sample)}"
        nvjp = "-" if pd.isna(r.nvjp_per_sample) else f"{int(r.nvjp_per_sample)}"
        sps = "-" if pd.isna(r.samples_per_s) else f"{r.samples_per_s:.3g}"
        lines.append(f"| {r.method} | {r.kind} | {r.device} | {r.windows_per_s:.3g} | {sps} | {nfe} | {nvjp} | {r.time_vs_GL:.3g} x |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=".", help="the run's working directory (config.yaml, results/)")
    ap.add_argument("--task", default="paper")
    ap.add_argument("--fold", default="official")
    ap.add_argument("--prior", default=None, help="the prior checkpoint (default: RUN/results/prior/model.pt)")
    ap.add_argument("--windows", type=int, default=32, help="test windows timed")
    ap.add_argument("--K", type=int, default=4, help="posterior samples per window")
    ap.add_argument("--steps", type=int, default=20, help="sampling steps")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda (samplers and decoders; GL runs on the CPU)")
    ap.add_argument("--decoders", nargs="*", default=["Ch"], help="decoder methods timed when the run has them")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default="results/bench")
    a = ap.parse_args(argv)
    if a.windows < 1 or a.K < 1 or a.steps < 2:
        ap.error("need --windows >= 1, --K >= 1, --steps >= 2")
    run, task = Path(a.run), a.task
    set_threads(a.threads)
    dev = resolve_device(a.device)
    segments, folds = run / "results/segments/segments.h5", run / "results/folds/folds.json"
    try:
        gl_path = run / f"results/{task}/linear/{a.fold}/GL.json"
        inputs, targets = task_leads(run, task, linear.load(gl_path))
        gl = linear.load_checked(gl_path, a.fold, inputs)
        meta, attrs = read_segment_meta(segments)
        prior = load_prior(
            Path(a.prior) if a.prior else run / "results/prior/model.pt",
            leads=PRIOR_LEADS,
            fs=float(attrs["fs"]),
            window=int(attrs["window"]),
            device=dev,
        )
    except ArtifactError as exc:
        raise SystemExit(str(exc)) from None
    rows_idx = pick_test_rows(segments, folds, a.fold, a.windows, a.seed)
    raw_in = read_leads(segments, inputs, rows_idx)
    x8 = read_leads(segments, list(PRIOR_LEADS), rows_idx)
    n = len(rows_idx)
    print(
        f"task {task}: {', '.join(inputs)} -> {', '.join(targets)}; {n} test windows of fold {a.fold}; "
        f"device {dev}, {torch.get_num_threads()} threads"
    )
    gl.predict(raw_in)
    t_gl, _ = best_of(lambda: gl.predict(raw_in), a.repeats, torch.device("cpu"))
    rows = [{"method": "GL", "kind": "linear", "device": "cpu", "seconds": t_gl, "n_params": int(gl.weights.size + gl.intercept.size)}]
    print(f"GL: {n} windows in {t_gl * 1e3:.2f} ms")
    rows += decoder_rows(run, task, a.fold, a.decoders, inputs, targets, raw_in, a, dev)
    if any(lead in PRIOR_LEADS for lead in inputs):
        rows += sampler_rows(prior, x8, inputs, a, dev)
    else:
        print(f"samplers: skipped, no input lead of task {task} ({', '.join(inputs)}) is among the prior's leads {', '.join(PRIOR_LEADS)}")
    df = pd.DataFrame(rows)
    for col in ("K", "steps", "nfe_per_sample", "nvjp_per_sample", "n_params"):
        if col not in df:
            df[col] = np.nan
    df.insert(0, "task", task)
    df["windows"] = n
    df["windows_per_s"] = n / df["seconds"]
    df["samples_per_s"] = np.where(df["kind"] == "sampler", n * df["K"] / df["seconds"], np.nan)
    df["time_vs_GL"] = df["seconds"] / t_gl
    info = machine(dev)
    for k, v in info.items():
        df[k] = v
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "diffusion_speed.csv", df)
    text = markdown(df, a, task, inputs, targets, info)
    with atomic_path(out / "diffusion_speed.md") as tmp:
        tmp.write_text(text)
    print(text)
    return df


if __name__ == "__main__":
    main()
