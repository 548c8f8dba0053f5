"""Real and synthetic ECG noise for the noise tasks (issue: denoising, noisy inputs).

- :mod:`.sources`: the MIT-BIH Noise Stress Test DB adapter (``bw``, ``ma``, ``em``; ``em`` derived
  from ``118e00 - 118e24`` where the pure record is absent) and a synthetic generator of the same
  three kinds for machines without NSTDB (labelled ``synthetic`` in every table).
- :mod:`.bank`: the noise resampled to the task rate, split in time into train / val / test parts
  (results/noise/bank.h5), so no noise sample that corrupts a training input corrupts a test input.
- :mod:`.corrupt`: which noise snippet and gain each record / segment / lead gets (a pure function of
  the seed, the task and the record), scaled to a target SNR per lead or to the ptp preset of
  Bedin et al. 2025, and the vectorised corruption itself.
"""

from ecgrecon.noise.bank import NoiseBank, build_bank, read_bank
from ecgrecon.noise.corrupt import Assignment, assign, corrupt, level_label, snr_db
from ecgrecon.noise.sources import KINDS, NoiseError, find_nstdb, read_nstdb, synthetic_noise
from ecgrecon.tasks import parse_level

__all__ = [
    "KINDS",
    "Assignment",
    "NoiseBank",
    "NoiseError",
    "assign",
    "build_bank",
    "corrupt",
    "find_nstdb",
    "level_label",
    "parse_level",
    "read_bank",
    "read_nstdb",
    "snr_db",
    "synthetic_noise",
]
