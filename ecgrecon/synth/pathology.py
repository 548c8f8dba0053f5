"""Pathology effects on the dipole source, one entry per diagnostic SCP code.

``draw_effects`` draws each code's random parameters once per patient (severity: 0.65-1 for
likelihood >= 80, a mild 0.1-0.35 for uncertain codes). ``apply_timing`` changes intervals
(QRS widening in conduction disease, PR in AV block / WPW, QT) and ``apply_morphology`` the
wavelets, all in the heart frame (Frank X left, Y feet, Z back):

- MI: loss of forces toward the infarct (R loss), Q waves = initial forces pointing away,
  T inversion and in about a third ST elevation along the infarct direction.
- STTC: ST depression and T flattening / inversion along a regional direction; long QT; digitalis.
- CD: LBBB (wide notched leftward QRS, discordant ST-T), RBBB (late rightward-anterior R'),
  IVCD (uniform widening with notch), fascicular blocks (axis shift), 1st degree AV block,
  WPW (short PR, delta wave).
- HYP: LVH (larger left-posterior QRS, strain pattern), RVH, atrial enlargement, septal.
"""

from __future__ import annotations

import numpy as np

from ecgrecon.synth.catalogue import STATEMENTS, SUPERCLASS_OF
from ecgrecon.synth.dipole import QRS_ONSET, unit

MI_DIRECTION = {
    "IMI": (0.0, 1.0, 0.1),
    "ILMI": (0.55, 0.8, 0.1),
    "IPLMI": (0.45, 0.7, 0.55),
    "IPMI": (0.05, 0.7, 0.7),
    "ASMI": (-0.3, 0.0, -1.0),
    "AMI": (0.2, -0.1, -1.0),
    "ALMI": (0.7, -0.15, -0.7),
    "LMI": (0.95, -0.3, 0.1),
    "PMI": (0.05, 0.1, 1.0),
}
STTC_DIRECTION = {
    "NDT": (0.75, 0.4, -0.3),
    "NST_": (0.7, 0.5, -0.3),
    "ISC_": (0.7, 0.45, -0.35),
    "ISCAL": (0.55, 0.0, -0.8),
    "ISCAS": (-0.2, 0.0, -1.0),
    "ISCLA": (0.95, -0.25, 0.0),
    "ISCIN": (0.05, 1.0, 0.0),
    "LNGQT": (0.7, 0.5, -0.3),
    "DIG": (0.7, 0.5, -0.3),
}
LBBB_DIR = unit([0.75, 0.1, 0.65])
RBBB_DIR = unit([-0.6, 0.05, -0.8])
RVH_DIR = unit([-0.7, 0.45, -0.55])
ACCESSORY_DIRS = (unit([0.9, 0.2, 0.3]), unit([0.3, -0.5, 0.8]), unit([-0.6, 0.4, -0.3]))
QRS_NAMES = ("q_septal", "r_main", "r_post", "s_term")
T_NAMES = ("t_up", "t_down")


def draw_effects(rng: np.random.Generator, codes: dict[str, float]) -> dict[str, dict]:
    """Random parameters of every diagnostic code in ``codes`` (catalogue order)."""
    out = {}
    for code in STATEMENTS:
        if code not in codes or code not in SUPERCLASS_OF or code == "NORM":
            continue
        u = rng.uniform
        e = {"sev": u(0.65, 1.0) if codes[code] >= 80 else u(0.1, 0.35)}
        sup = SUPERCLASS_OF[code]
        if sup == "MI":
            e.update(
                dir=unit(np.add(MI_DIRECTION[code], rng.normal(0, 0.12, 3))),
                q=u(0.25, 0.5),
                r_loss=u(0.4, 0.8),
                t_inv=u(0.8, 1.6),
                st=u(0.05, 0.2) if rng.random() < 0.35 else 0.0,
            )
        elif sup == "STTC":
            e.update(
                dir=unit(np.add(STTC_DIRECTION[code], rng.normal(0, 0.1, 3))),
                depth=0.0 if code in ("NDT", "LNGQT") else u(0.05, 0.15),
                t_factor=u(-0.3, 0.3) if code in ("NDT", "NST_") else u(-1.2, -0.3),
                qt_add=u(0.05, 0.1),
            )
        elif code in ("CLBBB", "CRBBB", "IRBBB", "IVCD"):
            lo, hi = {"CLBBB": (0.135, 0.175), "CRBBB": (0.125, 0.155), "IRBBB": (0.1, 0.118), "IVCD": (0.125, 0.16)}[code]
            e.update(target=u(lo, hi), amp=u(0.5, 0.85) if code == "CRBBB" else u(0.35, 0.55), notch=u(0.1, 0.25))
        elif code in ("LAFB", "LPFB"):
            e.update(tilt=u(0.5, 0.8), d_add=u(0.012, 0.022))
        elif code == "1AVB":
            e.update(pr=u(0.215, 0.32))
        elif code == "WPW":
            e.update(pr=u(0.085, 0.115), amp=u(0.25, 0.45), dir=ACCESSORY_DIRS[rng.integers(3)])
        elif code == "LVH":
            e.update(gain=u(0.4, 0.8), strain=rng.random() < 0.55, depth=u(0.05, 0.15), d_add=u(0.004, 0.014))
        elif code == "RVH":
            e.update(amp=u(0.4, 0.8))
        elif code == "LAO/LAE":
            e.update(p_dur=u(0.12, 0.14), z=u(0.04, 0.09))
        elif code in ("RAO/RAE", "SEHYP"):
            e.update(factor=u(0.8, 1.6))
        out[code] = e
    return out


