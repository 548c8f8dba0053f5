"""The package by concern: no module imports a higher layer or another module's private helper."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "ecgrecon"
# Lower layers never import higher ones. The method registry (ecgrecon.methods.registry) and the task
# declarations are plain data at the bottom; the methods' predictors sit above the fitting code they wire.
LAYERS = {
    "ecgrecon": 0,
    "ecgrecon.methods.registry": 0,
    "ecgrecon.tasks": 0,
    "ecgrecon.io": 1,
    "ecgrecon.signal": 2,
    "ecgrecon.synth": 3,
    "ecgrecon.noise": 3,
    "ecgrecon.data": 3,
    "ecgrecon.learn": 4,
    "ecgrecon.printout": 4,
    "ecgrecon.methods": 5,
    "ecgrecon.evaluation": 6,
    "ecgrecon.deploy": 7,
}


def layer(module: str) -> int:
    best = max((k for k in LAYERS if module == k or module.startswith(k + ".")), key=len)
    return LAYERS[best]


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path):
    """(imported module, imported names) of every `import` / `from ... import` in a file."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            yield None, []  # relative imports are not used in the package (absolute everywhere)
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def test_no_module_imports_a_higher_layer_or_a_private_helper():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        me = module_of(path)
        for mod, names in imports(path):
            if mod is None:
                bad.append(f"{me}: relative import")
                continue
            if not mod.startswith("ecgrecon"):
                continue
            target = mod
            for n in names:  # `from ecgrecon.learn import models` imports the module ecgrecon.learn.models
                if (PKG.joinpath(*mod.split(".")[1:], f"{n}.py")).exists() or (PKG.joinpath(*mod.split(".")[1:], n)).is_dir():
                    target = f"{mod}.{n}"
                if n.startswith("_") and not n.startswith("__") and target.rsplit(".", 1)[0] != me.rsplit(".", 1)[0]:
                    bad.append(f"{me}: imports the private {mod}.{n}")
            if layer(target) > layer(me):
                bad.append(f"{me} (layer {layer(me)}) imports {target} (layer {layer(target)})")
    assert not bad, "\n".join(bad)


def test_every_module_sits_in_a_concern_package():
    top = sorted(p.stem for p in PKG.glob("*.py") if p.stem != "__init__")
    assert top == ["tasks"], top  # everything else lives in the concern packages below
    for sub in ("io", "signal", "data", "noise", "learn", "methods", "evaluation", "deploy", "synth", "printout"):
        assert (PKG / sub / "__init__.py").exists(), sub


def test_one_band_pass_and_one_r_peak_detector():
    """Butterworth filters are designed in ecgrecon.signal.filters only; the numpy R-peak detector is defined
    once (ecgrecon.signal.measures), beside its batched torch twin for the encoder's views (learn.views) and the
    authors' peak rule that their encoder's views must use (learn.paper, the faithful design)."""
    butter, peaks = set(), {}
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "butter":
                butter.add(module_of(path))
            if isinstance(node, ast.FunctionDef) and ("peak" in node.name and "r" in node.name.split("_")):
                peaks.setdefault(node.name, []).append(module_of(path))
    assert butter == {"ecgrecon.signal.filters"}, butter
    assert set(peaks) == {"detect_r_peaks", "authors_r_peaks"}, peaks
    assert peaks["authors_r_peaks"] == ["ecgrecon.learn.paper"], peaks
    assert sorted(peaks["detect_r_peaks"]) == ["ecgrecon.learn.views", "ecgrecon.signal.measures"], peaks


def test_config_defaults_live_in_config_yaml_only():
    """The code reads its settings from the config sections and has no fallback values of its own."""
    offenders = []
    for path in PKG.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            is_get = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "get"
            on_cfg = is_get and isinstance(node.func.value, ast.Name) and node.func.value.id in ("cfg", "config")
            if on_cfg and len(node.args) == 2:
                offenders.append(f"{module_of(path)}:{node.lineno}")
        if "DEFAULT_CFG" in path.read_text():
            offenders.append(f"{module_of(path)}: DEFAULT_CFG")
    assert not offenders, offenders


def test_tests_mirror_the_package():
    concerns = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").exists()}
    assert concerns == packages | {"workflow"}, (concerns, packages)  # workflow/: the DAG, config, envs, README
    assert not list((ROOT / "tests").glob("test_*.py"))  # every test file sits in its concern's folder
