"""The method registry: every reconstruction method is declared here once, by its own module.

A :class:`Method` says what a method is (name, display name, family), what it needs (the
encoder representation h, a GL map to anchor on, a calibration segment), which tasks it can run
(the input corruptions it supports), which rule fits it (``kind``) and whether it can be
exported as a bundle. The workflow (``rules/common.smk``: jobs, inputs, schema checks), the
evaluation tables and figures, the export rule, the CLI choices, the CI checks and the benches
all read it; nothing else names a method.

The declarations are plain data and import nothing heavy (the workflow reads them when it builds
the DAG); the code that fits and predicts a method lives in its module's functions.

Kinds (which rule fits the method, and how the evaluation gets its predictions):

- ``linear``: rule ``fit_linear``, one JSON map per (task, fold, method) from
  :func:`ecgrecon.learn.linear.fit_from_segments` with the ``gl`` config section updated by the
  method's ``settings``; evaluated by :func:`ecgrecon.methods.linear.predict`.
- ``decoder``: rule ``train_decoder``, one checkpoint per (task, method, fold, lead);
  evaluated by :func:`ecgrecon.methods.decoders.predict`.
- ``fixed``: nothing is fitted (the classical cleaning filters of a denoising task); evaluated by
  the method module's ``predict`` with no artifact.
- ``calibrated``: per-patient methods fitted on a calibration segment of each test record
  (rule ``calibrate_pcm``; CaLiNet-E on top of it: ``train_calinet``, ``evaluate_calinet``), reported
  in their own tables, never beside the population methods
  (they see part of the test record).
- ``generative``: a generative prior of the 12-lead ECG with posterior sampling (``diffusion``: rule
  ``train_prior``, one prior per run shared by the tasks; rule ``evaluate_diffusion`` per task, on a
  seeded subset of the test records, beside the task's other methods on the same windows), reported in
  its own tables (its sampling is too slow for every test segment on a CPU).

Only the first three kinds are evaluated by the ``evaluate`` / ``evaluate_noise`` rules (:attr:`Method.joint`).

Extra methods (a user's, or a test fixture's) are Python files named under ``method_plugins:``
in the config; :func:`load_plugins` imports them and they call :func:`register`.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("linear", "decoder", "fixed", "calibrated", "generative")
JOINT_KINDS = ("linear", "decoder", "fixed")
"""Kinds the evaluate rules run beside each other on every test segment (the others have their own rules and tables)."""
ENCODER_DIRS = {"encoder": "", "encoder_paper": "paper", "encoder_pt": "pretrained"}
"""Sub-folder of each encoder under results/encoders/{inputs} (:attr:`Method.encoder_section` -> name): ours, the
authors', ours started from a pre-training run's (rule train_encoder_pt)."""
DESIGNS = ("ours", "paper")
"""Whose networks a decoder method uses: ours (the redesign) or the paper's authors' (their released code)."""
CORRUPTIONS = ("none", "noise", "time_mask")
"""Input corruptions a task may name; a method lists the ones it supports (``noise``: it is trained with the
task's noise as augmentation, :mod:`ecgrecon.noise`; ``time_mask``: no method yet)."""
NEIGHBOURS = {
    "I": ("I", "II", "AVL"),
    "II": ("I", "II", "III", "AVF"),
    "III": ("II", "III", "AVF"),
    "AVR": ("I", "II", "AVR"),
    "AVL": ("I", "III", "AVL"),
    "AVF": ("II", "III", "AVF"),
    "V1": ("V1", "V2"),
    "V2": ("V1", "V2", "V3"),
    "V3": ("V2", "V3", "V4"),
    "V4": ("V3", "V4", "V5"),
    "V5": ("V4", "V5", "V6"),
    "V6": ("V5", "V6"),
}
"""A lead and its neighbours: the inputs of a per-lead denoiser (``neighbours=True``). Limb leads: the two
limb leads closest in the hexaxial reference system (in LEADS12 order); precordial leads: the adjacent ones."""


@dataclass(frozen=True)
class Method:
    name: str  # id in config, paths and table columns (e.g. "Ch")
    display: str  # label in tables (e.g. "C-h")
    family: str  # population linear | per-patient calibrated | discriminative deep | anchored deep
    kind: str  # linear | decoder | calibrated (see the module docstring)
    description: str  # one line for the README / --help
    uses_h: bool = False  # reads the encoder representation h (the task's encoder is trained for it)
    raw_inputs: bool = False  # decoders: takes the input leads in mV (else z-scored per segment and lead)
    anchor: str | None = None  # name of the linear method whose prediction it starts from (ChA: GL)
    calibration: bool = False  # needs a calibration segment of the true 12-lead record
    corruptions: tuple = ("none",)
    exportable: bool = False  # `export_model` packs it into a bundle for `ecgrecon reconstruct`
    legend: str = ""  # figure legend (default: display)
    color: str = "tab:gray"
    settings: dict = field(default_factory=dict)  # linear: overrides of the `gl` config section
    baseline: bool = False  # the reference every table compares the others with (one method: GL)
    compare_to: str | None = None  # Table I's Δ % column: this method relative to that one (C-h vs C)
    neighbours: bool = False  # decoders: each lead's network sees that lead and its NEIGHBOURS among the task's inputs
    section: str | None = None  # decoders: config section of its settings, when not the design's (e.g. decoder_denoise)
    fitted_by: str | None = None  # README's "fitted by" cell when not the kind's rule (calinet: `train_calinet`)
    design: str = "ours"  # decoders: whose networks and training (ours | paper: the authors' released code,
    # :mod:`ecgrecon.learn.paper`); their settings are config sections `decoder` / `encoder` (ours) or
    # `decoder_{design}` / `encoder_{design}`
    pretrained: str | None = None  # initialised from this method's artifact of the pre-training run (config
    # `pretrained.run`, e.g. a large synthetic cohort) and fine-tuned on this run's train folds (:mod:`.pretrained`)

    @property
    def decoder_section(self) -> str:
        """Config section of the decoder's settings (``decoder``, ``decoder_paper``, or the method's ``section``)."""
        if self.section:
            return self.section
        return "decoder" if self.design == "ours" else f"decoder_{self.design}"

    @property
    def encoder_section(self) -> str:
        """Config section of the encoder whose h the method reads (``encoder``, ``encoder_paper``)."""
        if self.pretrained:
            return "encoder_pt"  # our encoder, initialised from the pre-training run's and fine-tuned
        return "encoder" if self.design == "ours" else f"encoder_{self.design}"

    @property
    def joint(self) -> bool:
        """Evaluated by the evaluate / evaluate_noise rules beside the population methods (kinds in JOINT_KINDS)."""
        return self.kind in JOINT_KINDS

    def supports(self, corruption: str) -> bool:
        return corruption in self.corruptions

    def input_leads(self, inputs, lead: str) -> list[str]:
        """The input leads the network of target ``lead`` sees: the task's, or (``neighbours``) the lead's
        neighbours among them, in the task's order."""
        if not self.neighbours:
            return list(inputs)
        near = [i for i in inputs if i in NEIGHBOURS.get(lead, (lead,))]
        if not near:
            raise ValueError(f"method {self.name!r}: no neighbour of {lead} among the inputs {list(inputs)}")
        return near


@dataclass
class EvalData:
    """What a method's ``predict`` gets: one fold's test segments (and record-level windows) of one task.

    ``raw_in`` (n, n_inputs, T) in mV; ``x`` the same z-scored per segment and lead; ``h`` the normalised
    representation of our encoder (None when no evaluated method reads it); ``r_*`` the same for the
    record-level windows (None when segments.h5 has none); ``h_by``: encoder config section -> (h, rh) of
    every other encoder design a method reads (``encoder_paper``)."""

    fold: str
    inputs: list
    targets: list
    raw_in: object
    x: object
    h: object
    r_raw: object
    rx: object
    rh: object
    device: object
    h_by: dict = field(default_factory=dict)
    clean: dict | None = None  # the `clean` config section with the task rate `fs` (kind `fixed` filters)

    def h_of(self, method: Method) -> tuple:
        """(h, rh) that ``method`` reads: its design's encoder, or (None, None) when it reads no h."""
        if not method.uses_h:
            return None, None
        if method.encoder_section == "encoder":
            return self.h, self.rh
        if method.encoder_section not in self.h_by:
            raise ValueError(f"method {method.name!r} reads h of {method.encoder_section!r}, which the evaluation did not load")
        return self.h_by[method.encoder_section]


@dataclass
class Prediction:
    """A method's output on :class:`EvalData`: (n, n_targets, T) in mV for segments and record windows."""

    segments: object
    records: object
    n_params: int
    train_mean: dict | None = None  # lead -> mean train waveform (decoders; the train_mean reference)


REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method``; a second declaration of the same name is an error (declared once)."""
    if method.kind not in KINDS:
        raise ValueError(f"method {method.name!r}: unknown kind {method.kind!r} (one of {', '.join(KINDS)})")
    if method.name in REGISTRY and REGISTRY[method.name] != method:
        raise ValueError(f"method {method.name!r} is declared twice")
    if method.baseline and baseline() not in (None, method.name):
        raise ValueError(f"method {method.name!r}: {baseline()!r} is already the baseline")
    if method.compare_to is not None and method.compare_to not in REGISTRY:
        raise ValueError(f"method {method.name!r}: compare_to {method.compare_to!r} is not a registered method")
    if method.anchor is not None and method.anchor not in REGISTRY:
        raise ValueError(f"method {method.name!r}: anchor {method.anchor!r} is not a registered method")
    if method.design not in DESIGNS:
        raise ValueError(f"method {method.name!r}: unknown design {method.design!r} (one of {', '.join(DESIGNS)})")
    if method.pretrained is not None and (method.pretrained not in REGISTRY or REGISTRY[method.pretrained].kind != method.kind):
        raise ValueError(f"method {method.name!r}: pretrained {method.pretrained!r} is not a registered {method.kind} method")
    if method.pretrained is not None and method.design != "ours":
        raise ValueError(f"method {method.name!r}: only our design can start from a pre-training run")
    unknown = set(method.corruptions) - set(CORRUPTIONS)
    if unknown:
        raise ValueError(f"method {method.name!r}: unknown corruptions {sorted(unknown)}")
    REGISTRY[method.name] = method
    return method


def get(name: str) -> Method:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r} (registered: {', '.join(REGISTRY)})") from None


def baseline() -> str | None:
    """The registered baseline method (the one the tables and notes compare every method with)."""
    return next((m.name for m in REGISTRY.values() if m.baseline), None)


def names(kind: str | None = None) -> list[str]:
    """Registered method names in declaration order, optionally of one kind."""
    return [m.name for m in REGISTRY.values() if kind is None or m.kind == kind]


def display(name: str) -> str:
    """Table label of a method or reference predictor (``zero``, ``train_mean``)."""
    return REGISTRY[name].display if name in REGISTRY else REFERENCE_DISPLAY.get(name, name)


REFERENCE_DISPLAY = {"zero": "zero", "train_mean": "train mean", "original": "original"}
"""Labels of the reference predictors the tables report beside the methods."""


def artifact_key(method: str, fold: str) -> str:
    """Name of a method's artifacts of one fold among the evaluate rule's named inputs."""
    return f"{method}__{fold}"


def load_plugins(paths) -> list[str]:
    """Import each Python file of ``paths`` (config ``method_plugins:``) so that it registers its methods;
    returns the names it added. A missing or broken file is an error naming it."""
    added = []
    for path in paths or ():
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"method_plugins: {p} does not exist")
        before = set(REGISTRY)
        spec = importlib.util.spec_from_file_location(f"ecgrecon_plugin_{p.stem}", p)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as e:  # noqa: BLE001 - any failure of a user's file is reported with its name
            raise RuntimeError(f"method_plugins: {p} failed to load: {type(e).__name__}: {e}") from e
        added += [n for n in REGISTRY if n not in before]
    return added


def markdown_table() -> str:
    """The registry as a markdown table (README's methods table; a test keeps the two equal)."""
    rows = ["| method | table name | family | fitted by | reads h | exported | what it is |", "|---|---|---|---|---|---|---|"]
    rule = {
        "linear": "`fit_linear`",
        "decoder": "`train_decoder` (per lead)",
        "fixed": "nothing",
        "calibrated": "`calibrate_pcm`",
        "generative": "`train_prior`",
    }
    for m in REGISTRY.values():
        rows.append(
            f"| `{m.name}` | {m.display} | {m.family} | {m.fitted_by or rule[m.kind]} | {'yes' if m.uses_h else 'no'} | "
            f"{'yes' if m.exportable else 'no'} | {m.description} |"
        )
    return "\n".join(rows)
