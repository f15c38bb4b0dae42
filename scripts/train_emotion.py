"""Train the emotion -> ARKit mapping and write src/headforge/emotion/data/emotion_mlp.json.

    python scripts/train_emotion.py               # train, write the JSON, print held-out error
    python scripts/train_emotion.py --refit-photos /work/shared/portraits   # refresh photo fits

Data: (1) EMFACS prototypes (headforge.emotion.prototypes) at random intensities and mixtures,
clamped by the eyelid/lip limits, 10% held out; (2) expressive portraits labelled by hand in
scripts/emotion_photo_labels.json, whose target is the expression our own pipeline fits
(stored in that file, so training needs neither the photos nor the pipeline). The photos only
measure the mapping unless --photo-weight is given. A fixed seed and one CPU thread make the
written JSON byte-identical from run to run (about 30 s).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from headforge.emotion.mapping import COMBINE_RULE, EMOTIONS, MAPPING_PATH, SCHEMA, mapping_from_json
from headforge.emotion.plausibility import all_pairs, derive_limit
from headforge.emotion.prototypes import sample_intensities, target_actions
from headforge.headmodel.anny_head import load_head_model

LABELS_PATH = Path(__file__).parent / "emotion_photo_labels.json"
SEED = 0
SAMPLES = 8000
HELD_OUT = 0.1
HIDDEN = 64
STEPS = 4000
LEARNING_RATE = 1e-2
# Actions a photo shows that no emotion drives (gaze, tongue, jaw sideways): not learnt from photos.
PHOTO_IGNORED = ("eyeLook", "tongueOut", "jawLeft", "jawRight")
DIGITS = 5  # significant digits of the stored weights


class EmotionNet(torch.nn.Module):
    """7 -> HIDDEN (ReLU) -> 52; outputs f(x) - f(0), the JSON's formula before the final
    clip to [0, 1] (which the loss treats as a hinge)."""

    def __init__(self, n_out: int):
        super().__init__()
        self.f = torch.nn.Sequential(
            torch.nn.Linear(len(EMOTIONS), HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, n_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.f(x) - self.f(torch.zeros_like(x[:1]))


def loss_terms(raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N, 52) squared error of clip(raw, 0, 1) against target, pulling raw up where target > 0."""
    return torch.where(target > 0, (raw - target) ** 2, torch.relu(raw) ** 2)


def photo_samples(actions: list[str]) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """(names, (M, 7) labelled intensities, (M, 52) fitted expressions, (M,) held out) of the
    labelled photos that have a fit."""
    labels = json.loads(LABELS_PATH.read_text())["photos"]
    names = sorted(n for n in labels if "fitted_arkit" in labels[n])
    x = np.array([[labels[n]["emotions"].get(e, 0.0) for e in EMOTIONS] for n in names], float)
    y = np.array([[labels[n]["fitted_arkit"][a] for a in actions] for n in names], float)
    held = np.array([labels[n].get("held_out", False) for n in names], bool)
    return names, x.reshape(len(names), len(EMOTIONS)), y.reshape(len(names), len(actions)), held


def refit_photos(folder: Path) -> None:
    """Reconstruct every labelled photo in ``folder`` and store its fitted expression."""
    import headforge

    doc = json.loads(LABELS_PATH.read_text())
    for name, entry in sorted(doc["photos"].items()):
        fitted = headforge.reconstruct(folder / name, texture_size=512).params["expression"]["fitted_arkit"]
        entry["fitted_arkit"] = {k: round(v, 4) for k, v in fitted.items()}
        print(f"fitted {name}")
    LABELS_PATH.write_text(json.dumps(doc, indent=1) + "\n")


def train(x: np.ndarray, y: np.ndarray, weight: np.ndarray, n_out: int) -> EmotionNet:
    """Full-batch Adam, ``weight`` (N, 52) per target value; deterministic on one CPU thread."""
    torch.manual_seed(SEED)
    net = EmotionNet(n_out)
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, STEPS)
    xt, yt, wt = (torch.from_numpy(a.astype(np.float32)) for a in (x, y, weight))
    for _ in range(STEPS):
        opt.zero_grad()
        loss = (wt * loss_terms(net(xt), yt)).sum() / wt.sum()
        loss.backward()
        opt.step()
        sched.step()
    return net


