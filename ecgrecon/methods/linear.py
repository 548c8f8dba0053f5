"""Population linear methods (kind ``linear``): GL, a ridge map from the input leads (mV, +-context
samples) to every target lead, one map per task and fold (rule ``fit_linear``, :mod:`ecgrecon.learn.linear`)."""

from __future__ import annotations

from ecgrecon.methods.registry import Method, Prediction, register

_GL_TEXT = "population ridge map from the input leads (mV, +-gl.context samples), alpha chosen on fold 9"
GL = register(
    Method(
        "GL",
        "GL",
        "population linear",
        "linear",
        _GL_TEXT,
        legend="GL (linear)",
        color="tab:green",
        baseline=True,
        corruptions=("none", "noise"),
    )
)


def predict(method: Method, artifact, data) -> Prediction:
    """Segment and record predictions of a linear map (``artifact``: its JSON) on the raw input leads in mV."""
    from ecgrecon.data.datasets import ArtifactError
    from ecgrecon.learn.linear import load_checked

    gl = load_checked(artifact, data.fold, data.inputs)
    if gl.targets != list(data.targets):
        raise ArtifactError(f"{artifact}: {method.name} map is for targets {gl.targets}, expected {list(data.targets)}")
    return Prediction(
        segments=gl.predict(data.raw_in),
        records=None if data.r_raw is None else gl.predict(data.r_raw),
        n_params=int(gl.weights.size + gl.intercept.size),
    )