def apply_timing(ph: dict, effects: dict[str, dict]) -> dict:
    """A copy of the physiology with intervals changed by the codes (``qrs0`` keeps the normal QRS)."""
    ph = dict(ph, qrs0=ph["qrs"])
    for code, e in effects.items():
        s = e["sev"]
        if "target" in e:
            ph["qrs"] = max(ph["qrs"], ph["qrs0"] + s * (e["target"] - ph["qrs0"]))
        elif code in ("LAFB", "LPFB"):
            ph["qrs"] += s * e["d_add"]
        elif code == "LVH":
            ph["qrs"] += s * e["d_add"]
        elif code == "1AVB":
            ph["pr"] += s * (e["pr"] - ph["pr"])
        elif code == "WPW":
            ph["pr"] += s * (e["pr"] - ph["pr"])
            ph["qrs"] += s * 0.03
        elif code == "LNGQT":
            ph["qtc"] += s * e["qt_add"]
        elif code == "DIG":
            ph["qtc"] -= 0.025 * s
            ph["pr"] += 0.015 * s
        elif code == "LAO/LAE":
            ph["p_dur"] += s * (e["p_dur"] - ph["p_dur"])
    return ph


def _vec(comp: dict, name: str) -> np.ndarray:
    return np.asarray(comp[name][3:6], dtype=float)


def _set(comp: dict, name: str, v) -> None:
    comp[name][3:6] = list(np.asarray(v, dtype=float))


def _blend(a, target, s):
    return a + s * (np.asarray(target) - a)


def _mi(comp, code, e, s, d, d0, m, tm, ph):
    u = e["dir"]
    for name in QRS_NAMES:
        a = _vec(comp, name)
        _set(comp, name, a - s * e["r_loss"] * max(float(a @ u), 0.0) * u)
    comp[f"mi_q_{code}"] = [QRS_ONSET, 0.2 * d, 0.08 * d, *(-s * e["q"] * m * u), 0.0, 0.0]
    for name in T_NAMES:
        a = _vec(comp, name)
        _set(comp, name, a - s * e["t_inv"] * float(a @ u) * u - s * 0.15 * tm * u)
    _set(comp, "st", _vec(comp, "st") + s * e["st"] * u)


def _sttc(comp, code, e, s, d, d0, m, tm, ph):
    u = e["dir"]
    _set(comp, "st", _vec(comp, "st") - s * e["depth"] * u)
    if code == "LNGQT":
        for name in T_NAMES:
            comp[name][2] *= 1.25
            _set(comp, name, 0.85 * _vec(comp, name))
    elif code == "DIG":
        comp["st"][2] *= 1.5
        for name in T_NAMES:
            _set(comp, name, (1 - 0.6 * s) * _vec(comp, name))
    else:
        for name in T_NAMES:
            a = _vec(comp, name)
            extra = 0.1 * tm * u if code.startswith("ISC") else 0.0
            _set(comp, name, a + s * (e["t_factor"] - 1) * float(a @ u) * u - s * extra)


def _lbbb(comp, code, e, s, d, d0, m, tm, ph):
    _set(comp, "q_septal", _blend(_vec(comp, "q_septal"), 0.3 * m * LBBB_DIR, s))
    comp["r_main"][1:3] = [0.35 * d, 0.13 * d]
    _set(comp, "r_main", _blend(_vec(comp, "r_main"), 1.05 * m * LBBB_DIR, s))
    comp["r_post"][1:3] = [0.5 * d, 0.12 * d]
    _set(comp, "r_post", _blend(_vec(comp, "r_post"), 0.3 * m * LBBB_DIR, s))
    comp["lbbb_late"] = [QRS_ONSET, 0.68 * d, 0.12 * d, *(s * 0.95 * m * LBBB_DIR), 0.0, 0.0]
    _set(comp, "s_term", (1 - 0.8 * s) * _vec(comp, "s_term"))
    for name, frac in zip(T_NAMES, (0.65, 0.55)):
        _set(comp, name, _blend(_vec(comp, name), -frac * 0.5 * LBBB_DIR, s))
    _set(comp, "st", _vec(comp, "st") - s * 0.12 * LBBB_DIR)


