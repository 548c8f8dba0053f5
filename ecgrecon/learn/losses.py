"""Supervised contrastive loss (Khosla et al. 2020, "L_out" form) for multi-label batches.

Anchors are all 2N view embeddings. For anchor i the positives P(i) are every other embedding
that is a view of the same segment or shares at least one label with it; the denominator runs
over all other embeddings. loss = mean over anchors with |P(i)| > 0 of
    -1/|P(i)| * sum_{p in P(i)} log( exp(z_i.z_p / tau) / sum_{a != i} exp(z_i.z_a / tau) ).
"""

from __future__ import annotations

import math

import torch


def positive_mask(labels: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """(M, M) bool: j is a positive of i (same segment id or a shared label), j != i."""
    lab = labels.to(torch.float32)
    shared = (lab @ lab.T) > 0
    same = ids[:, None] == ids[None, :]
    eye = torch.eye(len(ids), dtype=torch.bool, device=labels.device)
    return (shared | same) & ~eye


def supcon_loss(z: torch.Tensor, labels: torch.Tensor, ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """z: (M, d) l2-normalised; labels: (M, C) multi-hot; ids: (M,) segment ids of the views."""
    m = z.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=z.device)
    logits = (z @ z.T) / temperature
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = positive_mask(labels, ids)
    n_pos = pos.sum(dim=1)
    has = n_pos > 0
    if not bool(has.any()):
        raise ValueError("no anchor in the batch has a positive")
    pos_sum = torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
    return -(pos_sum[has] / n_pos[has]).mean()


def supcon_loss_reference(z, labels, ids, temperature: float) -> float:
    """Slow, loop-by-loop version of :func:`supcon_loss` (plain python floats), for tests."""
    z = [[float(v) for v in row] for row in z]
    labels = [[bool(v) for v in row] for row in labels]
    ids = [int(v) for v in ids]
    m = len(z)

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    total, n_anchor = 0.0, 0
    for i in range(m):
        denom = sum(math.exp(dot(z[i], z[a]) / temperature) for a in range(m) if a != i)
        positives = [p for p in range(m) if p != i and (ids[p] == ids[i] or any(x and y for x, y in zip(labels[i], labels[p])))]
        if not positives:
            continue
        acc = sum(math.log(math.exp(dot(z[i], z[p]) / temperature) / denom) for p in positives)
        total += -acc / len(positives)
        n_anchor += 1
    return total / n_anchor
