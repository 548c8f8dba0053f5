"""config.yaml's sections, the one home of every default: tests take a section and override what they vary."""

import yaml

from snakemake_helpers import ROOT

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())


def section(name: str, **overrides) -> dict:
    """The ``name`` section of config.yaml with ``overrides`` (a full section, as the workflow passes it)."""
    return {**CONFIG[name], **overrides}
