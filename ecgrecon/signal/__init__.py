"""Signal processing shared by every stage: filters, waveform measures (R peaks, median beat, QRS
bounds), morphology errors and reconstruction metrics.
"""
