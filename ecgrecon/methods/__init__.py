"""Reconstruction methods: the registry (:mod:`.registry`) and one module per family.

``from ecgrecon import methods; methods.get("Ch")``; the built-in methods are registered on import.
"""

# The built-in methods register on import, in table order (GL first: others anchor on it).
# isort: off
from ecgrecon.methods import linear  # noqa: F401
from ecgrecon.methods import decoders  # noqa: F401
from ecgrecon.methods import paper  # noqa: F401
from ecgrecon.methods import denoise  # noqa: F401
from ecgrecon.methods import calibrated  # noqa: F401
from ecgrecon.methods import generative  # noqa: F401
from ecgrecon.methods import pretrained  # noqa: F401

# isort: on
from ecgrecon.methods.registry import (
    CORRUPTIONS,
    ENCODER_DIRS,
    JOINT_KINDS,
    KINDS,
    REFERENCE_DISPLAY,
    REGISTRY,
    EvalData,
    Method,
    Prediction,
    artifact_key,
    baseline,
    display,
    get,
    load_plugins,
    markdown_table,
    names,
    register,
)

__all__ = [
    "predict",
    "CORRUPTIONS",
    "ENCODER_DIRS",
    "JOINT_KINDS",
    "KINDS",
    "REFERENCE_DISPLAY",
    "REGISTRY",
    "EvalData",
    "Method",
    "Prediction",
    "artifact_key",
    "baseline",
    "display",
    "get",
    "load_plugins",
    "markdown_table",
    "names",
    "register",
]


def predict(name: str, artifacts, data: EvalData) -> Prediction:
    """Predictions of method ``name`` from its fitted artifacts (a linear map, or per-lead checkpoints)."""
    method = get(name)
    if method.kind == "linear":
        return linear.predict(method, artifacts, data)
    if method.kind == "decoder":
        return decoders.predict(method, artifacts, data)
    if method.kind == "fixed":
        return denoise.predict(method, artifacts, data)
    raise ValueError(f"method {name!r} (kind {method.kind}) is not evaluated beside the population methods")
