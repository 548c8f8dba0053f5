"""SCP-code catalogue of the synthetic cohort: superclass, subclass, code priors.

Codes, superclasses and subclasses follow PTB-XL's ``scp_statements.csv``; the descriptions
are written here. Priors give a class mix close to PTB-XL (NORM ~44 %, MI ~25 %, STTC ~24 %,
CD ~22 %, HYP ~12 % of records, with overlap; AFIB ~7 %).
"""

from __future__ import annotations

import pandas as pd

SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")

# code: (description, kind, superclass, subclass, statement category)
STATEMENTS: dict[str, tuple[str, str, str, str, str]] = {
    "NORM": ("normal ECG", "diag", "NORM", "NORM", "Normal/abnormal"),
    "IMI": ("inferior myocardial infarction", "diag", "MI", "IMI", "Myocardial Infarction"),
    "ILMI": ("inferolateral myocardial infarction", "diag", "MI", "IMI", "Myocardial Infarction"),
    "IPLMI": ("inferoposterolateral myocardial infarction", "diag", "MI", "IMI", "Myocardial Infarction"),
    "IPMI": ("inferoposterior myocardial infarction", "diag", "MI", "IMI", "Myocardial Infarction"),
    "ASMI": ("anteroseptal myocardial infarction", "diag", "MI", "AMI", "Myocardial Infarction"),
    "AMI": ("anterior myocardial infarction", "diag", "MI", "AMI", "Myocardial Infarction"),
    "ALMI": ("anterolateral myocardial infarction", "diag", "MI", "AMI", "Myocardial Infarction"),
    "LMI": ("lateral myocardial infarction", "diag", "MI", "LMI", "Myocardial Infarction"),
    "PMI": ("posterior myocardial infarction", "diag", "MI", "PMI", "Myocardial Infarction"),
    "NDT": ("non-diagnostic T abnormalities", "diag", "STTC", "STTC", "other ST-T descriptive statements"),
    "NST_": ("non-specific ST changes", "diag", "STTC", "NST_", "Basic roots for coding ST-T changes and abnormalities"),
    "ISC_": ("non-specific ischemic", "diag", "STTC", "ISC_", "Basic roots for coding ST-T changes and abnormalities"),
    "ISCAL": ("ischemic in anterolateral leads", "diag", "STTC", "ISCA", "ischemic ST-T changes"),
    "ISCAS": ("ischemic in anteroseptal leads", "diag", "STTC", "ISCA", "ischemic ST-T changes"),
    "ISCLA": ("ischemic in lateral leads", "diag", "STTC", "ISCA", "ischemic ST-T changes"),
    "ISCIN": ("ischemic in inferior leads", "diag", "STTC", "ISCI", "ischemic ST-T changes"),
    "LNGQT": ("long QT-interval", "diag", "STTC", "STTC", "other ST-T descriptive statements"),
    "DIG": ("digitalis-effect", "diag", "STTC", "STTC", "other ST-T descriptive statements"),
    "CLBBB": ("complete left bundle branch block", "diag", "CD", "CLBBB", "Intraventricular and intra-atrial Conduction disturbances"),
    "CRBBB": ("complete right bundle branch block", "diag", "CD", "CRBBB", "Intraventricular and intra-atrial Conduction disturbances"),
    "IRBBB": ("incomplete right bundle branch block", "diag", "CD", "IRBBB", "Intraventricular and intra-atrial Conduction disturbances"),
    "IVCD": (
        "non-specific intraventricular conduction disturbance (block)",
        "diag",
        "CD",
        "IVCD",
        "Intraventricular and intra-atrial Conduction disturbances",
    ),
    "LAFB": ("left anterior fascicular block", "diag", "CD", "LAFB/LPFB", "Intraventricular and intra-atrial Conduction disturbances"),
    "LPFB": ("left posterior fascicular block", "diag", "CD", "LAFB/LPFB", "Intraventricular and intra-atrial Conduction disturbances"),
    "1AVB": ("first degree AV block", "diag", "CD", "_AVB", "Sinus node dysfunction, atrial and AV-conduction defects"),
    "WPW": ("Wolf-Parkinson-White syndrome", "diag", "CD", "WPW", "Intraventricular and intra-atrial Conduction disturbances"),
    "LVH": ("left ventricular hypertrophy", "diag", "HYP", "LVH", "Ventricular Hypertrophy"),
    "RVH": ("right ventricular hypertrophy", "diag", "HYP", "RVH", "Ventricular Hypertrophy"),
    "LAO/LAE": ("left atrial overload/enlargement", "diag", "HYP", "LAO/LAE", "Atrial statements"),
    "RAO/RAE": ("right atrial overload/enlargement", "diag", "HYP", "RAO/RAE", "Atrial statements"),
    "SEHYP": ("septal hypertrophy", "diag", "HYP", "SEHYP", "Ventricular Hypertrophy"),
    "QWAVE": ("Q waves present", "form", "", "", "Other QRS morphology descriptive statements"),
    "STD_": ("non-specific ST depression", "form", "", "", "Basic roots for coding ST-T changes and abnormalities"),
    "INVT": ("inverted T-waves", "form", "", "", "other ST-T descriptive statements"),
    "VCLVH": ("voltage criteria (QRS) for left ventricular hypertrophy", "form", "", "", "Ventricular Hypertrophy"),
    "LPR": ("prolonged PR interval", "form", "", "", "Statements related to impulse formation (abnormalities)"),
    "SR": ("sinus rhythm", "rhythm", "", "", "Statements related to impulse formation (abnormalities)"),
    "SBRAD": ("sinus bradycardia", "rhythm", "", "", "Statements related to impulse formation (abnormalities)"),
    "STACH": ("sinus tachycardia", "rhythm", "", "", "Statements related to impulse formation (abnormalities)"),
    "AFIB": ("atrial fibrillation", "rhythm", "", "", "Statements related to impulse formation (abnormalities)"),
}

