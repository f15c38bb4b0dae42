"""DECA (Feng et al. 2021, "Learning an animatable detailed 3D face model from in-the-wild
images") on the CPU: its coarse encoder regresses FLAME parameters from the face crop, the FLAME
landmark fit refines them, and its detail networks, when present, give a UV displacement map.

``deca_model.tar`` (a torch checkpoint, read with ``torch.load(weights_only=True)``) holds one
state dict per network, with the key names of DECA's code:

- ``E_flame``: ResNet-50 features (``encoder.conv1`` ... ``encoder.layer4``, global average
  pool: 2048 values) -> ``layers.0`` Linear 2048 -> 1024, ReLU, ``layers.2`` Linear 1024 -> 236
  = 100 shape + 50 texture + 50 expression + 6 pose (global, jaw) + 3 camera + 27 light;
- ``E_detail``: the same architecture -> 128 detail codes;
- ``D_detail``: ``l1.0`` Linear (3 jaw + 50 expression + 128 detail) -> 128 x 8 x 8, then
  ``conv_blocks``: batch norm, five (upsample x2, 3x3 conv, batch norm (eps 0.8), leaky ReLU),
  a 3x3 conv to one channel and tanh, times 0.01: a 256 x 256 displacement map in FLAME's UV
  layout (metres along the normal), plus ``fixed_displacement_256.npy`` where present.

Layer widths are read from the checkpoint, so any ResNet-50-shaped checkpoint loads. Input: the
224 x 224 RGB crop in [0, 1] of DECA's protocol (:func:`deca_crop`).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from headforge.backends.flame_files import MEDIAPIPE_IBUG68
from headforge.backends.flame_fit import FlameInit
from headforge.backends.pickle_safe import load_checkpoint
from headforge.detection.landmarks import FaceLandmarks

# Training-configuration modules a checkpoint may pickle beside its weights (yacs / argparse in
# DECA's code, omegaconf / Lightning in EMOCA's): loaded as None, never imported.
CONFIG_MODULES = ("yacs", "argparse", "omegaconf", "pytorch_lightning", "lightning", "lightning_fabric", "typing",
                  "pathlib", "decalib", "gdl")
CROP = 224
CROP_SCALE = 1.25
PARAMS = (("shape", 100), ("tex", 50), ("exp", 50), ("pose", 6), ("cam", 3), ("light", 27))
DETAIL_SCALE = 0.01


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1, 3x3 (stride), 1x1 convolutions with batch norms, plus the input
    (through ``downsample`` when the shape changes)."""

    def __init__(self, inplanes: int, planes: int, out: int, stride: int, downsample: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                        nn.BatchNorm2d(out)) if downsample else None

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + (x if self.downsample is None else self.downsample(x)))


