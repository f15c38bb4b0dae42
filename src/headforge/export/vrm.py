"""The full-body avatar as VRM 1.0 (``avatar.vrm``): the rigged GLB plus the ``VRMC_vrm``
extension, for VTuber and VR apps (three.js: ``@pixiv/three-vrm``).

- humanoid: every VRM bone our Mixamo skeleton has (:data:`headforge.body.rig.VRM_HUMANOID`);
  the rest pose is VRM's T-pose, facing +Z, metres.
- meta: the licence the user chose (``LICENCES``) and the authors.
- expressions, as binds of the head parts' morph targets: happy, angry, sad, surprised from
  our emotion mapping at full intensity (relaxed: happiness at ``RELAXED``); aa, ih, ou, ee, oh
  from the visemes aa, I, U, E, O; blink, blinkLeft, blinkRight; lookUp/Down/Left/Right from
  the ARKit eye actions (lookAt type "expression").
- firstPerson: the head parts and the hair are third-person only.
- spring bones (``VRMC_springBone``, :mod:`headforge.export.springs`): long hair swings on
  joint chains under the Head bone and collides with the head, neck, chest and shoulders.
Meshes are scene roots here (VRM clients do not need them under ``Armature``).
"""
from __future__ import annotations

import numpy as np

from headforge.core.avatar import Avatar
from headforge.body.fullbody import HEAD_PARTS, FullBody
from headforge.body.rig import VRM_HUMANOID
from headforge.emotion.apply import apply_emotions
from headforge.emotion.mapping import load_mapping
from headforge.export.rigged import HAIR_NODE, rigged_builder
from headforge.export.springs import SPRING_BONE, spring_bone_extension
from headforge.hair.cards import DEFAULT_BUDGET

VRM_LICENSE_URL = "https://vrm.dev/licenses/1.0/"
RELAXED = 0.35  # "relaxed": a soft smile
MIN_BIND = 0.01  # binds below this weight are left out
# Licence presets: VRM 1.0 meta permissions.
LICENCES = {
    "personal": {  # only the author may use it as an avatar, personal non-profit use
        "avatarPermission": "onlyAuthor", "commercialUsage": "personalNonProfit", "creditNotation": "required",
        "allowRedistribution": False, "modification": "prohibited"},
    "cc-by-4.0": {
        "avatarPermission": "everyone", "commercialUsage": "corporation", "creditNotation": "required",
        "allowRedistribution": True, "modification": "allowModificationRedistribution",
        "otherLicenseUrl": "https://creativecommons.org/licenses/by/4.0/"},
    "cc0": {
        "avatarPermission": "everyone", "commercialUsage": "corporation", "creditNotation": "unnecessary",
        "allowRedistribution": True, "modification": "allowModificationRedistribution",
        "otherLicenseUrl": "https://creativecommons.org/publicdomain/zero/1.0/"},
}
_EMOTIONS = {"happy": {"happiness": 1.0}, "angry": {"anger": 1.0}, "sad": {"sadness": 1.0},
             "surprised": {"surprise": 1.0}, "relaxed": {"happiness": RELAXED}}
_MIXES = {
    "aa": {"viseme_aa": 1.0}, "ih": {"viseme_I": 1.0}, "ou": {"viseme_U": 1.0}, "ee": {"viseme_E": 1.0},
    "oh": {"viseme_O": 1.0},
    "blink": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, "blinkLeft": {"eyeBlinkLeft": 1.0},
    "blinkRight": {"eyeBlinkRight": 1.0},
    "lookUp": {"eyeLookUpLeft": 1.0, "eyeLookUpRight": 1.0},
    "lookDown": {"eyeLookDownLeft": 1.0, "eyeLookDownRight": 1.0},
    # The avatar's own left: its left eye turns out, its right eye in.
    "lookLeft": {"eyeLookOutLeft": 1.0, "eyeLookInRight": 1.0},
    "lookRight": {"eyeLookInLeft": 1.0, "eyeLookOutRight": 1.0},
}


