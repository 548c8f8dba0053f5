"""Synthetic PTB-XL-shaped cohort: dipole source x patient lead field + noise, with pathology.

See ``cohort.write_cohort`` (rule ``synthesize``) and ``cohort.simulate_cohort`` (in memory,
with noise-free signals, for tests and analyses).
"""

from ecgrecon.synth.cohort import simulate_cohort, write_cohort

__all__ = ["write_cohort", "simulate_cohort"]
