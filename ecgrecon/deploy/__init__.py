"""Deployment: model bundles, `ecgrecon reconstruct`, the command line."""