def vrm_bytes(avatar: Avatar, body: FullBody, licence: str = "personal", authors: list[str] | None = None,
              albedo_png: bytes | None = None, normal_png: bytes | None = None,
              hair_budget: str = DEFAULT_BUDGET) -> bytes:
    """The VRM 1.0 file of the rigged avatar; ``licence``: a key of ``LICENCES``;
    ``hair_budget``: the hair cards', "web" or "high"."""
    if licence not in LICENCES:
        raise ValueError(f"licence must be one of {', '.join(LICENCES)}, not {licence!r}")
    scene = rigged_builder(avatar, body, albedo_png, normal_png, meshes_under_armature=False,
                           hair_budget=hair_budget, hair_springs=True)
    gltf = scene.builder.gltf
    humanoid = {vrm: {"node": scene.bones[body.bone(ours)]} for vrm, ours in VRM_HUMANOID.items()
                if ours in body.bone_names}
    head = body.world[body.bone("Head"), :3, 3]
    eyes = (body.world[body.bone("LeftEye"), :3, 3] + body.world[body.bone("RightEye"), :3, 3]) / 2
    range_map = {"inputMaxValue": 90.0, "outputScale": 1.0}
    third_person = [*HEAD_PARTS, HAIR_NODE]
    gltf.setdefault("extensionsUsed", []).append("VRMC_vrm")
    gltf.setdefault("extensions", {})["VRMC_vrm"] = {
        "specVersion": "1.0",
        "meta": {"name": "headforge avatar", "version": "1", "authors": authors or ["headforge user"],
                 "licenseUrl": VRM_LICENSE_URL, "allowExcessivelyViolentUsage": False,
                 "allowExcessivelySexualUsage": False, "allowPoliticalOrReligiousUsage": False,
                 "allowAntisocialOrHateUsage": False, **LICENCES[licence]},
        "humanoid": {"humanBones": humanoid},
        "firstPerson": {"meshAnnotations": [
            {"node": node, "type": "thirdPersonOnly" if name in third_person else "both"}
            for name, node in scene.meshes.items()]},
        "lookAt": {"type": "expression", "offsetFromHeadBone": [float(v) for v in eyes - head],
                   "rangeMapHorizontalInner": range_map, "rangeMapHorizontalOuter": range_map,
                   "rangeMapVerticalDown": range_map, "rangeMapVerticalUp": range_map},
        "expressions": {"preset": _expressions(body, scene.meshes)},
    }
    if scene.springs is not None:
        gltf["extensionsUsed"].append(SPRING_BONE)
        gltf["extensions"][SPRING_BONE] = spring_bone_extension(body, scene.bones, scene.springs)
    return scene.builder.to_bytes()


def expression_weights() -> dict[str, dict[str, float]]:
    """{VRM preset: {morph target: weight}} (see the module docstring)."""
    mapping = load_mapping()
    out = {}
    for preset, emotions in _EMOTIONS.items():
        actions = apply_emotions(np.zeros(len(mapping.actions)), emotions, keep_expression=False, mapping=mapping)
        out[preset] = {name: float(w) for name, w in zip(mapping.actions, actions) if w >= MIN_BIND}
    return {**out, **_MIXES}


def _expressions(body: FullBody, meshes: dict[str, int]) -> dict:
    """VRM expression presets as morph target binds on every head part with those targets."""
    out = {}
    for preset, weights in expression_weights().items():
        binds = []
        for name in HEAD_PARTS:
            part = body.part(name)
            index = {target: k for k, target in enumerate(part.morph_names)}
            moved = np.abs(part.morph_deltas).max(axis=(1, 2))
            binds += [{"node": meshes[name], "index": index[t], "weight": round(w, 4)}
                      for t, w in weights.items() if moved[index[t]] > 0]
        out[preset] = {"morphTargetBinds": binds, "isBinary": preset.startswith("blink"),
                       "overrideBlink": "block" if preset in _EMOTIONS else "none",
                       "overrideLookAt": "none", "overrideMouth": "none"}
    return out
