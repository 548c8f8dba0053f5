"""provenance.json: config hash, git commit, versions, seed and wall time of a results folder."""

import hashlib
import json
import sys

import numpy
import pytest
import scipy

from ecgrecon.io.provenance import config_hash, git_commit, write_provenance
from snakemake_helpers import ROOT

CONFIG = {"seed": 7, "synth": {"n_records": 120, "write_hr": False}, "leads": {"inputs": ["I", "II", "V2"]}}


def _head_from_files(repo):
    """HEAD's commit read straight from .git (no git command)."""
    git = repo / ".git"
    head = (git / "HEAD").read_text().strip()
    if not head.startswith("ref: "):
        return head
    ref = head[5:]
    if (git / ref).exists():
        return (git / ref).read_text().strip()
    for line in (git / "packed-refs").read_text().splitlines():
        if line.endswith(" " + ref):
            return line.split()[0]
    raise AssertionError(f"cannot resolve {ref}")


def test_writes_the_documented_record(tmp_path):
    path = write_provenance(tmp_path / "tables", CONFIG, seed=7, wall_s=12.34567, extra={"rule": "evaluate"})
    assert path == tmp_path / "tables" / "provenance.json"
    assert [p.name for p in path.parent.iterdir()] == ["provenance.json"]  # no temp file left
    rec = json.loads(path.read_text())
    canonical = json.dumps(CONFIG, sort_keys=True, separators=(",", ":"))
    assert rec["config_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert rec["seed"] == 7 and rec["wall_s"] == 12.346 and rec["rule"] == "evaluate"
    assert rec["git_commit"] == _head_from_files(ROOT)
    assert isinstance(rec["git_dirty"], bool)
    v = rec["versions"]
    assert v["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert v["numpy"] == numpy.__version__ and v["scipy"] == scipy.__version__
    assert set(v) == {"python", "numpy", "scipy", "torch", "snakemake", "wfdb", "h5py"}
    assert all(v.values()) and "not installed" not in v.values()


def test_config_hash_ignores_key_order_but_not_values():
    reordered = {"leads": CONFIG["leads"], "synth": {"write_hr": False, "n_records": 120}, "seed": 7}
    assert config_hash(reordered) == config_hash(CONFIG)
    changed = {**CONFIG, "seed": 8}
    assert config_hash(changed) != config_hash(CONFIG)
    assert len(config_hash(CONFIG)) == 64


def test_git_commit_is_unknown_outside_a_repository(tmp_path):
    assert git_commit(cwd=tmp_path) == "unknown"


def test_extra_cannot_override_core_fields(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        write_provenance(tmp_path, CONFIG, seed=1, wall_s=1.0, extra={"seed": 2})
    assert not (tmp_path / "provenance.json").exists()


def test_rewrite_replaces_the_previous_record(tmp_path):
    write_provenance(tmp_path, CONFIG, seed=7, wall_s=1.0)
    write_provenance(tmp_path, {**CONFIG, "seed": 9}, seed=9, wall_s=2.0)
    rec = json.loads((tmp_path / "provenance.json").read_text())
    assert rec["seed"] == 9 and rec["wall_s"] == 2.0
    assert rec["config_sha256"] == config_hash({**CONFIG, "seed": 9})
