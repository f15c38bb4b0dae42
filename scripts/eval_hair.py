"""Measure hair from the photo: the held-out synthetic set and a folder of portraits.

    python scripts/eval_hair.py synthetic --styles 100          # seed 1 = the held-out set
    python scripts/eval_hair.py portraits ../shared/portraits --out hair-eval

synthetic: regenerates held-out samples (styles the network never saw, ``--seed 1``), runs
the network and the refinement as the pipeline does, and prints the parameter error per
group (lengths: the median relative error; the rest: the mean absolute error in their own
units), class accuracies, and the median
silhouette IoU against the true hair (the strands' coverage, no segmentation jitter) before
and after refinement. ``length_accuracy`` is the network's class; ``final_length_accuracy``
(styles with hair) the class of the finished style as the pipeline reports it: the
network's style (continued where its hair runs off the photo below the chin, judged on the
jittered mask: ``stage.photo_style``) refined, grown, spread, cut and draped over the true
hair, its lengths read back off its strands. The finished style is also scored as the
benchmark scores photos (:mod:`headforge.hairphoto.evaluate`): colour error against the
render, orientation error against the render's orientation field and against the true
strands' 2D directions (known here), curl class against the true style's.

portraits: reconstructs every photo (hair on), prints per photo the length and curl classes
(checked against ``scripts/hair_photo_labels.json``), the hair measures in the input view
(IoU, colour and orientation errors) and the hair stage's time, and writes ``contact_sheet.png`` (photo | avatar with hair, front | profile)
and ``hair.json`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

LABELS = Path(__file__).with_name("hair_photo_labels.json")


def synthetic(args) -> None:
    from headforge.hairphoto.color import hair_color
    from headforge.hairphoto.curl import curled, flow_coherence
    from headforge.hairphoto.evaluate import color_error, orientation_error, strand_directions
    from headforge.hairphoto.features import crop_orientation
    from headforge.hairphoto.grow import grow_style, photo_scalp
    from headforge.hairphoto.model import predict
    from headforge.hairphoto.refine import behind_body, refine_style
    from headforge.hairphoto.stage import SHADING, class_confidence, finish_style, photo_style
    from headforge.hairphoto.styles import LENGTH_CLASSES, REGRESSED, curl_class, length_class
    from headforge.hairphoto.synth import landmarks_3d, make_samples
    from headforge.headmodel.anny_head import load_head_model
    from headforge.render import render_mesh, render_strands

    faces = load_head_model().faces
    errors = {name: [] for name, _ in REGRESSED}
    hits = {"length": [], "parting": [], "tie": [], "final_length": [], "final_curl": []}
    predicted, refined = [], []
    measures = {"color_de": [], "orientation_deg": [], "orientation_truth_deg": []}
    t0 = time.perf_counter()
    for i in range(args.styles):
        (s,) = make_samples(i, args.seed, views=1)
        p = predict(s.x, s.pose)
        for k, (name, (lo, hi)) in enumerate(REGRESSED):
            if s.classes["length"] > 0:
                e = abs(p.values[k] - s.values[k]) * (hi - lo)
                errors[name].append(np.exp(e) - 1 if name.startswith("log_") else e)
        hits["length"].append(p.classes["length"] == s.classes["length"])
        if s.classes["length"] >= LENGTH_CLASSES.index("short"):
            hits["parting"].append(p.classes["parting"] == s.classes["parting"])
        if s.classes["length"] >= LENGTH_CLASSES.index("medium"):
            hits["tie"].append(p.classes["tie"] == s.classes["tie"])
        if not s.truth.any():
            continue

        def grow(q):
            return grow_style(q, s.vertices, color=(90, 60, 40))

        params = curled(photo_style(p, s.hair, s.valid, s.camera.project(landmarks_3d(s.vertices))[:, :2]),
                        flow_coherence(s.image, s.hair))
        r = refine_style(params, grow, s.vertices, faces, s.camera, s.truth, s.valid, s.body, class_confidence(p, params))
        predicted.append(r.predicted_iou)
        refined.append(r.iou)
        head = behind_body(render_mesh(s.vertices, faces, s.camera, lighting="flat"), s.body)
        scalp = photo_scalp(s.vertices, s.camera, head, s.truth, s.valid)
        color = hair_color(s.image, s.hair)
        color = (90, 60, 40) if color is None else np.clip(color / SHADING, 0, 255).astype(np.uint8)
        style, final = finish_style(r.params, s.vertices, None, color, scalp, s.camera, head, s.truth, s.valid,
                                    crop_orientation(s.image), s.image)
        hits["final_length"].append(length_class(final) == LENGTH_CLASSES[s.classes["length"]])
        hits["final_curl"].append(curl_class(final) == curl_class(s.params))
        if style.count:
            drawn = render_strands(style.strands, s.camera, colors=style.colors, base=head)
            both = (drawn.strand >= 0) & s.truth & s.valid & ~s.body
            measures["color_de"].append(color_error(s.image, drawn.image, both))
            measures["orientation_deg"].append(orientation_error(s.image, style.strands, s.camera, head, both))
            mine, covered = strand_directions(style.strands, s.camera, head)
            true, true_covered = strand_directions(s.style.strands, s.camera, head)
            where = covered & true_covered & both
            if where.sum() >= 50:
                d = np.abs(mine[where] - true[where])
                measures["orientation_truth_deg"].append(float(np.degrees(np.minimum(d, np.pi - d)).mean()))
    report = {name: round(float(np.median(v) if name.startswith("log_") else np.mean(v)), 4)
              for name, v in errors.items()}
    report.update({f"{k}_accuracy": round(float(np.mean(v)), 4) for k, v in hits.items()})
    report["silhouette_iou_predicted_median"] = round(float(np.median(predicted)), 4)
    report["silhouette_iou_refined_median"] = round(float(np.median(refined)), 4)
    for k, v in measures.items():
        v = [x for x in v if x is not None]
        report[f"{k}_median"] = round(float(np.median(v)), 3) if v else None
    report["samples"] = len(hits["length"])
    report["seconds"] = round(time.perf_counter() - t0)
    print(json.dumps(report, indent=1))


def portraits(args) -> None:
    from headforge.bench.evaluate import EVAL_SIDE
    from headforge.errors import HeadforgeError
    from headforge.export.preview import avatar_view, face_crop
    from headforge.bench.run import LENGTH_ACCEPT
    from headforge.hairphoto.evaluate import hair_measures
    from headforge.hairphoto.mask import PersonSegmenter
    from headforge.io.image import load_photo, working_copy
    from headforge.pipeline import Options, default_reconstructor

    labels = json.loads(LABELS.read_text())
    rec = default_reconstructor()
    rec.warm_up((512,))
    segmenter = PersonSegmenter()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, tiles = [], []
    photos = sorted(p for p in args.folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for path in photos:
        try:
            t = time.perf_counter()
            avatar = rec(path, Options(texture_size=512))
            total = time.perf_counter() - t
        except HeadforgeError as e:
            print(f"{path.name}: {e.code}")
            continue
        photo, scale = working_copy(load_photo(path).rgb, EVAL_SIDE)
        h, w = photo.shape[:2]
        measures = hair_measures(avatar, photo, avatar.landmarks * scale, avatar.camera.resized(scale, w, h),
                                 segmenter)
        score = measures["hair_iou"]
        block = avatar.params["hair"]
        label = labels["length"].get(path.name)
        curl = labels["curl"].get(path.name)
        row = {"photo": path.name, "length_class": block["length_class"], "label": label,
               "right": None if label is None else block["length_class"] in LENGTH_ACCEPT[label],
               "curl_class": block["curl_class"], "curl_label": curl,
               "curl_right": None if curl is None else block["curl_class"] == curl,
               **{k: None if v is None else round(v, 4) for k, v in measures.items()},
               "hair_s": avatar.params["timings_s"]["hair"], "total_s": round(total, 3),
               "mask_s": block["timings_s"].get("mask")}
        rows.append(row)
        print(json.dumps(row), flush=True)
        panels = [face_crop(photo, avatar.landmarks * scale, 256), avatar_view(avatar, 0.0, 256),
                  avatar_view(avatar, 90.0, 256)]
        tile = np.concatenate(panels, axis=1)
        text = (f"{path.stem[5:27]} {block['length_class']} {block['curl_class']} "
                f"iou {'-' if score is None else f'{score:.2f}'}")
        cv2.putText(tile, text, (4, 250), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 0), 1)
        tiles.append(tile)
    sheet = np.concatenate([np.concatenate(tiles[i:i + 2] + [np.zeros_like(tiles[0])] * (2 - len(tiles[i:i + 2])),
                                           axis=1) for i in range(0, len(tiles), 2)])
    cv2.imwrite(str(args.out / "contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    scores = [r["hair_iou"] for r in rows if r["hair_iou"] is not None]
    judged = [r for r in rows if r["right"] is not None]
    curled = [r for r in rows if r["curl_right"] is not None]

    def median(key):
        v = [r[key] for r in rows if r[key] is not None]
        return round(float(np.median(v)), 4) if v else None

    summary = {"photos": len(rows), "hair_iou_median": round(float(np.median(scores)), 4), "hair_iou_n": len(scores),
               "hair_color_de_median": median("hair_color_de"),
               "hair_orientation_deg_median": median("hair_orientation_deg"),
               "length_class_right": f"{sum(r['right'] for r in judged)}/{len(judged)}",
               "curl_class_right": f"{sum(r['curl_right'] for r in curled)}/{len(curled)}",
               "hair_s_median": round(float(np.median([r["hair_s"] for r in rows])), 3),
               "total_s_median": round(float(np.median([r["total_s"] for r in rows])), 3)}
    (args.out / "hair.json").write_text(json.dumps({"summary": summary, "photos": rows}, indent=1))
    print(json.dumps(summary, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("synthetic")
    p.add_argument("--styles", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=synthetic)
    p = sub.add_parser("portraits")
    p.add_argument("folder", type=Path)
    p.add_argument("--out", type=Path, default=Path("hair-eval"))
    p.set_defaults(func=portraits)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