def mapping_document(net: EmotionNet, actions: list[str], limits, photos: int) -> dict:
    """The JSON document: rounded layers, limits (over the actions they involve) and the rules."""
    def rounded(t) -> list:
        return np.vectorize(lambda v: float(f"{v:.{DIGITS}g}"))(t.detach().numpy()).tolist()

    linear = [m for m in net.f if isinstance(m, torch.nn.Linear)]
    return {
        "schema": SCHEMA,
        "emotions": list(EMOTIONS),
        "actions": actions,
        "layers": [{"weight": rounded(m.weight), "bias": rounded(m.bias)} for m in linear],
        "hidden_activation": "relu",
        "output": "clip(f(x) - f(0), 0, 1)",
        "combine": COMBINE_RULE,
        "limits": [
            {
                "name": lim.name,
                "actions": [actions[k] for k in np.flatnonzero(lim.closure.any(axis=0))],
                "closure": [[float(f"{c:.4g}") for c in row[lim.closure.any(axis=0)]] for row in lim.closure],
            }
            for lim in limits
        ],
        "training": {"script": "scripts/train_emotion.py", "seed": SEED, "samples": SAMPLES, "photos": photos},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refit-photos", type=Path, help="folder of the labelled photos: refresh their fits first")
    parser.add_argument("--out", type=Path, default=MAPPING_PATH)
    parser.add_argument("--photo-weight", type=float, default=0.0,
                        help="share of the loss the labelled photos not marked held_out carry (default 0: "
                             "with a handful of photos the net memorises single faces, so they only measure)")
    args = parser.parse_args(argv)
    if args.refit_photos:
        refit_photos(args.refit_photos)
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    model = load_head_model()
    actions = list(model.action_names)
    limits = [derive_limit(model, pairs) for pairs in all_pairs(model)]

    def clamp(a: np.ndarray) -> np.ndarray:
        for lim in limits:
            a = lim.apply(a, np.zeros_like(a))
        return a

    rng = np.random.default_rng(SEED)
    x = sample_intensities(rng, SAMPLES)
    y = clamp(target_actions(x, actions))
    held = rng.permutation(SAMPLES)[: int(HELD_OUT * SAMPLES)]
    train_mask = np.ones(SAMPLES, bool)
    train_mask[held] = False

    names, px, py, photo_held = photo_samples(actions)
    emotion_columns = np.array([not a.startswith(PHOTO_IGNORED) for a in actions], float)
    if args.photo_weight == 0:
        photo_held[:] = True
    n_train, n_photos = int(train_mask.sum()), int((~photo_held).sum())
    weight = np.vstack([
        np.ones((n_train, len(actions))),
        np.tile(args.photo_weight * n_train / max(n_photos, 1) * emotion_columns, (n_photos, 1)),
    ])  # fmt: skip
    inputs = np.vstack([x[train_mask], px[~photo_held]])
    net = train(inputs, np.vstack([y[train_mask], py[~photo_held]]), weight, len(actions))

    doc = mapping_document(net, actions, limits, n_photos)
    args.out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    mapping = mapping_from_json(doc)
    err = np.abs(mapping(x[held]) - y[held])
    print(f"held-out prototypes ({len(held)} samples): mean abs error {err.mean():.4f}, "
          f"95th percentile {np.percentile(err, 95):.4f}, max {err.max():.4f} (action units, 0-1)")
    for split, mask in (("training", ~photo_held), ("held-out", photo_held)):
        if mask.any():
            perr = np.abs(mapping(px[mask]) - py[mask])[:, emotion_columns > 0].mean(1)
            zero = np.abs(py[mask])[:, emotion_columns > 0].mean()
            print(f"{split} photos, mean abs error over the emotion-driven actions: {perr.mean():.3f} "
                  f"(a neutral face: {zero:.3f}); "
                  + ", ".join(f"{n} {e:.3f}" for n, e in zip(np.array(names)[mask], perr)))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.1f} KiB) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
