"""Supervised contrastive loss: vectorised version vs a slow reference and hand-computed values."""

import math

import pytest
import torch

from ecgrecon.learn.losses import positive_mask, supcon_loss, supcon_loss_reference


def _hand_batch():
    """4 segments x 2 views: labels overlap (0-1 share class A, 1-2 share B), segment 3 unlabelled."""
    g = torch.Generator().manual_seed(3)
    z = torch.nn.functional.normalize(torch.randn(8, 5, generator=g, dtype=torch.float64), dim=1)
    seg_labels = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.bool)
    labels = seg_labels.repeat(2, 1)
    ids = torch.arange(4).repeat(2)
    return z, labels, ids


@pytest.mark.parametrize("tau", [0.07, 0.5, 1.0])
def test_matches_slow_reference_on_hand_built_batch(tau):
    z, labels, ids = _hand_batch()
    fast = supcon_loss(z, labels, ids, tau).item()
    slow = supcon_loss_reference(z.tolist(), labels.tolist(), ids.tolist(), tau)
    assert fast == pytest.approx(slow, rel=1e-10, abs=1e-10)


def test_positive_mask_uses_shared_labels_and_views():
    _, labels, ids = _hand_batch()
    pos = positive_mask(labels, ids)
    assert not pos.diagonal().any()
    assert pos[0, 1] and pos[0, 5] and pos[0, 4]  # shares A with seg 1 (both views); own other view
    assert not pos[0, 2] and not pos[0, 6]  # seg 0 and seg 2 share nothing
    assert pos[3].nonzero().flatten().tolist() == [7]  # unlabelled: only its own other view


def test_hand_computed_values():
    tau = 0.1
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([[1, 0], [1, 0], [0, 1]], dtype=torch.bool)
    ids = torch.tensor([0, 1, 2])
    # anchors 0 and 1: one positive (the other, sim 1), one negative (sim 0); anchor 2 has none.
    expected = math.log(1 + math.exp(-1 / tau))
    assert supcon_loss(z, labels, ids, tau).item() == pytest.approx(expected, rel=1e-12)
    # two embeddings that are each other's only candidate: the ratio is 1, the loss exactly 0.
    assert supcon_loss(z[:2], labels[:2], ids[:2], tau).item() == 0.0


def test_lower_when_positives_cluster_and_gradients_finite():
    tau = 0.07
    labels = torch.tensor([[1, 0]] * 4 + [[0, 1]] * 4, dtype=torch.bool)
    ids = torch.arange(8)
    clustered = torch.tensor([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4) + 0.01 * torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    clustered = torch.nn.functional.normalize(clustered, dim=1)
    swapped = clustered.flip(0)  # class A now sits where class B was: mixed neighbourhoods
    mixed = torch.nn.functional.normalize(
        torch.stack([clustered[0], swapped[1], clustered[2], swapped[3], clustered[4], swapped[5], clustered[6], swapped[7]]), dim=1
    )
    assert supcon_loss(clustered, labels, ids, tau) < supcon_loss(mixed, labels, ids, tau)
    z = mixed.clone().requires_grad_(True)
    supcon_loss(z, labels, ids, tau).backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def test_batch_without_any_positive_is_an_error():
    z = torch.eye(3)
    with pytest.raises(ValueError, match="positive"):
        supcon_loss(z, torch.eye(3, dtype=torch.bool), torch.arange(3), 0.1)
