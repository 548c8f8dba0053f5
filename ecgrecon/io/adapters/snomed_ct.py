"""SNOMED-CT codes of the PhysioNet/CinC Challenge 2021 ``# Dx:`` lines -> label, superclass, subclass.

Names follow the Challenge's ``dx_mapping_scored.csv`` / ``dx_mapping_unscored.csv``. The
label is the PTB-XL SCP code where PTB-XL has the same statement, else the Challenge
abbreviation. Superclasses follow PTB-XL's diagnostic classes: infarcts -> MI; ST/T changes,
ischemia, long QT (PTB-XL LNGQT) -> STTC; bundle branch, fascicular and AV blocks, IVCD, WPW
-> CD; chamber hypertrophy / enlargement, including the left ventricular high-voltage criterion
-> HYP; sinus rhythm, sinus brady-/tachycardia and sinus arrhythmia are NORM-compatible (a
record is NORM only when nothing else is reported, :func:`~ecgrecon.io.adapters.base.label_fields`).
Rhythms, ectopic beats, pacing, axis deviation, QRS/P/Q-wave findings have no superclass.
Codes missing here keep the SNOMED number as label and are counted as unmapped (e.g.
251238007, in neither Challenge mapping file).
"""

from __future__ import annotations

from ecgrecon.io.adapters.base import NORM
from ecgrecon.io.adapters.base import Statement as S

SNOMED: dict[str, S] = {
    # sinus rhythms: compatible with a normal ECG
    "426783006": S("SR", NORM),  # sinus rhythm
    "426177001": S("SBRAD", NORM),  # sinus bradycardia
    "427084000": S("STACH", NORM),  # sinus tachycardia
    "427393009": S("SARRH", NORM),  # sinus arrhythmia
    # myocardial infarction
    "164865005": S("MI", "MI"),  # myocardial infarction
    "57054005": S("MI", "MI"),  # acute myocardial infarction
    "164867002": S("MI", "MI"),  # old myocardial infarction
    "54329005": S("AMI", "MI", "AMI"),  # anterior myocardial infarction
    # ST/T changes
    "164934002": S("TAB_", "STTC", "STTC"),  # t wave abnormal
    "59931005": S("INVT", "STTC", "STTC"),  # t wave inversion
    "428750005": S("NST_", "STTC", "NST_"),  # nonspecific st t abnormality
    "55930002": S("STC", "STTC", "STTC"),  # s t changes
    "164930006": S("STIAb", "STTC", "STTC"),  # st interval abnormal
    "429622005": S("STD_", "STTC", "STTC"),  # st depression
    "164931005": S("STE_", "STTC", "STTC"),  # st elevation
    "111975006": S("LNGQT", "STTC", "STTC"),  # prolonged qt interval
    "164861001": S("ISC_", "STTC", "ISC_"),  # myocardial ischemia
    "426434006": S("ISCAN", "STTC", "ISCA"),  # anterior ischemia
    "425623009": S("ISCLA", "STTC", "ISCA"),  # lateral ischaemia
    "425419005": S("ISCIN", "STTC", "ISCI"),  # inferior ischaemia
    # conduction disturbances
    "164909002": S("CLBBB", "CD", "CLBBB"),  # left bundle branch block
    "733534002": S("CLBBB", "CD", "CLBBB"),  # complete left bundle branch block
    "59118001": S("CRBBB", "CD", "CRBBB"),  # right bundle branch block
    "713427006": S("CRBBB", "CD", "CRBBB"),  # complete right bundle branch block
    "713426002": S("IRBBB", "CD", "IRBBB"),  # incomplete right bundle branch block
    "251120003": S("ILBBB", "CD", "ILBBB"),  # incomplete left bundle branch block
    "6374002": S("BBB", "CD"),  # bundle branch block
    "445118002": S("LAFB", "CD", "LAFB/LPFB"),  # left anterior fascicular block
    "445211001": S("LPFB", "CD", "LAFB/LPFB"),  # left posterior fascicular block
    "270492004": S("1AVB", "CD", "_AVB"),  # 1st degree av block
    "195042002": S("2AVB", "CD", "_AVB"),  # 2nd degree av block
    "27885002": S("3AVB", "CD", "_AVB"),  # complete heart block
    "698252002": S("IVCD", "CD", "IVCD"),  # nonspecific intraventricular conduction disorder
    "74390002": S("WPW", "CD", "WPW"),  # wolff parkinson white pattern
    # hypertrophy / enlargement
    "164873001": S("LVH", "HYP", "LVH"),  # left ventricular hypertrophy
    "55827005": S("LVH", "HYP", "LVH"),  # left ventricular high voltage
    "89792004": S("RVH", "HYP", "RVH"),  # right ventricular hypertrophy
    "67741000119109": S("LAO/LAE", "HYP", "LAO/LAE"),  # left atrial enlargement
    "253352002": S("LAO/LAE", "HYP", "LAO/LAE"),  # left atrial abnormality
    "446813000": S("LAO/LAE", "HYP", "LAO/LAE"),  # left atrial hypertrophy
    "446358003": S("RAO/RAE", "HYP", "RAO/RAE"),  # right atrial hypertrophy
    "253339007": S("RAO/RAE", "HYP", "RAO/RAE"),  # right atrial abnormality
    # no superclass: rhythms, ectopy, pacing, axis, other findings
    "164889003": S("AFIB"),  # atrial fibrillation
    "164890007": S("AFLT"),  # atrial flutter
    "713422000": S("ATach"),  # atrial tachycardia
    "426627000": S("Brady"),  # bradycardia
    "284470004": S("PAC"),  # premature atrial contraction
    "63593006": S("PAC"),  # supraventricular premature beats
    "251170000": S("BPAC"),  # blocked premature atrial contraction
    "251187003": S("AED"),  # atrial escape beat
    "427172004": S("PVC"),  # premature ventricular contractions
    "17338001": S("PVC"),  # ventricular premature beats
    "10370003": S("PACE"),  # pacing rhythm
    "39732003": S("LAD"),  # left axis deviation
    "47665007": S("RAD"),  # right axis deviation
    "61721007": S("CVCL"),  # clockwise or counterclockwise vectorcardiographic loop
    "251146004": S("LVOLT"),  # low qrs voltages
    "365413008": S("PRWP"),  # poor R wave progression
    "164917005": S("QWAVE"),  # qwave abnormal
    "164947007": S("LPR"),  # prolonged pr interval
    "251223006": S("TPW"),  # tall p wave
    "428417006": S("ERe"),  # early repolarization
}
