"""``report.html``: the benchmark for people. Opens from disk (images are relative files)."""
from __future__ import annotations

import html
import math
from pathlib import Path

# The seed system's published figures (generated portraits) and this project's targets.
SEED = {"psnr_face": 23.15, "ssim_face": 0.835, "lpips_face": 0.09}
TARGETS = {
    "psnr_face": ("median >=", 26.0),
    "ssim_face": ("median >=", 0.90),
    "identity_input": ("median <=", 0.35),
    "identity_yaw-40": ("median <=", 0.50),
    "identity_yaw+40": ("median <=", 0.50),
    "landmark_error": ("median <=", 0.03),
    "hair_iou": ("median >=", 0.85),
    "hair_color_de": ("median <=", 8.0),
    "hair_orientation_deg": ("median <=", 15.0),
    "seam_uv": ("median <=", 2.0),
    "seam_yaw-40": ("median <=", 2.0),
    "seam_yaw+40": ("median <=", 2.0),
    "tone_uv": ("median <=", 3.0),
    "tone_yaw-40": ("median <=", 3.0),
    "tone_yaw+40": ("median <=", 3.0),
}
NME_TARGET = 3.5  # percent, mean over the set (and below the detector's own points)
COLUMNS = ["input", "render", "overlay", "yaw-40", "yaw-20", "yaw+20", "yaw+40", "hair_front", "hair_profile"]


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def _badness(row: dict) -> float:
    """Sort key, worst first: failures, then low face PSNR."""
    if not row["ok"]:
        return -1e9
    p = row["metrics"].get("psnr_face")
    return p if p is not None else -1e8


