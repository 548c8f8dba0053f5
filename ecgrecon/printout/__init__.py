"""ECG printouts: render a record as a paper printout image, distort it, digitise it back to signals.

- :mod:`~ecgrecon.printout.layout`: page geometry, :class:`PrintoutTruth` (what was drawn where), :class:`PrintoutError`;
- :mod:`~ecgrecon.printout.render`: :func:`render_printout` (12-lead page), :func:`render_single_lead` (the source's lead-I image);
- :mod:`~ecgrecon.printout.distort`: :func:`distort` with the named levels of :data:`LEVELS` (clean, scan, photo);
- :mod:`~ecgrecon.printout.digitize`: :func:`digitize_classical` (deskew, grid pitch, grid removal, trace path, calibration);
- :mod:`~ecgrecon.printout.learned`: the learned digitiser (ResNet-18 trunk, transformer bridge, 1-D transposed-conv decoder);
- :mod:`~ecgrecon.printout.single`: :func:`digitize_single_classical` (the classical digitiser of the single-lead strip);
- :mod:`~ecgrecon.printout.scoring`: Challenge-2024 SNR, per-lead r / R2 / RMSE / MAE, the r-threshold table.
- :mod:`~ecgrecon.printout.complete`: completion of the digitised partial record to 12 leads x 10 s (GL, per-patient PPM).
"""
