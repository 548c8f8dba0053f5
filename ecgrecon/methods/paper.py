"""The paper's C and C-h as the authors wrote them (kind ``decoder``, design ``paper``): Youssef & Singla's
ResNet contrastive encoder and full-resolution per-lead decoders, trained their way (networks and training:
:mod:`ecgrecon.learn.paper`; settings: config sections ``encoder_paper`` and ``decoder_paper``). Our
redesigned C / C-h (:mod:`ecgrecon.methods.decoders`) keep their names; these sit beside them in the same
tables. Not exported as bundles (the `reconstruct` CLI serves our design)."""

from __future__ import annotations

from ecgrecon.methods.registry import Method, register

_FAMILY = "discriminative deep"
CPAPER = register(
    Method(
        "Cpaper",
        "C-paper",
        _FAMILY,
        "decoder",
        "the authors' C: full-resolution per-lead CNN decoder of the input leads, trained as in their released code",
        raw_inputs=True,  # the network normalises its input leads itself (decoder_paper.x_norm)
        legend="C-paper (authors' code)",
        color="tab:cyan",
        design="paper",
    )
)
CHPAPER = register(
    Method(
        "Chpaper",
        "C-h-paper",
        _FAMILY,
        "decoder",
        "the authors' C-h: C-paper plus h of their ResNet supervised-contrastive encoder (SCP-code positives)",
        uses_h=True,
        raw_inputs=True,
        legend="C-h-paper (authors' code)",
        color="tab:pink",
        design="paper",
        compare_to="Cpaper",
    )
)
