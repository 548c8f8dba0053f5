"""Evaluation: tables, figures, morphology plots, diagnostic retention, PCM tables, docs/results.md."""
