"""Class-balanced batch sampler for multi-label data.

Each batch holds ``batch_size // n_classes`` samples drawn for every class (the remainder
goes to classes in a rotating, shuffled order), so every class appears equally often as the
class a sample was drawn for, and every batch has positives for the contrastive loss. Within
a class, samples are taken from a shuffled cycle (no repeat before the class is exhausted).
Randomness comes only from ``seed`` and the epoch number, so epoch e is reproducible on its
own (needed for resuming).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class ClassBalancedBatchSampler:
    """Yield index arrays of ``batch_size`` samples, balanced over classes.

    ``labels`` is a (n_samples, n_classes) boolean multi-hot matrix; samples without any label
    are never drawn. ``n_batches`` defaults to the number of labelled samples // batch_size.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, seed: int, n_batches: int | None = None):
        labels = np.asarray(labels, dtype=bool)
        if labels.ndim != 2:
            raise ValueError("labels must be a (n_samples, n_classes) multi-hot matrix")
        self.members = [np.flatnonzero(labels[:, c]) for c in range(labels.shape[1])]
        self.members = [m for m in self.members if len(m)]
        if not self.members:
            raise ValueError("no class has any sample: cannot build a class-balanced sampler")
        if batch_size < 2:
            raise ValueError("batch_size must be at least 2")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        n_labelled = int(labels.any(axis=1).sum())
        self.n_batches = int(n_batches) if n_batches else max(1, n_labelled // self.batch_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_batches

    def batches(self) -> list[np.ndarray]:
        """All batches of the current epoch, plus which class each slot was drawn for."""
        return [b for b, _ in self._draw()]

    def drawn_classes(self) -> np.ndarray:
        """Class index each sample of the epoch was drawn for (to check the balance)."""
        return np.concatenate([c for _, c in self._draw()])

    def _draw(self) -> list[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        k = len(self.members)
        perms = [rng.permutation(m) for m in self.members]
        ptr = [0] * k
        per_class, extra = divmod(self.batch_size, k)
        rotation = rng.permutation(k)
        rot_pos = 0
        out = []
        for _ in range(self.n_batches):
            counts = np.full(k, per_class)
            for _ in range(extra):
                counts[rotation[rot_pos % k]] += 1
                rot_pos += 1
            idx, cls = [], []
            for c in range(k):
                for _ in range(counts[c]):
                    if ptr[c] == len(perms[c]):
                        perms[c], ptr[c] = rng.permutation(self.members[c]), 0
                    idx.append(perms[c][ptr[c]])
                    cls.append(c)
                    ptr[c] += 1
            order = rng.permutation(len(idx))
            out.append((np.asarray(idx)[order], np.asarray(cls)[order]))
        return out

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.batches())


def multi_hot(label_lists: Sequence[Sequence[str]], classes: Sequence[str]) -> np.ndarray:
    """(n, n_classes) boolean matrix from lists of class names (unknown names ignored)."""
    pos = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(label_lists), len(classes)), dtype=bool)
    for i, labs in enumerate(label_lists):
        for lab in labs:
            j = pos.get(lab)
            if j is not None:
                out[i, j] = True
    return out
