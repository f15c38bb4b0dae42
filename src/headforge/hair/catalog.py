"""The named procedural hairstyles of the database and their tags.

Tags: length ("bald", "short", "medium", "long", measured on the generated strands: see
:func:`length_tag`), curl
("none", "straight", "wavy", "curly", "coily", from the parameters), fringe (bool) and tied
("loose", "ponytail", "bun").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headforge.hair.generator import HairParams

COLORS = {
    "black": (22, 19, 18), "dark_brown": (48, 32, 24), "brown": (88, 58, 38), "chestnut": (112, 62, 36),
    "auburn": (122, 48, 28), "red": (156, 64, 32), "copper": (176, 92, 48), "dark_blonde": (142, 112, 72),
    "blonde": (204, 170, 112), "platinum": (226, 216, 190), "grey": (142, 140, 138), "white": (216, 214, 208),
}
LENGTHS = ("bald", "short", "medium", "long")
CURLS = ("none", "straight", "wavy", "curly", "coily")
TIES = ("loose", "ponytail", "bun")
SHORT_MAX = 0.07  # metres: short hair is (nearly all) shorter than this
LONG_TIPS = -0.19  # head-frame height (m) of the shoulders: long hair reaches below
LONG_LOOSE = 0.25  # metres: tied hair at least this long when loose is long hair


@dataclass(frozen=True)
class StyleSpec:
    name: str
    params: HairParams
    color: str


def _p(length=None, **kw) -> HairParams:
    """Parameters with one length for every region unless given per region."""
    if length is not None:
        for region in ("fringe", "top", "sides", "back"):
            kw.setdefault(f"length_{region}", length)
    return HairParams(**kw)


_CURLY = dict(curl_radius=0.007, curl_frequency=35, points=48, clumping=0.75, volume=0.014)
_COILY = dict(curl_radius=0.0035, curl_frequency=100, points=64, clumping=0.5, volume=0.02, lift=0.7,
              gravity=0.35, stiffness=0.75, frizz=0.004)
_WAVY = dict(waviness=0.006, wave_frequency=9, points=40)
_SHORT = dict(lift=0.55, stiffness=0.8, volume=0.003)

SPECS = [
    StyleSpec("bald", _p(0.0), "dark_brown"),
    StyleSpec("stubble_short", _p(0.0015, **_SHORT), "black"),
    StyleSpec("buzz_cut", _p(0.005, **_SHORT), "dark_brown"),
    StyleSpec("buzz_fade", _p(length_fringe=0.006, length_top=0.007, length_sides=0.002, length_back=0.002,
                              **_SHORT), "black"),
    StyleSpec("crew_cut", _p(length_fringe=0.03, length_top=0.035, length_sides=0.012, length_back=0.012,
                             **_SHORT), "brown"),
    StyleSpec("ivy_league", _p(length_fringe=0.045, length_top=0.045, length_sides=0.014, length_back=0.014,
                               parting="left", lift=0.35, stiffness=0.7, volume=0.004), "chestnut"),
    StyleSpec("caesar_cut", _p(0.025, fringe=1.0, lift=0.3, stiffness=0.7, volume=0.003), "black"),
    StyleSpec("french_crop", _p(length_fringe=0.04, length_top=0.04, length_sides=0.01, length_back=0.01, fringe=1.0,
                                lift=0.35, stiffness=0.7, volume=0.004), "dark_blonde"),
    StyleSpec("short_spiky", _p(length_fringe=0.045, length_top=0.05, length_sides=0.015, length_back=0.02, lift=0.95,
                                stiffness=0.95, gravity=0.3, volume=0.004, frizz=0.003), "blonde"),
    StyleSpec("faux_hawk", _p(length_fringe=0.05, length_top=0.06, length_sides=0.006, length_back=0.008, lift=1.0,
                              stiffness=1.0, gravity=0.2, volume=0.004), "dark_brown"),
    StyleSpec("quiff", _p(length_fringe=0.08, length_top=0.065, length_sides=0.015, length_back=0.015, lift=0.85,
                          stiffness=0.8, volume=0.012), "brown"),
    StyleSpec("pompadour", _p(length_fringe=0.1, length_top=0.09, length_sides=0.02, length_back=0.025, lift=0.45,
                              stiffness=0.6, volume=0.015, frizz=0.001), "black"),
    StyleSpec("slicked_back", _p(length_fringe=0.09, length_top=0.09, length_sides=0.035, length_back=0.05, lift=0.05,
                                 volume=0.002, stiffness=0.2), "black"),
    StyleSpec("side_part_short", _p(length_fringe=0.055, length_top=0.055, length_sides=0.02, length_back=0.025,
                                    parting="left", lift=0.3, stiffness=0.6, volume=0.004), "brown"),
    StyleSpec("undercut", _p(length_fringe=0.09, length_top=0.085, length_sides=0.004, length_back=0.004, lift=0.4,
                             stiffness=0.6, volume=0.006, parting="right"), "dark_brown"),
    StyleSpec("pixie", _p(length_fringe=0.065, length_top=0.06, length_sides=0.03, length_back=0.03, fringe=0.7,
                          parting="left", lift=0.3, stiffness=0.5, volume=0.006), "auburn"),
    StyleSpec("pixie_curly", _p(length_fringe=0.07, length_top=0.07, length_sides=0.04, length_back=0.04, fringe=0.6,
                                **{**_CURLY, "curl_radius": 0.005, "curl_frequency": 55, "volume": 0.01}), "chestnut"),
    StyleSpec("curly_short", _p(0.06, **{**_CURLY, "curl_radius": 0.005, "curl_frequency": 60}), "dark_brown"),
    StyleSpec("wavy_short", _p(0.065, lift=0.35, stiffness=0.5, volume=0.006, **_WAVY), "dark_blonde"),
    StyleSpec("coily_short", _p(0.03, **_COILY), "black"),
    StyleSpec("afro_short", _p(0.045, **_COILY), "dark_brown"),
    StyleSpec("bowl_cut", _p(0.12, fringe=1.0, cut_height=0.01, volume=0.006, stiffness=0.4), "brown"),
    StyleSpec("mullet", _p(length_fringe=0.05, length_top=0.055, length_sides=0.04, length_back=0.22, lift=0.3,
                           stiffness=0.5, volume=0.006), "dark_blonde"),
    StyleSpec("bob_chin", _p(0.22, parting="centre", cut_height=-0.075, volume=0.008), "dark_brown"),
    StyleSpec("bob_fringe", _p(0.22, length_fringe=0.075, fringe=1.0, cut_height=-0.075, volume=0.008), "black"),
    StyleSpec("bob_side_part", _p(0.22, parting="left", cut_height=-0.085, volume=0.008), "chestnut"),
    StyleSpec("bob_curly", _p(0.18, parting="centre", cut_height=-0.09, **_CURLY), "auburn"),
    StyleSpec("bob_wavy", _p(0.22, parting="right", cut_height=-0.08, **_WAVY), "blonde"),
    StyleSpec("bob_long", _p(0.26, parting="centre", cut_height=-0.115, volume=0.008), "brown"),
    StyleSpec("lob_wavy", _p(0.28, parting="left", cut_height=-0.13, **_WAVY), "copper"),
    StyleSpec("shag", _p(length_fringe=0.1, length_top=0.12, length_sides=0.16, length_back=0.18, fringe=0.6,
                         waviness=0.004, wave_frequency=11, points=40, volume=0.014, lift=0.45), "dark_blonde"),
    StyleSpec("medium_straight", _p(0.19, parting="centre", volume=0.006), "brown"),
    StyleSpec("medium_wavy", _p(0.19, parting="left", **_WAVY), "chestnut"),
    StyleSpec("medium_curly", _p(0.16, **_CURLY), "dark_brown"),
    StyleSpec("curtain_bangs", _p(0.2, length_fringe=0.11, parting="centre", fringe=0.5, volume=0.008), "blonde"),
    StyleSpec("side_swept", _p(0.17, length_fringe=0.14, parting="right", fringe=0.4, volume=0.008), "red"),
    StyleSpec("surfer", _p(0.13, lift=0.2, stiffness=0.3, volume=0.008, waviness=0.005, wave_frequency=12,
                           points=40), "platinum"),
    StyleSpec("afro", _p(0.1, **{**_COILY, "volume": 0.03}), "black"),
    StyleSpec("coily_medium", _p(0.14, **{**_COILY, "lift": 0.4, "gravity": 0.65, "stiffness": 0.5}),
              "dark_brown"),
    StyleSpec("shoulder_length", _p(0.26, parting="centre", cut_height=-0.15, volume=0.007), "grey"),
    StyleSpec("long_straight", _p(0.4, parting="centre", volume=0.006), "dark_brown"),
    StyleSpec("long_straight_fringe", _p(0.4, length_fringe=0.075, fringe=1.0, volume=0.006), "black"),
    StyleSpec("long_side_part", _p(0.38, parting="left", volume=0.007), "chestnut"),
    StyleSpec("long_wavy", _p(0.4, parting="centre", **{**_WAVY, "waviness": 0.009, "points": 48}), "brown"),
    StyleSpec("long_wavy_fringe", _p(0.38, length_fringe=0.08, fringe=1.0,
                                     **{**_WAVY, "waviness": 0.008, "points": 48}), "dark_blonde"),
    StyleSpec("beach_waves", _p(0.34, parting="right", waviness=0.013, wave_frequency=7, points=48, volume=0.01),
              "blonde"),
    StyleSpec("long_curly", _p(0.34, parting="centre", **{**_CURLY, "curl_radius": 0.009, "curl_frequency": 26,
                                                           "points": 64}), "auburn"),
    StyleSpec("long_curly_fringe", _p(0.32, length_fringe=0.09, fringe=1.0, **{**_CURLY, "points": 64}), "dark_brown"),
    StyleSpec("long_coily", _p(0.2, **{**_COILY, "lift": 0.35, "gravity": 0.85, "stiffness": 0.35,
                                       "volume": 0.02}), "black"),
    StyleSpec("long_layered", _p(length_fringe=0.18, length_top=0.3, length_sides=0.32, length_back=0.4, parting="left",
                                 volume=0.01), "copper"),
    StyleSpec("long_blunt", _p(0.45, parting="centre", cut_height=-0.22, volume=0.005), "black"),
    StyleSpec("very_long", _p(0.55, parting="centre", volume=0.006, points=40), "dark_brown"),
    StyleSpec("long_grey", _p(0.36, parting="left", volume=0.007, waviness=0.003, wave_frequency=8, points=40),
              "white"),
    StyleSpec("ponytail_high", _p(0.3, tie="ponytail", tie_height=0.85, tail_length=0.26), "brown"),
    StyleSpec("ponytail_mid", _p(0.3, tie="ponytail", tie_height=0.5, tail_length=0.3), "blonde"),
    StyleSpec("ponytail_low", _p(0.3, tie="ponytail", tie_height=0.15, tail_length=0.28), "dark_brown"),
    StyleSpec("ponytail_short", _p(0.2, tie="ponytail", tie_height=0.4, tail_length=0.1), "red"),
    StyleSpec("ponytail_wavy", _p(0.3, tie="ponytail", tie_height=0.6, tail_length=0.3, waviness=0.008,
                                  wave_frequency=9, points=48), "chestnut"),
    StyleSpec("ponytail_curly", _p(0.3, tie="ponytail", tie_height=0.6, tail_length=0.22, curl_radius=0.008,
                                   curl_frequency=30, points=64, clumping=0.75), "dark_brown"),
    StyleSpec("bun_top", _p(0.3, tie="bun", tie_height=1.0, tail_length=0.04), "dark_brown"),
    StyleSpec("bun_mid", _p(0.3, tie="bun", tie_height=0.55, tail_length=0.035), "blonde"),
    StyleSpec("bun_low", _p(0.3, tie="bun", tie_height=0.12, tail_length=0.035), "black"),
    StyleSpec("bun_messy", _p(0.3, tie="bun", tie_height=0.85, tail_length=0.042, frizz=0.006, waviness=0.004,
                              wave_frequency=14, points=40), "copper"),
    StyleSpec("afro_puff", _p(0.2, tie="bun", tie_height=0.95, tail_length=0.05, curl_radius=0.003, curl_frequency=120,
                              points=48, clumping=0.85, frizz=0.004), "black"),
]


def spec(name: str) -> StyleSpec:
    """The catalogue entry ``name`` (KeyError if none)."""
    for s in SPECS:
        if s.name == name:
            return s
    raise KeyError(name)


def length_tag(strands: np.ndarray) -> str:
    """Length tag of (N, P, 3) loose strands (head frame, metres): "short" when nearly all
    strands are under ``SHORT_MAX`` long, else "long" when the lowest tenth of the tips
    hang below ``LONG_TIPS`` (the shoulders), else "medium"; "bald" without strands."""
    if not len(strands):
        return "bald"
    lengths = np.linalg.norm(np.diff(strands, axis=1), axis=2).sum(1)
    if np.quantile(lengths, 0.9) < SHORT_MAX:
        return "short"
    return "long" if np.quantile(strands[:, -1, 1], 0.1) < LONG_TIPS else "medium"


def style_tags(params: HairParams, strands: np.ndarray) -> dict:
    """Tags of a procedural style from its parameters and its (N, P, 3) guide strands. A tied
    style is as long as its hair would be loose (its longest region length)."""
    if params.bald or not len(strands):
        length = "bald"
    elif params.tie != "none":
        loose = max(params.length_fringe, params.length_top, params.length_sides, params.length_back)
        length = "long" if loose >= LONG_LOOSE else "medium"
    else:
        length = length_tag(strands)
    if params.bald:
        curl = "none"
    elif params.curl_radius > 0:
        curl = "coily" if params.curl_radius <= 0.004 and params.curl_frequency >= 80 else "curly"
    else:
        curl = "wavy" if params.waviness > 0 else "straight"
    tied = "loose" if params.tie == "none" else params.tie
    return {"length": length, "curl": curl, "fringe": params.fringe > 0 and tied == "loose", "tied": tied}
