"""Evaluation: tables, figures, morphology plots, diagnostic retention, PCM and CaLiNet-E tables, docs/results.md."""
