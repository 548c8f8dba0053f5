"""Over the quarantine limit the clean job fails; its message names a list that still exists afterwards."""

import pandas as pd

from ptbxl_fixture import SHARED_PTBXL
from snakemake_helpers import snakemake, write_config


def test_quarantine_limit_error_names_a_list_that_survives_the_failed_job(tmp_path):
    # the 63 shared PTB-XL records: 29 have no metadata row, 46 % > the default limit of 5 %
    cfg = write_config(tmp_path / "real.yaml", {"dataset": "ptbxl_local", "data": {"ptbxl_dir": str(SHARED_PTBXL)}})
    proc = snakemake(tmp_path, "results/clean/ptbxl_local.h5", configfile=cfg, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    (line,) = [row for row in out.splitlines() if "ERROR: 29 of 63 records quarantined" in row]
    assert "the list: logs/clean_ptbxl_local.quarantine.csv; first 3: records100/" in line and ": no metadata row" in line, line
    assert not (tmp_path / "results/qc/quarantine_ptbxl_local.csv").exists()  # Snakemake deletes a failed job's outputs
    kept = pd.read_csv(tmp_path / "logs/clean_ptbxl_local.quarantine.csv")
    assert len(kept) == 29 and set(kept["reason"]) == {"no metadata row"}
    assert kept["record"].iloc[0] in line
