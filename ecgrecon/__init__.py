"""ecg-recon: reconstruct missing precordial ECG leads (V1, V3-V6) from I, II and V2.

The package holds all logic; Snakemake rules call thin scripts in ``workflow_scripts/``.
"""

__version__ = "0.1.0"

LEADS12 = ("I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6")
"""The fixed 12-lead order used by every artifact (upper-case, PTB-XL spelling)."""

RECORD_WINDOW_S = 10.24
"""Seconds of the diffusion prior's record window (10-s records padded to 1024 samples at 100 Hz)."""
