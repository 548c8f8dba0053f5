"""Tasks: which leads a method sees, which it must produce, and what corrupts its input.

A task is declared under ``tasks:`` in the config (name -> inputs, targets, derived, corruption,
methods). Every learning artifact is per task (``results/{task}/...``); the data stages (clean, QC,
segments, folds) are shared, and so is the encoder of an input-lead set
(``results/encoders/{input_set}/``). ``derived`` limb leads (III, aVR, aVL, aVF) are not predicted
but computed from I and II (Einthoven, Goldberger) after reconstruction, and scored beside the
targets.

A task with ``corruption: noise`` adds real (NSTDB) or synthetic noise to its input leads
(:mod:`ecgrecon.noise`): ``noise: {kind: bw | em | ma, levels: [dB, ... | bedin]}``. Its methods are
trained with noise of the train part of the noise record as augmentation (levels drawn per record and
lead); its evaluation corrupts the test inputs with the test part at every level. A denoising task
lists its target leads among its inputs (the clean versions of the noisy inputs are the targets).
``clean_models: <task>`` also evaluates that task's clean-trained methods on the noisy inputs (how much
each method loses, and how much training with noise recovers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecgrecon import LEADS12
from ecgrecon.methods import registry

DERIVABLE = {"III": ("I", "II"), "AVR": ("I", "II"), "AVL": ("I", "II"), "AVF": ("I", "II")}
INDEPENDENT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
"""The 8 leads the others are linear in (the limb leads of DERIVABLE from I and II): what a generative prior models."""
"""The limb leads that follow from I and II (Einthoven's and Goldberger's laws)."""


class TaskError(ValueError):
    """A task declaration that cannot run; the message is one line naming the config key."""


@dataclass(frozen=True)
class Task:
    name: str
    inputs: tuple
    targets: tuple
    derived: tuple
    corruption: str
    methods: tuple
    noise: NoiseSpec | None = None
    clean_models: str | None = None  # a task with the same leads whose clean-trained methods are also evaluated here

    @property
    def denoising(self) -> bool:
        """The targets are (some of) the inputs: reconstruct their clean versions."""
        return any(t in self.inputs for t in self.targets)

    @property
    def scored(self) -> list[str]:
        """The leads every table reports: the targets, then the derived leads."""
        return [*self.targets, *self.derived]

    @property
    def input_set(self) -> str:
        """Name of the encoder shared by the tasks with these input leads (e.g. ``I-II-V2``)."""
        return input_set(self.inputs)

    def of_kind(self, kind: str) -> list[str]:
        return [m for m in self.methods if registry.get(m).kind == kind]

    @property
    def uses_h(self) -> bool:
        return any(registry.get(m).uses_h for m in self.methods)


@dataclass(frozen=True)
class NoiseSpec:
    """A noise task's corruption: the noise kind and the levels (dB, or the ``bedin`` preset)."""

    kind: str
    levels: tuple


NOISE_KINDS = ("bw", "em", "ma")
"""Noise kinds: baseline wander, electrode motion, muscle (EMG) artefact."""
BEDIN = "bedin"
"""The named noise level of Bedin et al. 2025 (noise peak-to-peak relative to the clean lead's)."""


def parse_level(value, key: str = "noise.levels"):
    """A noise level as configured: a finite number (SNR in dB) or ``"bedin"``; anything else raises
    :class:`TaskError`, one line naming ``key``."""
    if isinstance(value, str) and value.strip().lower() == BEDIN:
        return BEDIN
    if isinstance(value, bool):
        raise TaskError(f"{key}: {value!r} is not an SNR in dB (a number) or {BEDIN!r}")
    try:
        db = float(value)
    except (TypeError, ValueError):
        raise TaskError(f"{key}: {value!r} is not an SNR in dB (a number) or {BEDIN!r}") from None
    if not math.isfinite(db):
        raise TaskError(f"{key}: {value!r} is not a finite SNR in dB")
    return db


