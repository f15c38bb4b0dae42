"""Bone names: Ready Player Me/Mixamo (the GLB) and VRM 1.0 humanoid (the VRM).

The skeleton is MakeHuman's Mixamo rig without its ``mixamorig:`` prefix, plus ``LeftEye`` and
``RightEye`` (children of ``Head``, at the eyeball centres), under a root node ``Armature``.
"""
from __future__ import annotations

ARMATURE = "Armature"
EYE_BONES = ("LeftEye", "RightEye")
_PREFIX = "mixamorig:"

# VRM 1.0 humanoid bone -> our bone. Required by VRM: hips, spine, head, upper/lower arms and
# legs, hands, feet.
_FINGERS = {"Thumb": ("ThumbMetacarpal", "ThumbProximal", "ThumbDistal"),
            "Index": ("IndexProximal", "IndexIntermediate", "IndexDistal"),
            "Middle": ("MiddleProximal", "MiddleIntermediate", "MiddleDistal"),
            "Ring": ("RingProximal", "RingIntermediate", "RingDistal"),
            "Pinky": ("LittleProximal", "LittleIntermediate", "LittleDistal")}


def _humanoid() -> dict[str, str]:
    bones = {"hips": "Hips", "spine": "Spine", "chest": "Spine1", "upperChest": "Spine2",
             "neck": "Neck", "head": "Head", "leftEye": "LeftEye", "rightEye": "RightEye"}
    for side, vrm in (("Left", "left"), ("Right", "right")):
        bones.update({f"{vrm}Shoulder": f"{side}Shoulder", f"{vrm}UpperArm": f"{side}Arm",
                      f"{vrm}LowerArm": f"{side}ForeArm", f"{vrm}Hand": f"{side}Hand",
                      f"{vrm}UpperLeg": f"{side}UpLeg", f"{vrm}LowerLeg": f"{side}Leg",
                      f"{vrm}Foot": f"{side}Foot", f"{vrm}Toes": f"{side}ToeBase"})
        for finger, names in _FINGERS.items():
            for k, name in enumerate(names):
                bones[f"{vrm}{name}"] = f"{side}Hand{finger}{k + 1}"
    return bones


VRM_HUMANOID = _humanoid()


def rpm_name(label: str) -> str:
    """MakeHuman's Mixamo bone label -> the Ready Player Me name ("mixamorig:Hips" -> "Hips")."""
    return label[len(_PREFIX):] if label.startswith(_PREFIX) else label