def write_report(results: dict, path: Path) -> None:
    s = results["summary"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>headforge benchmark</title>",
        "<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
        "td.l,th.l{text-align:left}.miss{background:#fde2e2}.hit{background:#e2f5e2}img{display:block}</style>",
        "</head><body><h1>headforge benchmark</h1>",
        f"<p>{html.escape(results['folder'])} — {s['succeeded']}/{s['photos']} photos reconstructed — "
        f"created {html.escape(results['created'])} on {results['machine']['cpus']} CPUs — "
        f"cold start {results['cold_start_s']:.2f} s — peak memory {s['peak_rss_mb']:.0f} MB</p>",
    ]
    if s["failed"]:
        parts.append("<p>Failed: " + ", ".join(f"{html.escape(k)} ({html.escape(v)})" for k, v in s["failed"].items()) + "</p>")
    if "lpips_face" not in s["metrics"]:
        parts.append("<p><b>LPIPS is not measured</b>: its AlexNet weights were not available on this machine.</p>")
    base = results.get("baseline")
    before = base["summary"]["metrics"] if base else {}
    if base:
        parts.append(f"<p>Before: {html.escape(base['results'])} (created {html.escape(str(base['created']))}).</p>")
    parts.append("<h2>Summary</h2><table><tr><th class=l>metric</th><th>median</th><th>p90</th><th>mean</th>"
                 "<th>n</th>" + ("<th>before (median)</th>" if base else "") + "<th>seed</th><th class=l>target</th></tr>")
    for name, v in s["metrics"].items():
        target = TARGETS.get(name)
        cls = ""
        if target and v["n"]:
            op, bound = target
            ok = v["median"] >= bound if op.endswith(">=") else v["median"] <= bound
            cls = " class=hit" if ok else " class=miss"
        parts.append(
            f"<tr{cls}><td class=l>{html.escape(name)}</td><td>{_fmt(v['median'])}</td><td>{_fmt(v['p90'])}</td>"
            f"<td>{_fmt(v['mean'])}</td><td>{v['n']}</td>"
            + (f"<td>{_fmt(before.get(name, {}).get('median'))}</td>" if base else "")
            + f"<td>{_fmt(SEED.get(name))}</td>"
            f"<td class=l>{html.escape(' '.join(map(str, target)) if target else '')}</td></tr>"
        )
    same = s.get("identity_same_person_rate")
    if same is not None:
        parts.append(f"<tr><td class=l>renders recognised as the same person (&lt; 0.6)</td><td colspan=6 class=l>{same:.1%}</td></tr>")
    for kind, v in s.get("hair_classes", {}).items():
        parts.append(f"<tr><td class=l>hair {kind} class right (labelled photos)</td>"
                     f"<td colspan=6 class=l>{v['right']}/{v['n']}</td></tr>")
    ratio, unit = s.get("timings_ratio", {}), results.get("calibration", {}).get("unit_s")
    parts.append("</table>")
    parts.extend(_landmarks68(results))
    was = base["summary"]["timings_s"] if base else {}
    parts.append("<h2>Speed (seconds, and in calibration units)</h2>")
    if unit:
        parts.append(f"<p>1 unit = {unit:.3f} s: a fixed numpy + torch workload timed in this run "
                     "(headforge.bench.calibration); compare units between machines, seconds only on one.</p>")
    parts.append("<table><tr><th class=l>stage</th><th>median</th><th>p90</th><th>median, units</th>"
                 + ("<th>before (median)</th>" if base else "") + "</tr>")
    for name, v in s["timings_s"].items():
        parts.append(f"<tr><td class=l>{html.escape(name)}</td><td>{_fmt(v['median'])}</td><td>{_fmt(v['p90'])}</td>"
                     f"<td>{_fmt(ratio.get(name))}</td>"
                     + (f"<td>{_fmt(was.get(name, {}).get('median'))}</td>" if base else "") + "</tr>")
    parts.append("</table><h2>Photos, worst first</h2><table><tr><th class=l>photo</th>"
                 + "".join(f"<th>{c}</th>" for c in COLUMNS) + "<th class=l>metrics</th></tr>")
    for row in sorted(results["photos"], key=_badness):
        name = html.escape(row["photo"])
        if not row["ok"]:
            parts.append(f"<tr><td class=l>{name}</td><td colspan={len(COLUMNS) + 1} class=l>"
                         f"{html.escape(row['error']['code'])}: {html.escape(row['error']['message'])}</td></tr>")
            continue
        stem = Path(row["photo"]).stem
        cells = "".join(f"<td><img src='images/{html.escape(stem)}_{c}.jpg' width=128 height=128 alt='{c}'></td>" for c in COLUMNS)
        m = "<br>".join(f"{html.escape(k)}: {_fmt(v)}" for k, v in {**row["metrics"], **row.get("hair", {})}.items())
        parts.append(f"<tr><td class=l>{name}<br>{row['timings_s']['total']:.2f} s</td>{cells}<td class=l>{m}</td></tr>")
    parts.append("</table></body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")


def _landmarks68(results: dict) -> list[str]:
    """The 68-point NME section (percent; mean and median over the labelled set)."""
    lm = results.get("landmarks68")
    if not lm:
        return []
    before = (results.get("baseline") or {}).get("landmarks68") or {}
    parts = [f"<h2>68-point NME (%), {html.escape(lm['folder'])}</h2>",
             f"<p>{len(lm['photos'])} photos fitted" + (f"; failed: {html.escape(', '.join(lm['failed']))}" if lm["failed"] else "")
             + f". Target: mean &le; {NME_TARGET} and below the detector's own points.</p>",
             "<table><tr><th class=l>figure</th><th>mean</th><th>median</th><th>p90</th>"
             + ("<th>before (mean)</th>" if before else "") + "</tr>"]
    for name, v in lm["summary"].items():
        cls = ""
        if name == "nme_fit":
            det = lm["summary"]["nme_detector"]["mean"]
            cls = " class=hit" if v["mean"] <= NME_TARGET and v["mean"] < det else " class=miss"
        parts.append(f"<tr{cls}><td class=l>{html.escape(name)}</td><td>{_fmt(v['mean'])}</td><td>{_fmt(v['median'])}</td>"
                     f"<td>{_fmt(v['p90'])}</td>" + (f"<td>{_fmt(before.get(name, {}).get('mean'))}</td>" if before else "") + "</tr>")
    parts.append("</table>")
    return parts
