"""Dataset adapters: one module per database, one shared interface (:mod:`.base`).

``get_adapter(kind)`` returns the :class:`~ecgrecon.io.adapters.base.Adapter` of a database kind;
:func:`ecgrecon.data.clean.clean_dataset` goes through it, so every database ends in the same
``results/clean/{dataset}.h5`` (docs/artifacts.md). Kinds:

- ``ptbxl``: PTB-XL-shaped folders (real PTB-XL, the synthetic cohort): ``ptbxl_database.csv``
  + ``scp_statements.csv``, official ``strat_fold``.
- ``ptbdb``: PTB Diagnostic ECG Database (``patientNNN/sNNNNxxx``, 1000 Hz, 15 signals).
- ``ludb``: Lobachevsky University ECG Database (500 Hz, one subject per record).
- ``cinc2021``: PhysioNet/CinC Challenge 2021 (``.hea`` + MATLAB ``.mat``, SNOMED-CT ``# Dx:``).

Databases without folds get ``strat_fold`` = :func:`~ecgrecon.io.adapters.base.patient_fold`
(sha256 of the patient id mod 10 + 1), so the folds rule works unchanged and no patient
crosses folds. Records longer than ``clean.duration_s`` are cropped to their first
``duration_s`` seconds by the clean stage; shorter ones are quarantined.
"""

from __future__ import annotations

import importlib

from ecgrecon.io.adapters.base import Adapter

_MODULES = {"ptbxl": "ptbxl", "ptbdb": "ptbdb", "ludb": "ludb", "cinc2021": "cinc2021"}
KINDS = tuple(_MODULES)


SHARED_FOLDERS = {"PTB-XL": "ptb-xl", "LUDB": "ludb", "CinC": "cinc2021"}
"""The real databases of the shared data folder (name -> its subfolder): the sim-to-real measure and calibration."""


def get_adapter(kind: str) -> Adapter:
    """The adapter of database ``kind`` (imported on first use); ValueError naming the choices."""
    try:
        module = _MODULES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset kind {kind!r}: expected one of {list(KINDS)}") from None
    return importlib.import_module(f"{__name__}.{module}").ADAPTER
