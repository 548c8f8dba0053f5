"""Noisy input leads for training and evaluation: one object the rules build from the task's noise settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ecgrecon import LEADS12
from ecgrecon.noise.bank import NoiseBank, read_bank
from ecgrecon.noise.corrupt import Assignment, assign, corrupt
from ecgrecon.tasks import parse_level


@dataclass
class NoisyInputs:
    """The noise of one task: bank.h5, kind, levels; ``seed`` and ``task`` make the assignment.

    :meth:`apply` corrupts the input leads of segments of one split with that split's noise part. Noise
    is assigned over all 12 leads and the requested leads' columns taken, so a lead gets the same noise
    whichever other leads a method reads (GL, C and a per-lead denoiser see the same noisy lead)."""

    bank_path: str
    task: str
    kind: str
    levels: tuple
    seed: int
    record_len: int
    window: int
    _bank: NoiseBank | None = field(default=None, repr=False)

    @classmethod
    def from_params(cls, p: dict) -> NoisyInputs:
        levels = tuple(parse_level(v, f"tasks.{p['task']}.noise.levels") for v in p["levels"])
        return cls(str(p["bank"]), p["task"], p["kind"], levels, int(p["seed"]), int(p["record_len"]), int(p["window"]))

    @property
    def bank(self) -> NoiseBank:
        if self._bank is None:
            self._bank = read_bank(self.bank_path)
        return self._bank

    @property
    def source(self) -> str:
        return self.bank.sources.get(self.kind, "?")

    def assignment(self, ecg_ids, starts, split: str) -> Assignment:
        return assign(
            self.bank,
            self.kind,
            split,
            ecg_ids,
            starts,
            n_leads=len(LEADS12),
            window=self.window,
            record_len=self.record_len,
            seed=self.seed,
            task=self.task,
            n_levels=len(self.levels),
        )

    def apply(self, sig: np.ndarray, leads, ecg_ids, starts, split: str, level=None) -> tuple[np.ndarray, np.ndarray]:
        """(noisy (n, len(leads), T), gains) of clean ``sig``; ``level`` None: each record and lead at one of the
        task's levels (drawn with the assignment: training augmentation), else every row at ``level``."""
        a = self.assignment(ecg_ids, starts, split)
        cols = [LEADS12.index(lead) for lead in leads]
        sub = Assignment(a.kind, a.split, a.channel[:, cols], a.offset[:, cols], a.level_idx[:, cols])
        if level is None:
            return corrupt(sig, self.bank, sub, self.levels, per_row_level=True)
        return corrupt(sig, self.bank, sub, level)
