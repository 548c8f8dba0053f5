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
    assert {p.stem for p in ENV_FILES} == {"data", "torch"}
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


def test_every_env_is_used_by_a_rule_and_installs_the_package():
    used = {re.search(r'conda:\s*\n\s*f?"\{ENVS\}/(\w+)\.yaml"', block).group(1) for _, _, block in _rule_blocks()}
    assert used == {p.stem for p in ENV_FILES}, used
    for path in ENV_FILES:
        deploy = path.with_name(f"{path.stem}.post-deploy.sh")
        assert deploy.exists() and 'pip install --no-deps -e "${ECGRECON_SOURCE' in deploy.read_text(), deploy
    assert "os.environ.update(ECGRECON_SOURCE=workflow.basedir)" in (ROOT / "rules" / "common.smk").read_text()


def test_no_workflow_script_edits_sys_path():
    for path in [*(ROOT / "workflow_scripts").glob("*.py"), *(ROOT / "rules").glob("*.smk")]:
        assert "sys.path" not in path.read_text(), path


def test_pyproject_declares_every_third_party_import_of_the_package():
    import ast
    import sys
    import tomllib

    declared = {
        re.split(r"[<>=!~ \[]", d, maxsplit=1)[0].lower()
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    module_of = {"pyyaml": "yaml", "opencv-python-headless": "cv2", "scikit-image": "skimage"}
    provided = {module_of.get(d, d) for d in declared}
    imported = set()
    for path in (ROOT / "ecgrecon").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else [])
            )
            imported |= {n.split(".")[0] for n in names}
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "ecgrecon"}
    assert third_party <= provided, sorted(third_party - provided)