class ResNetFeatures(nn.Module):
    """ResNet-50 trunk without its classifier: (B, 3, 224, 224) -> (B, C) pooled features.
    ``layers``: per stage, (number of blocks, bottleneck width, output width)."""

    def __init__(self, stem: int, layers: list[tuple[int, int, int]]):
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = stem
        for i, (blocks, planes, out) in enumerate(layers, 1):
            stage = []
            for b in range(blocks):
                stride = 2 if b == 0 and i > 1 else 1
                stage.append(Bottleneck(inplanes, planes, out, stride, downsample=b == 0))
                inplanes = out
            setattr(self, f"layer{i}", nn.Sequential(*stage))
        self.n_layers = len(layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(1, self.n_layers + 1):
            x = getattr(self, f"layer{i}")(x)
        return x.mean((2, 3))


class ResnetEncoder(nn.Module):
    """DECA's encoder: ``encoder`` (ResNet-50 features) -> ``layers`` (Linear, ReLU, Linear)."""

    def __init__(self, stem: int, layers: list[tuple[int, int, int]], hidden: int, out: int):
        super().__init__()
        self.encoder = ResNetFeatures(stem, layers)
        self.layers = nn.Sequential(nn.Linear(layers[-1][2], hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, x):
        return self.layers(self.encoder(x))

    @classmethod
    def from_state_dict(cls, state: dict) -> ResnetEncoder:
        """The encoder with the widths, block counts and output size of ``state``, loaded."""
        layers = []
        for i in range(1, 5):
            blocks = {int(k.split(".")[2]) for k in state if k.startswith(f"encoder.layer{i}.")}
            if not blocks:
                raise KeyError(f"encoder.layer{i}")
            w1, w3 = state[f"encoder.layer{i}.0.conv1.weight"], state[f"encoder.layer{i}.0.conv3.weight"]
            layers.append((max(blocks) + 1, w1.shape[0], w3.shape[0]))
        hidden, out = state["layers.0.weight"].shape[0], state["layers.2.weight"].shape[0]
        with torch.device("meta"):  # no random initialisation: every weight comes from ``state``
            net = cls(state["encoder.conv1.weight"].shape[0], layers, hidden, out)
        return _loaded(net, state)


class DetailGenerator(nn.Module):
    """DECA's ``D_detail``: (B, latent) -> (B, 1, 32 * init, 32 * init) displacement."""

    def __init__(self, latent: int, channels: list[int], init: int):
        super().__init__()
        self.init, self.c0 = init, channels[0]
        self.l1 = nn.Sequential(nn.Linear(latent, channels[0] * init * init))
        blocks: list[nn.Module] = [nn.BatchNorm2d(channels[0])]
        for cin, cout in zip(channels[:-2], channels[1:-1]):
            blocks += [nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(cin, cout, 3, padding=1),
                       nn.BatchNorm2d(cout, 0.8), nn.LeakyReLU(0.2, inplace=True)]
        blocks += [nn.Conv2d(channels[-2], channels[-1], 3, padding=1), nn.Tanh()]
        self.conv_blocks = nn.Sequential(*blocks)

    def forward(self, z):
        x = self.l1(z).view(z.shape[0], self.c0, self.init, self.init)
        return self.conv_blocks(x) * DETAIL_SCALE

    @classmethod
    def from_state_dict(cls, state: dict) -> DetailGenerator:
        convs = sorted(int(k.split(".")[1]) for k in state if k.startswith("conv_blocks.") and k.endswith(".weight")
                       and state[k].ndim == 4)
        channels = [state[f"conv_blocks.{convs[0]}.weight"].shape[1]] + [state[f"conv_blocks.{i}.weight"].shape[0] for i in convs]
        latent = state["l1.0.weight"].shape[1]
        init = int(round((state["l1.0.weight"].shape[0] / channels[0]) ** 0.5))
        with torch.device("meta"):
            net = cls(latent, channels, init)
        return _loaded(net, state)


def _loaded(net: nn.Module, state: dict) -> nn.Module:
    """``net`` (built on the meta device) with ``state``'s tensors, in eval mode; ValueError when
    a tensor is missing (batch-norm step counters may be), extra or of another shape."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    result = net.load_state_dict(state, strict=False, assign=True)
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise ValueError(f"layout differs from DECA's: missing {missing[:3]}, unexpected {result.unexpected_keys[:3]}")
    for module in net.modules():  # absent step counters: unused in eval mode
        if isinstance(module, nn.BatchNorm2d) and module.num_batches_tracked.is_meta:
            module.num_batches_tracked = torch.tensor(0)
    return net.eval()


def deca_crop(image: np.ndarray, face: FaceLandmarks) -> torch.Tensor:
    """(1, 3, 224, 224) float crop in [0, 1]: DECA's landmark protocol -- the square of
    1.25 x 1.1 x the mean side of the 68 landmarks' box, centred on the box."""
    kpt = face.points[MEDIAPIPE_IBUG68, :2]
    (left, top), (right, bottom) = kpt.min(0), kpt.max(0)
    size = int((right - left + bottom - top) / 2 * 1.1 * CROP_SCALE)
    centre = np.array([(left + right) / 2, (top + bottom) / 2])
    s = (CROP - 1) / size
    x0, y0 = centre - size / 2
    m = np.array([[s, 0, -s * x0], [0, s, -s * y0]])
    crop = cv2.warpAffine(image, m, (CROP, CROP), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return torch.from_numpy(crop.astype(np.float32) / 255).permute(2, 0, 1)[None].contiguous()


def split_params(values: torch.Tensor) -> dict[str, np.ndarray]:
    """DECA's (236,) output -> {name: (n,) array} in ``PARAMS`` order."""
    out, start = {}, 0
    for name, n in PARAMS:
        out[name] = values[start:start + n].numpy()
        start += n
    return out


class DecaEncoder:
    """Face crop -> :class:`FlameInit`: shape, expression and jaw from ``e_flame`` (the
    expression from ``e_expression`` when given: EMOCA), and the displacement map when both
    detail networks are given (times ``uv_mask``, plus ``fixed_displacement``, as DECA does)."""

    def __init__(self, e_flame: ResnetEncoder, e_expression: ResnetEncoder | None = None,
                 e_detail: ResnetEncoder | None = None, d_detail: DetailGenerator | None = None,
                 fixed_displacement: np.ndarray | None = None, uv_mask: np.ndarray | None = None, source: str = "deca"):
        out = e_flame.layers[2].out_features
        if out != sum(n for _, n in PARAMS):
            raise ValueError(f"E_flame gives {out} values, DECA's layout has {sum(n for _, n in PARAMS)}")
        self.e_flame, self.e_expression = e_flame, e_expression
        self.e_detail, self.d_detail = e_detail, d_detail
        self.fixed_displacement, self.uv_mask = fixed_displacement, uv_mask
        self.source = source

    def __call__(self, image: np.ndarray, face: FaceLandmarks) -> FlameInit:
        crop = deca_crop(image, face)
        with torch.no_grad():
            p = split_params(self.e_flame(crop)[0])
            if self.e_expression is not None:
                p["exp"] = self.e_expression(crop)[0].numpy()
            displacement = None
            if self.e_detail is not None and self.d_detail is not None:
                code = torch.cat([torch.from_numpy(p["pose"][3:]), torch.from_numpy(p["exp"]), self.e_detail(crop)[0]])
                displacement = self.d_detail(code[None])[0, 0].numpy()
                if self.uv_mask is not None:
                    displacement = displacement * cv2.resize(self.uv_mask, displacement.shape[::-1])
                if self.fixed_displacement is not None and self.fixed_displacement.shape == displacement.shape:
                    displacement = displacement + self.fixed_displacement
        return FlameInit(p["shape"], p["exp"], p["pose"][3:], displacement, self.source)


def read_deca(path: Path, fixed_displacement: Path | None = None, uv_mask: Path | None = None) -> DecaEncoder:
    """``deca_model.tar`` -> encoder (detail networks when the checkpoint has them)."""
    ckpt = load_checkpoint(path, ignore=CONFIG_MODULES)
    if not isinstance(ckpt, dict) or "E_flame" not in ckpt:
        raise KeyError("E_flame")
    return encoder_from_modules(ckpt, fixed_displacement, uv_mask)


def encoder_from_modules(modules: dict, fixed_displacement: Path | None = None, uv_mask: Path | None = None,
                         source: str = "deca") -> DecaEncoder:
    """A :class:`DecaEncoder` from ``{"E_flame": state dict, optional "E_expression", "E_detail",
    "D_detail"}``, with DECA's optional fixed displacement (``.npy``) and face+eye UV mask (image)."""
    def net(name, kind):
        return kind.from_state_dict(modules[name]) if name in modules else None

    fixed = np.load(fixed_displacement, allow_pickle=False).astype(np.float32) if fixed_displacement else None
    mask = None
    if uv_mask is not None:
        mask = cv2.imread(str(uv_mask), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise ValueError(f"{uv_mask.name} is not an image")
        mask = mask.astype(np.float32) / 255
    return DecaEncoder(net("E_flame", ResnetEncoder), net("E_expression", ResnetEncoder), net("E_detail", ResnetEncoder),
                       net("D_detail", DetailGenerator), fixed, mask, source)
