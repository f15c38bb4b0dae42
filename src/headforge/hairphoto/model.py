"""The image-to-hair network: a small CNN from the hair mask + orientation field + face
placement (:mod:`headforge.hairphoto.features`) and the head's yaw and pitch to the style
parameters (:mod:`headforge.hairphoto.styles`).

Five 3x3 convolutions (the first four strided: 64 -> 4 px), a fully connected layer that also sees the pose,
and one output per regressed value (a sigmoid: [0, 1]) and per class of each class head.
Its weights ship as float16 arrays in ``data/hair_cnn.npz`` (``scripts/train_hair.py``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from headforge.errors import ModelError
from headforge.hairphoto.features import CHANNELS, INPUT_SIZE
from headforge.hairphoto.styles import CLASS_HEADS, REGRESSED

WEIGHTS_PATH = Path(__file__).parent / "data" / "hair_cnn.npz"
WIDTHS = (24, 32, 48, 64, 96)
STRIDES = (2, 2, 2, 2, 1)
HIDDEN = 128
POSE_SCALE = 45.0  # degrees -> network units


class HairNet(nn.Module):
    """x: (B, C, 64, 64), pose: (B, 2) yaw, pitch in degrees -> (B, R + sum of classes)."""

    def __init__(self) -> None:
        super().__init__()
        layers, c = [], len(CHANNELS)
        for w, stride in zip(WIDTHS, STRIDES):
            layers += [nn.Conv2d(c, w, 3, stride=stride, padding=1), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        self.features = nn.Sequential(*layers)
        side = INPUT_SIZE // int(np.prod(STRIDES))
        self.hidden = nn.Sequential(nn.Linear(c * side * side + 2, HIDDEN), nn.ReLU(), nn.Dropout(0.3))
        self.out = nn.Linear(HIDDEN, len(REGRESSED) + sum(len(v) for v in CLASS_HEADS.values()))

    def forward(self, x: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        f = self.features(x).flatten(1)
        return self.out(self.hidden(torch.cat([f, pose / POSE_SCALE], 1)))


@dataclass
class Prediction:
    """values: (R,) regressed values in [0, 1]; classes: head -> class index;
    probabilities: head -> (K,) class probabilities."""

    values: np.ndarray
    classes: dict[str, int]
    probabilities: dict[str, np.ndarray]


def split_output(out: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(B, R + K) network output -> (B, R) values in [0, 1] and head -> (B, K) logits."""
    r = len(REGRESSED)
    values = torch.sigmoid(out[:, :r])
    logits, at = {}, r
    for name, classes in CLASS_HEADS.items():
        logits[name] = out[:, at:at + len(classes)]
        at += len(classes)
    return values, logits


def save_weights(net: HairNet, path: Path, meta: dict) -> None:
    """Write the network's state as float16 arrays (plus ``meta`` as strings) to ``path``."""
    arrays = {k: v.detach().cpu().numpy().astype(np.float16) for k, v in net.state_dict().items()
              if v.dtype.is_floating_point}
    arrays.update({f"meta/{k}": np.array(str(v)) for k, v in meta.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


@lru_cache(maxsize=1)
def load_model(path: Path = WEIGHTS_PATH) -> HairNet:
    """The trained network in evaluation mode (raises ModelError when the file is missing)."""
    net = HairNet()
    try:
        with np.load(path) as z:
            state = {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files if not k.startswith("meta/")}
    except (OSError, KeyError, ValueError) as e:
        raise ModelError(f"hair model {path} is missing or unreadable ({e}); run scripts/train_hair.py") from e
    for k, v in net.state_dict().items():
        if not v.dtype.is_floating_point:
            state[k] = v
    net.load_state_dict(state)
    return net.eval()


def predict(x: np.ndarray, pose: np.ndarray, net: HairNet | None = None) -> Prediction:
    """The style prediction for one (C, 64, 64) input and (2,) yaw, pitch in degrees."""
    net = net or load_model()
    with torch.no_grad():
        out = net(torch.from_numpy(np.ascontiguousarray(x, np.float32))[None],
                  torch.tensor(np.asarray(pose, np.float32))[None])
    values, logits = split_output(out)
    probs = {k: torch.softmax(v, 1)[0].numpy() for k, v in logits.items()}
    return Prediction(values[0].numpy(), {k: int(p.argmax()) for k, p in probs.items()}, probs)
