"""Class-balanced batch sampler: balance, coverage, determinism."""

import numpy as np
import pytest

from ecgrecon.learn.sampler import ClassBalancedBatchSampler, multi_hot


def _imbalanced_labels(seed=0):
    """600 samples: class sizes ~ 450 / 100 / 30 / 12, some multi-label, 8 unlabelled."""
    rng = np.random.default_rng(seed)
    primary = rng.choice(4, size=600, p=[0.75, 0.17, 0.06, 0.02])
    labels = np.zeros((600, 4), bool)
    labels[np.arange(600), primary] = True
    labels[rng.random(600) < 0.1, 1] = True
    labels[:8] = False
    return labels


def test_drawn_class_frequencies_are_balanced():
    labels = _imbalanced_labels()
    s = ClassBalancedBatchSampler(labels, batch_size=64, seed=1, n_batches=30)
    counts = np.bincount(s.drawn_classes(), minlength=4)
    assert counts.sum() == 64 * 30
    assert counts.max() - counts.min() <= 1  # 16 per class per batch, nothing left over
    for batch in s:
        assert len(batch) == 64
        per_class = labels[batch].sum(axis=0)
        assert (per_class >= 16).all()  # every class present in every batch -> positives


def test_label_frequencies_balanced_within_tolerance_when_single_label():
    rng = np.random.default_rng(2)
    primary = rng.choice(5, size=2000, p=[0.6, 0.2, 0.1, 0.07, 0.03])
    labels = np.eye(5, dtype=bool)[primary]
    s = ClassBalancedBatchSampler(labels, batch_size=50, seed=3)
    freq = labels[np.concatenate(list(s))].mean(axis=0)
    assert np.abs(freq - 0.2).max() < 0.01, freq
    raw = labels.mean(axis=0)
    assert raw.max() / raw.min() > 10  # the data itself is far from balanced


def test_unlabelled_never_drawn_and_small_classes_cycle_without_early_repeats():
    labels = _imbalanced_labels()
    s = ClassBalancedBatchSampler(labels, batch_size=64, seed=1, n_batches=30)
    drawn = np.concatenate(list(s))
    assert not np.isin(drawn, np.arange(8)).any()
    cls = s.drawn_classes()
    smallest = np.flatnonzero(labels[:, 3])
    picks = drawn[cls == 3]
    first = picks[: len(smallest)]
    assert sorted(first.tolist()) == sorted(smallest.tolist())  # each member once before any repeat


def test_same_seed_same_batches_other_epoch_other_batches():
    labels = _imbalanced_labels()
    a = ClassBalancedBatchSampler(labels, 32, seed=5)
    b = ClassBalancedBatchSampler(labels, 32, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    b.set_epoch(1)
    assert not all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(a) == labels.any(axis=1).sum() // 32


def test_remainder_rotates_over_classes():
    labels = np.eye(3, dtype=bool)[np.arange(300) % 3]
    s = ClassBalancedBatchSampler(labels, batch_size=10, seed=0, n_batches=30)
    counts = np.bincount(s.drawn_classes(), minlength=3)
    assert counts.tolist() == [100, 100, 100]


def test_bad_inputs():
    with pytest.raises(ValueError, match="no class"):
        ClassBalancedBatchSampler(np.zeros((5, 2), bool), 4, 0)
    with pytest.raises(ValueError, match="multi-hot"):
        ClassBalancedBatchSampler(np.zeros(5, bool), 4, 0)


def test_multi_hot_ignores_unknown_names():
    m = multi_hot([["MI", "CD"], [], ["XYZ"]], ["CD", "MI", "NORM"])
    assert m.tolist() == [[True, True, False], [False, False, False], [False, False, False]]