SUPERCLASS_OF = {c: v[2] for c, v in STATEMENTS.items() if v[1] == "diag"}

# Within-superclass code priors (first code of a record); a second code is sometimes added.
CODE_PRIORS: dict[str, dict[str, float]] = {
    "NORM": {"NORM": 1.0},
    "MI": {"IMI": 0.33, "ASMI": 0.30, "ILMI": 0.08, "AMI": 0.08, "ALMI": 0.08, "LMI": 0.05, "IPLMI": 0.03, "IPMI": 0.03, "PMI": 0.02},
    "STTC": {"NDT": 0.2, "NST_": 0.17, "ISC_": 0.2, "ISCAL": 0.12, "ISCAS": 0.05, "ISCLA": 0.05, "ISCIN": 0.07, "LNGQT": 0.07, "DIG": 0.07},
    "CD": {"CLBBB": 0.24, "CRBBB": 0.28, "IVCD": 0.18, "IRBBB": 0.08, "LAFB": 0.10, "LPFB": 0.02, "1AVB": 0.07, "WPW": 0.03},
    "HYP": {"LVH": 0.68, "LAO/LAE": 0.1, "RVH": 0.08, "RAO/RAE": 0.06, "SEHYP": 0.08},
}

P_NORM = 0.44  # patient is normal
P_ABNORMAL_CLASS = {"MI": 0.38, "STTC": 0.36, "CD": 0.33, "HYP": 0.18}  # independent, given abnormal
P_SECOND_CODE = 0.15  # a second code of the same superclass
P_UNCERTAIN_EXTRA = 0.12  # an extra code with likelihood 15/35/50 (mild effect)
P_AFIB_ABNORMAL = 0.12  # patient with a diagnostic finding has (paroxysmal) atrial fibrillation
P_AFIB_NORMAL = 0.01  # ... a patient labelled NORM
P_AFIB_RECORD = 0.85  # record of an AFIB patient is in AFIB
LIKELIHOODS = (100.0, 80.0, 50.0, 35.0, 15.0)
P_LIKELIHOOD = (0.72, 0.12, 0.08, 0.04, 0.04)


def statements_frame(codes) -> pd.DataFrame:
    """``scp_statements.csv`` rows (PTB-XL columns, index = code) for ``codes``, catalogue order."""
    used = [c for c in STATEMENTS if c in set(codes)]
    unknown = sorted(set(codes) - set(STATEMENTS))
    if unknown:
        raise KeyError(f"codes not in the synthetic catalogue: {unknown}")
    rows = []
    for code in used:
        desc, kind, sup, sub, cat = STATEMENTS[code]
        rows.append(
            {
                "description": desc,
                "diagnostic": 1.0 if kind == "diag" else None,
                "form": 1.0 if kind == "form" or code in ("NDT", "NST_", "DIG", "LNGQT") else None,
                "rhythm": 1.0 if kind == "rhythm" else None,
                "diagnostic_class": sup or None,
                "diagnostic_subclass": sub or None,
                "Statement Category": cat,
                "SCP-ECG Statement Description": desc,
                "AHA code": None,
                "aECG REFID": None,
                "CDISC Code": None,
                "DICOM Code": None,
            }
        )
    return pd.DataFrame(rows, index=pd.Index(used))
