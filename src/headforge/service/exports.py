"""Re-exports: the same fitted head with other emotions or another hairstyle, no re-fit.

An export is named by a hash of what it asks for, so asking twice costs nothing the second
time. Its GLB is made at once (the textures are already encoded; a named hairstyle is grown
and fitted to the head), its zip when first downloaded. ``max_strands`` lightens the hair of
the GLB for an on-screen preview (a style grown with that many strands, the photo's hair
thinned); the zip always holds every strand.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from headforge.core.avatar import Avatar
from headforge.emotion import EMOTIONS, with_emotions
from headforge.emotion.mapping import intensity_vector
from headforge.export.gltf import glb_bytes
from headforge.hair.cards import DEFAULT_BUDGET, card_budget
from headforge.core.strands import Hairstyle
from headforge.service import hair as hair_styles
from headforge.service.errors import NotReadyError
from headforge.service.layout import export_key, result_key
from headforge.service.results import Textures, load_head, zip_bytes
from headforge.service.storage import Store
from headforge.texture.scalp import worn_albedo


@dataclass(frozen=True)
class ExportSpec:
    """emotions: {name: intensity} (validated, zeros dropped); hair: auto, none or a style id;
    keep_expression: start from the photo's expression (False: neutral); max_strands: at most
    this many hair strands in the GLB (None: all); hair_cards: the budget of the GLB's hair
    cards, "web" or "high" (:data:`headforge.hair.cards.BUDGETS`)."""

    emotions: dict[str, float]
    hair: str
    keep_expression: bool
    max_strands: int | None = None
    hair_cards: str = DEFAULT_BUDGET

    @classmethod
    def make(cls, emotions: dict[str, float], hair: str, keep_expression: bool,
             max_strands: int | None = None, hair_cards: str = DEFAULT_BUDGET) -> ExportSpec:
        x = intensity_vector(emotions)  # raises EmotionError
        clean = {name: round(float(v), 4) for name, v in zip(EMOTIONS, x) if v > 0}
        card_budget(hair_cards)  # raises ValueError
        return cls(clean, hair_styles.check_choice(hair), keep_expression, max_strands, hair_cards)

    @property
    def id(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def create_export(store: Store, job_id: str, spec: ExportSpec) -> str:
    """Make (or find) the export's GLB; returns the export id."""
    key = export_key(job_id, spec.id, "avatar.glb")
    if not store.exists(key):
        avatar, textures = _posed_head(store, job_id, spec, preview=False)
        if spec.max_strands and avatar.hair is not None and avatar.hair.count > spec.max_strands:
            avatar = dataclasses.replace(avatar, hair=_thinned(avatar.hair, spec.max_strands))
        store.put(export_key(job_id, spec.id, "spec.json"), json.dumps(asdict(spec)).encode())
        worn = textures.albedo if worn_albedo(avatar) is avatar.albedo else None  # stored bare: painted under hair
        store.put(key, glb_bytes(avatar, worn, textures.normal, spec.hair_cards))
    return spec.id


def export_zip(store: Store, job_id: str, export_id: str) -> bytes | None:
    """The export's zip (made on first request); None for an unknown export."""
    key = export_key(job_id, export_id, "avatar.zip")
    data = store.get(key)
    if data is None:
        raw = store.get(export_key(job_id, export_id, "spec.json"))
        if raw is None:
            return None
        spec = ExportSpec(**json.loads(raw))
        avatar, _ = _posed_head(store, job_id, spec, preview=True)
        data = zip_bytes(avatar, spec.hair_cards)
        store.put(key, data)
    return data


def _posed_head(store: Store, job_id: str, spec: ExportSpec, preview: bool) -> tuple[Avatar, Textures]:
    """The stored head with the export's emotions and hair; ``preview``: keep (and re-render
    with the hair) the preview, which only the zip holds; without it a tried-on style is
    grown with at most ``spec.max_strands`` strands (the GLB's)."""
    data = store.get(result_key(job_id, "head.npz"))
    if data is None:
        raise NotReadyError("this job has no fitted head to re-export (not finished, failed or deleted)")
    avatar, textures = load_head(data)
    if not preview:
        avatar = dataclasses.replace(avatar, preview=None)
    avatar = with_emotions(avatar, spec.emotions, spec.keep_expression)
    return hair_styles.with_hair(avatar, spec.hair, None if preview else spec.max_strands), textures


def _thinned(hair: Hairstyle, count: int) -> Hairstyle:
    """``count`` of the strands, evenly spread over the style's order."""
    keep = np.linspace(0, hair.count - 1, count).astype(int)
    return dataclasses.replace(hair, strands=hair.strands[keep], root_face=hair.root_face[keep],
                               root_bary=hair.root_bary[keep], colors=hair.colors[keep])
