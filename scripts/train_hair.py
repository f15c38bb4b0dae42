"""Train the image-to-hair network on the synthetic dataset and write its weights.

    python scripts/make_hair_dataset.py --styles 2000 --seed 0 --out ~/.cache/headforge/hair-train.npz
    python scripts/make_hair_dataset.py --styles 200 --seed 1 --out ~/.cache/headforge/hair-test.npz
    python scripts/train_hair.py --train ~/.cache/headforge/hair-train.npz --test ~/.cache/headforge/hair-test.npz

writes ``src/headforge/hairphoto/data/hair_cnn.npz`` (float16, about 0.6 MB) and prints the
held-out errors per parameter group. Deterministic on a CPU for a given ``--threads`` (the
committed file was made with the defaults on a 2-core CPU); a GPU is used when there is one
(faster, not bit-identical). Mirrored copies of the samples (flipped input, yaw, parting)
are drawn at random each epoch.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from headforge.hairphoto.features import CHANNELS
from headforge.hairphoto.model import WEIGHTS_PATH, HairNet, load_model, save_weights, split_output
from headforge.hairphoto.styles import CLASS_HEADS, LENGTH_CLASSES, PARTINGS, REGRESSED

FLOW_SIN = CHANNELS.index("flow_sin")
MIRROR_PARTING = torch.tensor([PARTINGS.index(p) for p in ("none", "right", "centre", "left")])
LENGTHS = [i for i, (name, _) in enumerate(REGRESSED) if name.startswith("log_")]
HAS_PARTING = LENGTH_CLASSES.index("short")  # length classes from here on show a parting
HAS_TIE = LENGTH_CLASSES.index("medium")  # and from here on can be tied


def load(path: Path) -> dict[str, torch.Tensor]:
    with np.load(path) as z:
        data = {k: torch.from_numpy(z[k]) for k in z.files}
    data["x"] = data["x"].float()
    return data


def mirror(batch: dict[str, torch.Tensor], flip: torch.Tensor) -> dict[str, torch.Tensor]:
    """The batch with the samples where ``flip`` (B,) bool mirrored left to right."""
    out = dict(batch)
    x = batch["x"].clone()
    x[flip] = x[flip].flip(-1)
    x[flip, FLOW_SIN] *= -1
    pose = batch["pose"].clone()
    pose[flip, 0] *= -1
    parting = batch["parting"].clone()
    parting[flip] = MIRROR_PARTING[parting[flip]]
    out.update(x=x, pose=pose, parting=parting)
    return out


def losses(out: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Regression (smooth L1 on scaled values; a bald style's only meaningful values are its
    lengths) plus cross-entropy for the length class, the parting (where hair is long
    enough to show one) and the tie (where long enough to tie)."""
    values, logits = split_output(out)
    length = batch["length"]
    weight = torch.ones_like(values)
    bald = length == 0
    weight[bald] = 0
    weight[bald.nonzero()[:, 0][:, None], torch.tensor(LENGTHS)[None]] = 1
    reg = (F.smooth_l1_loss(values, batch["values"], reduction="none", beta=0.05) * weight).sum() / weight.sum()
    total = 2 * reg + F.cross_entropy(logits["length"], length)
    for head, mask in (("parting", length >= HAS_PARTING), ("tie", length >= HAS_TIE)):
        if mask.any():
            total = total + 0.5 * F.cross_entropy(logits[head][mask], batch[head][mask])
    return total


def evaluate(net: HairNet, data: dict[str, torch.Tensor], device) -> dict:
    """Held-out errors on the styles with hair: per length the median relative error
    (exp(|log error|) - 1), per other regressed value the mean absolute error in its own
    units; and the accuracy of each class head (parting: where the hair is long enough to
    show one; tie: where long enough to tie)."""
    net.eval()
    with torch.no_grad():
        out = torch.cat([net(data["x"][i:i + 256].to(device), data["pose"][i:i + 256].to(device)).cpu()
                         for i in range(0, len(data["x"]), 256)])
    values, logits = split_output(out)
    hair = data["length"] > 0
    report = {}
    for i, (name, (lo, hi)) in enumerate(REGRESSED):
        err = ((values[:, i] - data["values"][:, i]).abs() * (hi - lo))[hair]
        report[name] = round(float(err.exp().median() - 1 if name.startswith("log_") else err.mean()), 4)
    for head in CLASS_HEADS:
        mask = {"length": data["length"] >= 0, "parting": data["length"] >= HAS_PARTING,
                "tie": data["length"] >= HAS_TIE}[head]
        pred = logits[head].argmax(1)
        report[f"{head}_accuracy"] = round(float((pred == data[head])[mask].float().mean()), 4)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    train, test = load(args.train), load(args.test)
    n = len(train["x"])
    net = HairNet().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    steps = args.epochs * ((n + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(n, generator=gen)
        flips = torch.rand(n, generator=gen) < 0.5
        total = 0.0
        for i in range(0, n, args.batch):
            idx = order[i:i + args.batch]
            batch = mirror({k: v[idx] for k, v in train.items()}, flips[idx])
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = losses(net(batch["x"], batch["pose"]), batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if epoch % 5 == 4:
            print(f"epoch {epoch + 1}: loss {total / n:.4f}, {time.perf_counter() - t0:.0f} s, held-out "
                  f"{json.dumps(evaluate(net, test, device))}", flush=True)
    meta = {"train": args.train.name, "samples": n, "epochs": args.epochs, "seed": args.seed}
    save_weights(net.cpu(), args.out, meta)
    report = evaluate(load_model(args.out), test, torch.device("cpu"))  # as shipped: float16
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {time.perf_counter() - t0:.0f} s")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
