"""Write a synthetic PTB-XL-shaped cohort: records, ``ptbxl_database.csv``, statements, truth.

``write_cohort`` is the entry point of rule ``synthesize``; ``simulate_cohort`` returns the
same records in memory, with their noise-free versions, for tests and analyses.
"""

from __future__ import annotations

import ast
import multiprocessing
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pandas as pd

from ecgrecon.io.atomic import atomic_path, write_csv
from ecgrecon.synth import catalogue as cat
from ecgrecon.synth.leadfield import LeadFieldModel, leadfield_model
from ecgrecon.synth.noise import quantise
from ecgrecon.synth.plan import plan_cohort, record_path
from ecgrecon.synth.record import FS_LOW, FS_SOURCE, patient_model, simulate_record
from ecgrecon.synth.tables import database_table, summary, write_ground_truth
from ecgrecon.synth.wfdb_writer import write_record

CHUNK_RECORDS = (20, 150)  # records per work item: at least, at most
OWN_NAMES = {"records100", "records500", "RECORDS", "ptbxl_database.csv", "scp_statements.csv", "ground_truth.h5"}


def _patient_models(seed: int, patients: pd.DataFrame, leadfield: LeadFieldModel | None = None) -> dict:
    return {
        int(p.patient_index): patient_model(seed, p.patient_index, p.age, p.sex, p.bmi, p.codes, leadfield) for p in patients.itertuples()
    }


def _simulate_chunk(task: tuple) -> list[dict]:
    """Worker: simulate and write the records of a chunk of whole patients."""
    seed, out_dir, write_hr, patients, records, leadfield = task
    models = _patient_models(seed, patients, leadfield)
    out = []
    for r in records.itertuples():
        model = models[int(r.patient_index)]
        sim = simulate_record(seed, model, r.ecg_id, bool(r.afib), r.bad_kind, want_hr=write_hr)
        write_record(Path(out_dir) / record_path(r.ecg_id), quantise(sim.lr), FS_LOW)
        if write_hr:
            write_record(Path(out_dir) / record_path(r.ecg_id, hr=True), quantise(sim.hr), FS_SOURCE)
        out.append(
            {
                "ecg_id": int(r.ecg_id),
                "truth": sim.truth,
                "lead_field": model.anatomy.field12,
                "local_field": model.anatomy.local12,
                "anatomy": model.anatomy.params,
                "effects": {c: round(float(e["sev"]), 4) for c, e in model.effects.items()},
            }
        )
    return out


def _chunks(patients: pd.DataFrame, records: pd.DataFrame, threads: int) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """Work items of whole patients (their size never changes the output)."""
    size = int(np.clip(np.ceil(len(records) / (4 * max(threads, 1))), *CHUNK_RECORDS))
    bounds = np.cumsum(patients["n_records"].to_numpy())
    cut = np.searchsorted(bounds, np.arange(size, bounds[-1], size), side="left")
    edges = [0, *sorted(set((cut + 1).tolist()) - {0, len(patients)}), len(patients)]
    by_patient = records.groupby("patient_index", sort=False).indices
    out = []
    for a, b in zip(edges[:-1], edges[1:]):
        rows = np.sort(np.concatenate([by_patient[p] for p in range(a, b)]))
        out.append((patients.iloc[a:b], records.iloc[rows]))
    return out


def _mp_context():
    """Fork where available: workers then never re-import the caller's main module (a Snakemake
    script has no ``__main__`` guard); spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _prepare_out_dir(out: Path) -> None:
    """Refuse a folder holding anything but a cohort's own files; clear old record folders."""
    if out.exists():
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OWN_NAMES and not p.name.startswith("."))
        if foreign:
            raise FileExistsError(f"{out}: refusing to write a synthetic cohort into a folder holding other files: {foreign[:5]}")
        for sub in ("records100", "records500"):
            if (out / sub).is_dir():
                shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)


