"""Conda env files stay valid and in step with the venv; every rule names an env, a log and a benchmark."""
import re
from importlib.metadata import version

import pytest
import yaml

from snakemake_helpers import ROOT

ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))
CONDA_TO_PYPI = {"pytorch": "torch", "pyyaml": "PyYAML"}


def _pins(env):
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep.get("pip", []):
                name, _, ver = spec.partition("==")
                yield name, ver
        elif "=" in dep:
            name, _, ver = dep.partition("=")
            yield name, ver


def _rule_blocks():
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = [m.start() for m in re.finditer(r"^rule \w+:", text, re.M)] + [len(text)]
        for a, b in zip(starts, starts[1:]):
            block = text[a:b]
            yield smk.name, re.match(r"rule (\w+):", block).group(1), block


def test_env_files_parse_and_pin_exactly():
    assert {p.stem for p in ENV_FILES} >= {"data", "torch", "plots"}
    for path in ENV_FILES:
        env = yaml.safe_load(path.read_text())
        assert env["channels"] and env["dependencies"], path
        for name, ver in _pins(env):
            assert ver, f"{path.name}: {name} is not pinned"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_the_venv(path):
    env = yaml.safe_load(path.read_text())
    for name, ver in _pins(env):
        if name in ("python", "pip"):
            continue
        installed = version(CONDA_TO_PYPI.get(name, name)).split("+")[0]
        assert installed == ver, f"{path.name}: {name} pinned {ver}, venv has {installed}"


def test_every_rule_has_env_log_and_benchmark():
    rules = list(_rule_blocks())
    assert len(rules) >= 6
    for smk, rule, block in rules:
        env = re.search(r'conda:\s*\n\s*f?"\{ENVS\}/(\w+)\.yaml"', block)
        assert env, f"{smk}: rule {rule} names no conda env"
        assert (ROOT / "envs" / f"{env.group(1)}.yaml").exists(), f"{smk}: rule {rule}: env missing"
        assert re.search(r"^\s+log:", block, re.M), f"{smk}: rule {rule} has no log:"
        assert re.search(r"^\s+benchmark:", block, re.M), f"{smk}: rule {rule} has no benchmark:"
