"""README stays short and true: its methods table is the registry's, its task table the config's."""

import yaml

from ecgrecon import methods as registry
from snakemake_helpers import ROOT

README = (ROOT / "README.md").read_text()


def test_readme_methods_table_is_the_registry():
    assert registry.markdown_table() in README


def test_readme_task_table_names_every_configured_task_with_its_leads():
    tasks = yaml.safe_load((ROOT / "config.yaml").read_text())["tasks"]
    rows = [line for line in README.splitlines() if line.startswith("| `")]
    for name, spec in tasks.items():
        row = next((r for r in rows if r.startswith(f"| `{name}`")), None)
        assert row is not None, name
        assert ", ".join(spec["inputs"]) in row and spec["methods"][0] in row, row


def test_readme_is_short_and_names_the_two_setup_commands():
    assert len(README.splitlines()) <= 170
    assert "make run " in README and "make test " in README
