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


def snakemake(workdir: Path, *args: str, configfile: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake on the project Snakefile with ``workdir`` as working directory.

    ``args`` (targets, flags) come first: options that take several values (--configfile,
    --rerun-triggers) would otherwise swallow the targets.
    """
    cmd = [SNAKEMAKE, *args, "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir), "--cores", "2"]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    cmd += ["--quiet", "rules"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def scheduled_rules(workdir: Path, configfile: Path | None = None, *extra: str) -> dict[str, int]:
    """Dry-run and return {rule: job count} of what would run."""
    proc = snakemake(workdir, *extra, "-n", "--rerun-triggers", "mtime", "params", "input", "software-env", "code", configfile=configfile)
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
