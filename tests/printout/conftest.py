"""Fixtures of the printout tests (defined in conftest_printout, importable by the tests for its helpers)."""

from conftest_printout import clean_renders, records  # noqa: F401
