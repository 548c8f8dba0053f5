"""Reading and writing: WFDB records, metadata, dataset adapters, downloads, HDF5 tables, atomic files,
provenance and run logs.
"""
