"""Fitting: networks, losses, views, samplers, the fit loop, the encoder, the decoders,
representations, the linear and per-patient maps, the diagnostic classifier.
"""
