"""Tasks: which leads a method sees, which it must produce, and what corrupts its input.

A task is declared under ``tasks:`` in the config (name -> inputs, targets, derived, corruption,
methods). Every learning artifact is per task (``results/{task}/...``); the data stages (clean, QC,
segments, folds) are shared, and so is the encoder of an input-lead set
(``results/encoders/{input_set}/``). ``derived`` limb leads (III, aVR, aVL, aVF) are not predicted
but computed from I and II (Einthoven, Goldberger) after reconstruction, and scored beside the
targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgrecon import LEADS12
from ecgrecon.methods import registry

DERIVABLE = {"III": ("I", "II"), "AVR": ("I", "II"), "AVL": ("I", "II"), "AVF": ("I", "II")}
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
    if both:
        raise TaskError(f"{key}.targets: {both} also in {key}.inputs (an input lead cannot be a target)")
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
    return Task(name, tuple(inputs), tuple(targets), tuple(derived), corruption, tuple(methods))


def parse_tasks(specs: dict) -> dict[str, Task]:
    """All tasks of the config, in declaration order."""
    if not specs:
        raise TaskError("tasks: no task declared")
    return {name: parse_task(name, spec) for name, spec in specs.items()}


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