def parse_noise(key: str, spec) -> NoiseSpec:
    """Check ``tasks.<name>.noise``; raise :class:`TaskError` naming the key."""
    KINDS = NOISE_KINDS
    if not isinstance(spec, dict):
        raise TaskError(f"{key}: a task with corruption noise needs noise: {{kind: bw | em | ma, levels: [dB, ...]}}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise TaskError(f"{key}.kind: {kind!r} is not a noise kind (one of {', '.join(KINDS)})")
    levels = spec.get("levels")
    if not isinstance(levels, list) or not levels:
        raise TaskError(f"{key}.levels: {levels!r} must be a non-empty list of SNRs in dB (or 'bedin')")
    parsed = tuple(parse_level(v, f"{key}.levels") for v in levels)
    if len(set(parsed)) != len(parsed):
        raise TaskError(f"{key}.levels lists a level twice: {levels}")
    return NoiseSpec(kind, parsed)


def input_set(inputs) -> str:
    return "-".join(inputs)


RESERVED = ("raw", "clean", "pooled", "qc", "segments", "folds", "encoders", "classifier", "cross", "bench", "realism")
"""Folders of results/ that are not a task's: a task of that name would write into them."""


def parse_task(name: str, spec: dict) -> Task:
    """Check one ``tasks.<name>`` entry against the leads and the method registry; raise :class:`TaskError`."""
    key = f"tasks.{name}"
    if name in RESERVED:
        raise TaskError(f"{key}: {name!r} names a shared folder of results/ ({', '.join(RESERVED)}); rename the task")
    inputs, targets = list(spec.get("inputs") or []), list(spec.get("targets") or [])
    derived = list(spec.get("derived") or [])
    methods = list(spec.get("methods") or [])
    corruption = spec.get("corruption", "none")
    if not inputs:
        raise TaskError(f"{key}.inputs is empty: a task needs at least one input lead")
    if not targets:
        raise TaskError(f"{key}.targets is empty: a task needs at least one target lead")
    for field, leads in (("inputs", inputs), ("targets", targets), ("derived", derived)):
        unknown = [lead for lead in leads if lead not in LEADS12]
        if unknown:
            raise TaskError(f"{key}.{field}: unknown leads {unknown} (leads: {', '.join(LEADS12)})")
        if len(set(leads)) != len(leads):
            raise TaskError(f"{key}.{field} lists a lead twice: {leads}")
    both = [lead for lead in targets if lead in inputs]
    if both and corruption != "noise":
        raise TaskError(
            f"{key}.targets: {both} also in {key}.inputs (an input lead is a target only in a denoising task, corruption: noise)"
        )
    for lead in derived:
        if lead not in DERIVABLE:
            raise TaskError(f"{key}.derived: {lead} cannot be derived (derivable: {', '.join(DERIVABLE)})")
        if lead in inputs or lead in targets:
            raise TaskError(f"{key}.derived: {lead} is also an input or target lead")
        missing = [s for s in DERIVABLE[lead] if s not in inputs + targets]
        if missing:
            raise TaskError(f"{key}.derived: {lead} needs {missing} among the inputs or targets")
    if corruption not in registry.CORRUPTIONS:
        raise TaskError(f"{key}.corruption: unknown {corruption!r} (one of {', '.join(registry.CORRUPTIONS)})")
    if not methods:
        raise TaskError(f"{key}.methods is empty")
    for m in methods:
        if m not in registry.REGISTRY:
            raise TaskError(f"{key}.methods: unknown method {m!r} (registered: {', '.join(registry.REGISTRY)})")
        if not registry.get(m).supports(corruption):
            raise TaskError(
                f"{key}.methods: {m} does not support corruption {corruption!r} (supports: {', '.join(registry.get(m).corruptions)})"
            )
        if registry.get(m).kind == "generative" and not set(inputs) & set(INDEPENDENT):
            raise TaskError(
                f"{key}.methods: {m} observes the prior's leads {', '.join(INDEPENDENT)}; the inputs {', '.join(inputs)} hold none of them"
            )
    noise = None
    if corruption == "noise":
        noise = parse_noise(f"{key}.noise", spec.get("noise"))
    elif spec.get("noise") is not None:
        raise TaskError(f"{key}.noise is set but {key}.corruption is {corruption!r} (noise needs corruption: noise)")
    clean_models = spec.get("clean_models")
    if clean_models is not None and corruption != "noise":
        raise TaskError(f"{key}.clean_models: only a noise task evaluates another task's clean-trained methods")
    return Task(name, tuple(inputs), tuple(targets), tuple(derived), corruption, tuple(methods), noise, clean_models)


def parse_tasks(specs: dict) -> dict[str, Task]:
    """All tasks of the config, in declaration order (each checked on its own; see :func:`check_clean_models`)."""
    if not specs:
        raise TaskError("tasks: no task declared")
    return {name: parse_task(name, spec) for name, spec in specs.items()}


def check_clean_models(tasks: dict[str, Task], run) -> None:
    """Every run task's ``clean_models`` names a run task without corruption and with the same leads."""
    for name in run:
        t = tasks[name]
        if t.clean_models is None:
            continue
        twin = tasks.get(t.clean_models)
        if twin is None:
            raise TaskError(f"tasks.{name}.clean_models: no task {t.clean_models!r} (declared: {', '.join(tasks)})")
        if twin.corruption != "none" or (twin.inputs, twin.targets, twin.derived) != (t.inputs, t.targets, t.derived):
            raise TaskError(
                f"tasks.{name}.clean_models: {twin.name!r} must be a task without corruption and with the same inputs, "
                "targets and derived leads"
            )
        if twin.name not in run:
            raise TaskError(f"tasks.{name}.clean_models: {twin.name!r} is not in run_tasks (its trained methods are evaluated here)")


def derive(lead: str, i: np.ndarray, ii: np.ndarray) -> np.ndarray:
    """Limb lead ``lead`` from leads I and II (any array shape, same units)."""
    if lead == "III":
        return ii - i
    if lead == "AVR":
        return -(i + ii) / 2
    if lead == "AVL":
        return i - ii / 2
    if lead == "AVF":
        return ii - i / 2
    raise ValueError(f"lead {lead} cannot be derived from I and II")


def with_derived(pred: np.ndarray, raw_in: np.ndarray, task: Task) -> np.ndarray:
    """(n, n_targets, T) predictions -> (n, n_scored, T): the task's derived leads appended, computed from
    I and II, each taken from the inputs (measured) or the predictions (reconstructed)."""
    if not task.derived:
        return pred
    have = {**{lead: raw_in[:, j] for j, lead in enumerate(task.inputs)}, **{lead: pred[:, j] for j, lead in enumerate(task.targets)}}
    extra = [derive(lead, have["I"], have["II"]).astype(pred.dtype) for lead in task.derived]
    return np.concatenate([pred, np.stack(extra, axis=1)], axis=1)
