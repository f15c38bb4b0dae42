"""EMOCA (Danecek et al. 2022, "EMOCA: Emotion Driven Monocular Face Capture and Animation"):
DECA with a second ResNet-50 encoder trained for expression. Its 50 expression coefficients
replace DECA's; everything else is DECA's path (:mod:`headforge.backends.deca`).

An EMOCA checkpoint (``.ckpt``, PyTorch Lightning) holds ``state_dict`` with the keys
``deca.E_flame.*``, ``deca.E_expression.*`` (same layout as ``E_flame``, 50 outputs),
``deca.E_detail.*`` and ``deca.D_detail.*``, beside its training configuration (omegaconf /
Lightning objects, loaded as None without importing them). A checkpoint without ``E_flame``
takes DECA's from ``deca_model.tar`` when that file is there.
"""
from __future__ import annotations

from pathlib import Path

from headforge.backends.deca import CONFIG_MODULES, DecaEncoder, encoder_from_modules
from headforge.backends.pickle_safe import load_checkpoint


def read_emoca_modules(path: Path) -> dict[str, dict]:
    """{network name: state dict} of an EMOCA checkpoint (``deca.`` prefixes dropped)."""
    ckpt = load_checkpoint(path, ignore=CONFIG_MODULES)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError("holds no state_dict")
    modules: dict[str, dict] = {}
    for key, value in state.items():
        name, _, rest = key.removeprefix("deca.").partition(".")
        if name in ("E_flame", "E_expression", "E_detail", "D_detail"):
            modules.setdefault(name, {})[rest] = value
    if "E_expression" not in modules:
        raise KeyError("deca.E_expression (the expression encoder)")
    return modules


def read_emoca(path: Path, deca: Path | None = None, fixed_displacement: Path | None = None,
               uv_mask: Path | None = None) -> DecaEncoder:
    """EMOCA's encoders; ``E_flame`` (and the detail networks) from ``deca`` when the EMOCA
    checkpoint lacks them."""
    modules = read_emoca_modules(path)
    if deca is not None and "E_flame" not in modules:
        modules = {**load_checkpoint(deca, ignore=CONFIG_MODULES), **modules}
    if "E_flame" not in modules:
        raise KeyError("deca.E_flame (the coarse encoder; or put deca_model.tar beside it)")
    return encoder_from_modules(modules, fixed_displacement, uv_mask, "emoca")
