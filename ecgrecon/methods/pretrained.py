"""Pre-trained, then fine-tuned variants of GL, C-h and ChA (issue 21, part 3): each starts from the same
method's artifact of a *pre-training run* (config ``pretrained.run``: a finished run of e.g.
``config/pretrain.yaml`` on a large synthetic cohort, read from its ``results/``) and is fitted again on this
run's train folds, early-stopped / selected on their validation split as usual; nothing of the pre-training
run's data is read, only its models.

- ``GLPT``: GL with a ridge penalty toward the pre-trained map, ``||y - X W||^2 / n + alpha ||W - W_pt||^2``
  (alpha 0: GL's least squares; alpha -> infinity: the pre-trained map with a refitted intercept), alpha chosen
  per lead on the validation split from ``gl.alphas`` extended by :data:`PRIOR_ALPHAS`
  (:func:`ecgrecon.learn.linear.fit_streams` with ``prior``).
- ``ChPT``: C-h whose decoders start from the pre-trained C-h decoders and whose h comes from our encoder
  started from the pre-trained encoder and fine-tuned (rule ``train_encoder_pt``, ``results/encoders/{inputs}/pretrained``).
- ``ChAPT``: ChA anchored on GLPT, its residual decoder started from the pre-trained ChA decoder (the anchor
  buffers are this run's GLPT, never the pre-training run's).

Fine-tuning scales the learning rates by ``pretrained.lr_scale``; epoch 0 of every fine-tuning curve is the
pre-trained model itself, so early stopping can keep it untouched when fine-tuning does not help.
"""

from __future__ import annotations

from ecgrecon.methods.registry import Method, register

PRIOR_ALPHAS = (10.0, 100.0, 1000.0)
"""Penalties GLPT tries beyond ``gl.alphas`` (mV^2): strong enough to stay at the pre-trained map."""

_FITTED = "`train_decoder` (per lead), `train_encoder_pt`, from `pretrained.run`"
GLPT = register(
    Method(
        "GLPT",
        "GL-PT",
        "population linear",
        "linear",
        "GL with a ridge prior toward the pre-training run's GL map (alpha on fold 9)",
        legend="GL-PT (ridge toward pre-trained)",
        color="darkgreen",
        pretrained="GL",
        fitted_by="`fit_linear` (prior: `pretrained.run`)",
    )
)
CHPT = register(
    Method(
        "ChPT",
        "C-h-PT",
        "discriminative deep",
        "decoder",
        "C-h whose encoder and decoders start from the pre-training run's, fine-tuned on this run's train folds",
        uses_h=True,
        legend="C-h-PT (pre-trained, fine-tuned)",
        color="darkred",
        pretrained="Ch",
        compare_to="Ch",
        fitted_by=_FITTED,
    )
)
CHAPT = register(
    Method(
        "ChAPT",
        "ChA-PT",
        "anchored deep",
        "decoder",
        "GL-PT + a C-h residual decoder started from the pre-training run's ChA, fine-tuned",
        uses_h=True,
        raw_inputs=True,
        anchor="GLPT",
        legend="ChA-PT (pre-trained, fine-tuned)",
        color="indigo",
        pretrained="ChA",
        compare_to="ChA",
        fitted_by=_FITTED,
    )
)