def write_cohort(
    out_dir,
    n_records: int,
    seed: int,
    write_hr: bool = False,
    bad_per_thousand: float = 3.0,
    threads: int = 1,
    progress: Callable[[str], None] = print,
    leadfield: str | LeadFieldModel = "dower",
) -> dict:
    """Generate ``n_records`` synthetic records into ``out_dir`` (PTB-XL layout); returns a summary.

    Writes ``records100/`` (and ``records500/`` with ``write_hr``), ``ptbxl_database.csv``,
    ``scp_statements.csv``, ``RECORDS`` and ``ground_truth.h5`` (for tests and analyses only).
    About ``bad_per_thousand`` per 1000 records are corrupted (flat / saturated lead, huge
    artefact). ``threads`` > 1 simulates chunks of patients in worker processes; the output is
    byte-identical for the same arguments whatever ``threads`` is. ``progress`` receives short
    messages about every 10 %. The summary holds counts of records, patients, superclasses
    (likelihood >= 80), AFIB records, records per fold, and the ecg_ids of bad records by kind.
    ``leadfield``: the lead-field model patients are drawn from (``dower``, the hand-set one;
    ``calibrated``, the one fitted to real records; see :func:`~ecgrecon.synth.leadfield.leadfield_model`).
    """
    out = Path(out_dir)
    model = leadfield_model(leadfield)
    threads = max(int(threads), 1)
    patients, records = plan_cohort(n_records, seed, bad_per_thousand)
    _prepare_out_dir(out)
    tasks = [(seed, str(out), write_hr, p, r, model) for p, r in _chunks(patients, records, threads)]
    results: dict[int, dict] = {}
    done, last_decile = 0, 0
    progress(f"synth: {n_records} records, {len(patients)} patients, seed {seed}, lead field {model.name}, {threads} process(es)")

    def collect(chunk: list[dict]) -> None:
        nonlocal done, last_decile
        for item in chunk:
            results[item["ecg_id"]] = item
        done += len(chunk)
        if done * 10 // n_records > last_decile:
            last_decile = done * 10 // n_records
            progress(f"synth: {done}/{n_records} records ({100 * done // n_records} %)")

    if threads > 1 and len(tasks) > 1:
        try:
            with ProcessPoolExecutor(min(threads, len(tasks)), mp_context=_mp_context()) as pool:
                for chunk in pool.map(_simulate_chunk, tasks):
                    collect(chunk)
        except BrokenProcessPool as exc:
            raise RuntimeError(f"{out}: a synthesis worker process died ({exc}); rerun with threads=1 to see the error") from exc
    else:
        for task in tasks:
            collect(_simulate_chunk(task))

    db = database_table(patients, records, results, write_hr)
    used = sorted({c for s in db["scp_codes"] for c in ast.literal_eval(s)})
    write_csv(out / "scp_statements.csv", cat.statements_frame(used), index=True)
    write_ground_truth(out / "ground_truth.h5", seed, db, records, patients, results, None if model.name == "dower" else model.name)
    listing = list(db["filename_lr"]) + (list(db["filename_hr"]) if write_hr else [])
    with atomic_path(out / "RECORDS") as tmp:
        tmp.write_text("\n".join(listing) + "\n")
    write_csv(out / "ptbxl_database.csv", db)
    return {**summary(db, records, patients, seed, out), "leadfield": model.name}


def simulate_cohort(
    n_records: int, seed: int, ecg_ids=None, bad_per_thousand: float = 3.0, want_hr: bool = False, leadfield: str | LeadFieldModel = "dower"
) -> dict:
    """The records ``write_cohort(n_records, seed, ..., leadfield=...)`` writes, in memory, before quantisation.

    Returns ``{"records": plan table, "lr", "clean_lr": (n, 1000, 12) mV, "hr", "clean_hr":
    (n, 5000, 12) mV or None, "truth": list of dicts, "lead_field": (n, 12, 3), "local_field": (n, 12, 2)}``.
    """
    patients, records = plan_cohort(n_records, seed, bad_per_thousand)
    if ecg_ids is not None:
        records = records[records["ecg_id"].isin(list(ecg_ids))].reset_index(drop=True)
    models = _patient_models(seed, patients[patients["patient_index"].isin(records["patient_index"])], leadfield_model(leadfield))
    sims, fields, local = [], [], []
    for r in records.itertuples():
        model = models[int(r.patient_index)]
        sims.append(simulate_record(seed, model, r.ecg_id, bool(r.afib), r.bad_kind, want_hr=want_hr, want_clean=True))
        fields.append(model.anatomy.field12)
        local.append(model.anatomy.local12)
    return {
        "records": records,
        "lr": np.stack([s.lr for s in sims]),
        "clean_lr": np.stack([s.clean_lr for s in sims]),
        "hr": np.stack([s.hr for s in sims]) if want_hr else None,
        "clean_hr": np.stack([s.clean_hr for s in sims]),
        "truth": [s.truth for s in sims],
        "lead_field": np.stack(fields),
        "local_field": np.stack(local),
    }


def simulate_signals(
    n_records: int, seed: int, bad_per_thousand: float = 3.0, leadfield: str | LeadFieldModel = "dower"
) -> tuple[pd.DataFrame, np.ndarray]:
    """The 100 Hz signals ``write_cohort(n_records, seed, ...)`` writes, in memory and quantised as
    in the files: (plan table with ``strat_fold``, (n, 1000, 12) mV). Cheaper than
    :func:`simulate_cohort` (no noise-free or 500 Hz versions)."""
    patients, records = plan_cohort(n_records, seed, bad_per_thousand)
    models = _patient_models(seed, patients, leadfield_model(leadfield))
    lr = np.stack(
        [quantise(simulate_record(seed, models[int(r.patient_index)], r.ecg_id, bool(r.afib), r.bad_kind).lr) for r in records.itertuples()]
    )
    fold = patients.set_index("patient_index")["strat_fold"]
    records = records.assign(strat_fold=fold.loc[records["patient_index"]].to_numpy())
    return records, lr / 1000.0
