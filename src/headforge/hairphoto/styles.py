"""The hairstyles the photo model knows: a prior over the generator's parameters
(:class:`headforge.hair.generator.HairParams`) and the vector the network predicts.

What a photo can show is predicted: the length class, the four region lengths (log metres),
fringe, volume, curl and wave amplitudes, lift, the parting and a tie. The rest (curl and
wave frequencies, stiffness, frizz, clumping, strand counts) keeps typical values.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from headforge.hair.catalog import style_tags
from headforge.hair.generator import HairParams

LENGTH_CLASSES = ("bald", "buzz", "short", "medium", "long")
PARTINGS = ("none", "left", "centre", "right")
TIES = ("none", "ponytail", "bun")
CLASS_HEADS = {"length": LENGTH_CLASSES, "parting": PARTINGS, "tie": TIES}
# Regressed values: name, and the (lo, hi) range they are scaled from to [0, 1].
REGRESSED = (
    ("log_fringe", (np.log(0.004), np.log(0.5))),
    ("log_top", (np.log(0.004), np.log(0.5))),
    ("log_sides", (np.log(0.004), np.log(0.5))),
    ("log_back", (np.log(0.004), np.log(0.55))),
    ("fringe", (0.0, 1.0)),
    ("volume", (0.0, 0.03)),
    ("curl_radius", (0.0, 0.015)),
    ("waviness", (0.0, 0.012)),
    ("lift", (0.0, 1.0)),
)
# Length ranges (m) per class: (fringe, top, sides, back) low and high.
_LENGTHS = {
    "buzz": ((0.005, 0.005, 0.004, 0.004), (0.02, 0.02, 0.015, 0.015)),
    "short": ((0.02, 0.04, 0.02, 0.03), (0.09, 0.10, 0.07, 0.08)),
    "medium": ((0.05, 0.10, 0.10, 0.10), (0.20, 0.20, 0.20, 0.22)),
    "long": ((0.06, 0.20, 0.22, 0.25), (0.40, 0.45, 0.45, 0.50)),
}
_CLASS_PRIOR = (0.06, 0.12, 0.27, 0.25, 0.30)
# Typical values of what is not predicted (and the strand budget of a finished style).
CURL_FREQUENCY = 25.0
WAVE_FREQUENCY = 9.0


def bald(**budget) -> HairParams:
    """The bald style (no strands); ``budget``: guides, points, count."""
    return HairParams(length_fringe=0, length_top=0, length_sides=0, length_back=0, **budget)


def sample_style(rng: np.random.Generator, guides: int = 300, points: int = 24, count: int = 4000) -> HairParams:
    """A random hairstyle from the prior (bald, buzz, short, medium, long in proportions
    ``_CLASS_PRIOR``; partings, fringes, curls, waves and ties among them)."""
    kind = LENGTH_CLASSES[rng.choice(len(LENGTH_CLASSES), p=_CLASS_PRIOR)]
    budget = dict(guides=guides, points=points, count=count)
    if kind == "bald":
        return bald(**budget)
    lo, hi = (np.array(v) for v in _LENGTHS[kind])
    lengths = np.exp(rng.uniform(np.log(lo), np.log(hi)))
    long_enough = kind in ("medium", "long")
    tie = TIES[rng.choice(3, p=(0.8, 0.13, 0.07))] if long_enough else "none"
    parting = PARTINGS[rng.choice(4, p=(0.4, 0.2, 0.2, 0.2) if long_enough else (0.7, 0.12, 0.06, 0.12))]
    curly = rng.random() < 0.15 and kind != "buzz"
    wavy = not curly and rng.random() < 0.25 and long_enough
    return HairParams(
        length_fringe=float(lengths[0]), length_top=float(lengths[1]), length_sides=float(lengths[2]),
        length_back=float(lengths[3]), parting=parting,
        fringe=float(rng.uniform(0.3, 1.0)) if rng.random() < 0.4 and kind != "buzz" else 0.0,
        curl_radius=float(rng.uniform(0.004, 0.015)) if curly else 0.0,
        curl_frequency=CURL_FREQUENCY * float(rng.uniform(0.7, 1.4)) if curly else 0.0,
        waviness=float(rng.uniform(0.003, 0.012)) if wavy else 0.0,
        wave_frequency=WAVE_FREQUENCY * float(rng.uniform(0.7, 1.4)),
        volume=float(rng.uniform(0.002, 0.03)) if kind != "buzz" else 0.002,
        lift=float(rng.uniform(0.05, 0.7)),
        gravity=float(rng.uniform(0.7, 1.0)),
        stiffness=float(rng.uniform(0.1, 0.5)),
        tie=tie, tie_height=float(rng.uniform(0.2, 0.8)),
        tail_length=float(rng.uniform(0.1, 0.3)) if tie == "ponytail" else float(rng.uniform(0.03, 0.05)),
        frizz=float(rng.uniform(0.001, 0.004)), clumping=float(rng.uniform(0.1, 0.6)),
        **budget,
    )


def length_class(params: HairParams) -> str:
    """The length class of a style: bald (no hair), buzz (nothing over 2.5 cm), else by the
    hair that hangs (the longer of the sides and the back; a long top alone is a short cut):
    short under 10 cm, medium up to 22 cm, long beyond."""
    longest = max(params.length_fringe, params.length_top, params.length_sides, params.length_back)
    if longest <= 0:
        return "bald"
    if longest <= 0.025:
        return "buzz"
    hanging = max(params.length_sides, params.length_back)
    if hanging < 0.10:
        return "short"
    return "medium" if hanging <= 0.22 else "long"


def curl_class(params: HairParams) -> str:
    """The library's curl tag of a style (:func:`headforge.hair.catalog.style_tags`): none
    (bald), straight, wavy, curly or coily."""
    return style_tags(params, np.zeros((0, 2, 3)))["curl"]


def encode(params: HairParams) -> tuple[np.ndarray, dict[str, int]]:
    """(len(REGRESSED),) float32 targets scaled to [0, 1] (lengths of a bald style at the
    bottom of their range) and the class index of each head in ``CLASS_HEADS``."""
    raw = {
        "log_fringe": np.log(max(params.length_fringe, 0.004)),
        "log_top": np.log(max(params.length_top, 0.004)),
        "log_sides": np.log(max(params.length_sides, 0.004)),
        "log_back": np.log(max(params.length_back, 0.004)),
        "fringe": params.fringe, "volume": params.volume, "curl_radius": params.curl_radius,
        "waviness": params.waviness, "lift": params.lift,
    }
    values = np.array([(raw[name] - lo) / (hi - lo) for name, (lo, hi) in REGRESSED], np.float32)
    classes = {"length": LENGTH_CLASSES.index(length_class(params)), "parting": PARTINGS.index(params.parting),
               "tie": TIES.index(params.tie)}
    return values, classes


def decode(values: np.ndarray, classes: dict[str, int], guides: int = 600, points: int = 32,
           count: int = 10000) -> HairParams:
    """The style for predicted ``values`` (scaled, see :func:`encode`) and class indices.
    A bald class gives a bald style; lengths are kept inside their class's range (the
    regressed lengths of an uncertain photo fall between classes: the class decides)."""
    v = {name: lo + float(np.clip(x, 0, 1)) * (hi - lo) for (name, (lo, hi)), x in zip(REGRESSED, values)}
    kind = LENGTH_CLASSES[classes["length"]]
    budget = dict(guides=guides, points=points, count=count)
    if kind == "bald":
        return bald(**budget)
    lo, hi = (np.array(x) for x in _LENGTHS[kind])
    lengths = np.exp([v["log_fringe"], v["log_top"], v["log_sides"], v["log_back"]])
    lengths = np.clip(lengths, lo, hi)
    tie = TIES[classes["tie"]] if kind in ("medium", "long") else "none"
    curl = v["curl_radius"] if v["curl_radius"] > 0.003 else 0.0
    wave = v["waviness"] if v["waviness"] > 0.002 else 0.0
    return HairParams(
        length_fringe=float(lengths[0]), length_top=float(lengths[1]), length_sides=float(lengths[2]),
        length_back=float(lengths[3]), parting=PARTINGS[classes["parting"]],
        fringe=float(v["fringe"]) if v["fringe"] > 0.15 else 0.0,
        curl_radius=curl, curl_frequency=CURL_FREQUENCY if curl else 0.0, waviness=wave,
        wave_frequency=WAVE_FREQUENCY, volume=float(v["volume"]), lift=float(np.clip(v["lift"], 0, 1)),
        tie=tie, tail_length=0.2 if tie == "ponytail" else 0.04, **budget,
    )


def lengthened(params: HairParams, kind: str) -> HairParams:
    """``params`` with each region length at least the shortest of the class ``kind``."""
    lo = _LENGTHS[kind][0]
    return replace(params, length_fringe=max(params.length_fringe, lo[0]), length_top=max(params.length_top, lo[1]),
                   length_sides=max(params.length_sides, lo[2]), length_back=max(params.length_back, lo[3]))


def scaled(params: HairParams, length: float = 1.0, volume: float = 1.0) -> HairParams:
    """``params`` with every region length times ``length`` and the volume times ``volume``."""
    return replace(params, length_fringe=params.length_fringe * length, length_top=params.length_top * length,
                   length_sides=params.length_sides * length, length_back=params.length_back * length,
                   volume=params.volume * volume)
