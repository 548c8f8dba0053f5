"""Run the project's Snakemake workflow from tests in a scratch working directory."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def write_config(path: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(overrides, sort_keys=False))
    return path


WORKFLOW_FILES = ("Snakefile", "config.yaml", "rules", "workflow_scripts", "schemas", "envs", "report", "profiles")


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow definition (not the package) to ``dest``; return its Snakefile.

    Tests that edit a rule or script do it on such a copy, never on the checkout.
    """
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    return dest / "Snakefile"


def snakemake(
    workdir: Path, *args: str, configfile: Path | None = None, check: bool = True, snakefile: Path | None = None
) -> subprocess.CompletedProcess:
    """Run snakemake on the project Snakefile with ``workdir`` as working directory.

    ``args`` (targets, flags) come first: options that take several values (--configfile,
    --rerun-triggers) would otherwise swallow the targets.
    """
    cmd = [SNAKEMAKE, *args, "--snakefile", str(snakefile or ROOT / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += ["--quiet", "rules"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def scheduled_rules(workdir: Path, configfile: Path | None = None, *extra: str, snakefile: Path | None = None) -> dict[str, int]:
    """Dry-run and return {rule: job count} of what would run."""
    proc = snakemake(
        workdir,
        *extra,
        "-n",
        "--rerun-triggers",
        "mtime",
        "params",
        "input",
        "software-env",
        "code",
        configfile=configfile,
        snakefile=snakefile,
    )
    counts, in_table = {}, False
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts
