"""Data stages: clean, two-pass QC, segments, patient-wise folds, pooling, cross-dataset folds, artifact readers."""