def _rbbb(comp, code, e, s, d, d0, m, tm, ph):
    for name in QRS_NAMES:
        comp[name][1] *= d0 / d
        comp[name][2] *= d0 / d
    comp[f"r_prime_{code}"] = [QRS_ONSET, d - 0.03, 0.014 + 0.15 * (d - d0), *(s * e["amp"] * m * RBBB_DIR), 0.0, 0.0]
    for name in T_NAMES:
        _set(comp, name, _vec(comp, name) - s * 0.3 * tm * RBBB_DIR)


def _ivcd(comp, code, e, s, d, d0, m, tm, ph):
    comp["ivcd_notch"] = [QRS_ONSET, 0.5 * d, 0.05 * d, *(-s * e["notch"] * _vec(comp, "r_main")), 0.0, 0.0]


def _fascicular(comp, code, e, s, d, d0, m, tm, ph):
    a = _vec(comp, "r_main")
    main_dir = unit([0.75, -e["tilt"], 0.35]) if code == "LAFB" else unit([-0.25, 1.0, 0.3])
    init_dir = unit([-0.3, 0.8, -0.4]) if code == "LAFB" else unit([0.5, -0.7, -0.3])
    _set(comp, "r_main", _blend(a, np.linalg.norm(a) * main_dir, s))
    _set(comp, "q_septal", _blend(_vec(comp, "q_septal"), 0.25 * m * init_dir, s))


def _wpw(comp, code, e, s, d, d0, m, tm, ph):
    comp["delta"] = [QRS_ONSET, -0.005, 0.028, *(s * e["amp"] * m * e["dir"]), 0.0, 0.0]
    for name in T_NAMES:
        _set(comp, name, _vec(comp, name) - s * 0.3 * tm * e["dir"])


def _lvh(comp, code, e, s, d, d0, m, tm, ph):
    _set(comp, "r_main", _vec(comp, "r_main") + s * e["gain"] * m * unit([0.9, -0.1, 0.1]))
    _set(comp, "r_post", _vec(comp, "r_post") + s * e["gain"] * m * unit([0.3, -0.05, 1.0]))
    if e["strain"]:
        u = unit(_vec(comp, "r_main"))
        _set(comp, "st", _vec(comp, "st") - s * e["depth"] * u)
        for name in T_NAMES:
            a = _vec(comp, name)
            _set(comp, name, a - s * 1.6 * float(a @ u) * u)


def _rvh(comp, code, e, s, d, d0, m, tm, ph):
    comp["rvh"] = [QRS_ONSET, 0.6 * d, 0.12 * d, *(s * e["amp"] * m * RVH_DIR), 0.0, 0.0]
    _set(comp, "r_main", (1 - 0.3 * s) * _vec(comp, "r_main"))
    _set(comp, "r_post", (1 - 0.4 * s) * _vec(comp, "r_post"))
    for name in T_NAMES:
        _set(comp, name, _vec(comp, name) - s * 0.25 * tm * RVH_DIR)


def _left_atrial(comp, code, e, s, d, d0, m, tm, ph):
    comp["p_la"][1] = 0.7 * ph["p_dur"]
    _set(comp, "p_la", _vec(comp, "p_la") + s * np.array([0.02, 0.0, e["z"]]))


def _right_atrial(comp, code, e, s, d, d0, m, tm, ph):
    _set(comp, "p_ra", (1 + s * e["factor"]) * _vec(comp, "p_ra"))


def _septal(comp, code, e, s, d, d0, m, tm, ph):
    _set(comp, "q_septal", (1 + s * e["factor"]) * _vec(comp, "q_septal"))


MORPHOLOGY_BY_CODE = {
    "CLBBB": _lbbb,
    "CRBBB": _rbbb,
    "IRBBB": _rbbb,
    "IVCD": _ivcd,
    "LAFB": _fascicular,
    "LPFB": _fascicular,
    "WPW": _wpw,
    "LVH": _lvh,
    "RVH": _rvh,
    "LAO/LAE": _left_atrial,
    "RAO/RAE": _right_atrial,
    "SEHYP": _septal,
}
"""The wavelet change of each code outside MI and STTC (those act by superclass); codes not listed change none."""
MORPHOLOGY_BY_SUPERCLASS = {"MI": _mi, "STTC": _sttc}


def apply_morphology(comp: dict, ph: dict, effects: dict[str, dict]) -> dict:
    """Wavelets changed by the codes (returns a new dict; ``ph`` after :func:`apply_timing`), one step per code in
    the order of ``effects``: MI and STTC codes by superclass, the others by code (:data:`MORPHOLOGY_BY_CODE`)."""
    comp = {k: list(v) for k, v in comp.items()}
    d, d0, m, tm = ph["qrs"], ph["qrs0"], ph["qrs_mag"], ph["t_mag"]
    for code, e in effects.items():
        change = MORPHOLOGY_BY_SUPERCLASS.get(SUPERCLASS_OF[code]) or MORPHOLOGY_BY_CODE.get(code)
        if change is not None:
            change(comp, code, e, e["sev"], d, d0, m, tm, ph)
    return comp
