"""The "Mirror me" maths (static/mirror_tracking.js), run by node: sides swapped, head angles
mirrored from MediaPipe's pose matrix, the one-euro filter's jitter and lag, the weak, under-read
and missing MediaPipe actions, the ease back to rest without a face."""
from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

MODULE = Path(__file__).parents[1] / "src" / "headforge" / "web" / "static" / "mirror_tracking.js"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (scripts/install.sh needs it)")


def run_node(body: str) -> dict:
    """Run `body` (an ES module that imports `m`, the module, and sets `out`); returns `out`."""
    script = f"import * as m from {json.dumps(MODULE.as_uri())};\nlet out = {{}};\n{textwrap.dedent(body)}\n" \
             "console.log(JSON.stringify(out));"
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def pose_matrix(yaw: float, pitch: float, roll: float, scale: float = 1.0) -> list[float]:
    """Column-major 4x4: R = Ry(yaw) Rx(pitch) Rz(roll) (radians), scaled, moved 40 cm away."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    m = np.eye(4)
    m[:3, :3] = scale * ry @ rx @ rz
    m[:3, 3] = [1.0, -2.0, -40.0]
    return m.T.ravel().tolist()  # column-major


def test_sides_swap_and_angles_mirror():
    poses = [(0.4, 0.2, -0.1), (-0.5, -0.3, 0.25)]
    out = run_node(f"""
        out.names = ["eyeBlinkLeft", "mouthSmileRight", "jawLeft", "jawOpen", "browInnerUp"].map(m.mirroredName);
        out.angles = {json.dumps([pose_matrix(*p, scale=s) for p in poses for s in (1.0, 1.7)])}.map(m.mirroredAngles);
    """)
    assert out["names"] == ["eyeBlinkRight", "mouthSmileLeft", "jawRight", "jawOpen", "browInnerUp"]
    for got, (yaw, pitch, roll) in zip(out["angles"], [p for p in poses for _ in (1, 2)]):
        # The camera sees the subject turn by yaw; a mirror shows the opposite turn, same nod.
        assert got == pytest.approx({"yaw": -yaw, "pitch": pitch, "roll": -roll}, abs=1e-6)


def test_one_euro_removes_jitter_without_visible_lag():
    out = run_node("""
        const f = new m.OneEuro(m.WEIGHT_FILTER.minCutoff, m.WEIGHT_FILTER.beta);
        let seed = 7;
        const noise = () => { seed = (seed * 16807) % 2147483647; return (seed / 2147483647 - 0.5) * 0.07; };
        const still = [], raw = [], step = [];
        for (let i = 0; i < 300; i++) { const x = 0.3 + noise(); raw.push(x); still.push(f.filter(x, i / 30)); }
        for (let i = 300; i < 310; i++) step.push(f.filter(1.0, i / 30));  // jaw drops at once
        out = { raw, still: still.slice(30), step };
    """)
    jitter = lambda x: float(np.std(np.diff(x)))  # noqa: E731  frame-to-frame shake
    assert jitter(out["still"]) < jitter(out["raw"]) / 4
    assert out["step"][2] > 0.9  # within 3 frames (100 ms at 30 fps) of a sudden change


def test_weak_and_missing_actions():
    out = run_node("""
        const weak = new m.WeakActions();
        const calm = { eyeBlinkLeft: 0, eyeBlinkRight: 0, browInnerUp: 0, browOuterUpLeft: 0, browOuterUpRight: 0,
                       eyeWideLeft: 0.01, eyeWideRight: 0.01, noseSneerLeft: 0, noseSneerRight: 0,
                       browDownLeft: 0, browDownRight: 0, mouthUpperUpLeft: 0, mouthUpperUpRight: 0 };
        for (let i = 0; i < 30; i++) weak.apply(calm, { Left: 0.36, Right: 0.35 }, 1 / 30);
        out.rest = weak.apply(calm, { Left: 0.36, Right: 0.35 }, 1 / 30);
        out.wide = weak.apply({ ...calm, browOuterUpLeft: 0.6, browOuterUpRight: 0.6, browInnerUp: 0.6 },
                              { Left: 0.43, Right: 0.35 * 1.1 }, 1 / 30);
        out.sneer = weak.apply({ ...calm, browDownLeft: 0.7, mouthUpperUpLeft: 0.6, noseSneerRight: 0.05 },
                               { Left: 0.36, Right: 0.35 }, 1 / 30);
    """)
    assert out["rest"]["eyeWideLeft"] < 0.05 and out["rest"]["tongueOut"] == 0
    assert out["wide"]["eyeWideLeft"] > 0.9  # +19%: the avatar's own eyeWide = 1
    assert 0.3 < out["wide"]["eyeWideRight"] < 0.5  # +10%
    assert out["sneer"]["noseSneerLeft"] == pytest.approx(0.8 * 0.6)  # brow down and upper lip up
    assert out["sneer"]["noseSneerRight"] == pytest.approx(0.2)  # MediaPipe's own reading, scaled


def test_without_a_face_the_avatar_eases_back_to_rest():
    out = run_node(f"""
        const filter = new m.MirrorFilter(["jawOpen", "eyeBlinkLeft", "eyeBlinkRight"]);
        const face = {{ scores: {{ jawOpen: 0.43, eyeBlinkLeft: 0.6, eyeBlinkRight: 0.05 }}, opening: {{ Left: 0.1, Right: 0.35 }},
                       matrix: {json.dumps(pose_matrix(0.3, 0, 0))} }};
        const rest = {{ jawOpen: 0.1, eyeBlinkLeft: 0, eyeBlinkRight: 0 }};
        let t = 0;
        for (let i = 0; i < 30; i++) out.face = filter.update(face, rest, (t += 1 / 30));
        for (let i = 0; i < 30; i++) out.gone = filter.update(null, rest, (t += 1 / 30));
    """)
    assert out["face"]["weights"]["jawOpen"] == pytest.approx(0.5, abs=0.02)  # MediaPipe's 0.43 of our 0.5
    assert out["face"]["weights"]["eyeBlinkRight"] > 0.95 and out["face"]["weights"]["eyeBlinkLeft"] < 0.05  # mirrored
    assert out["face"]["angles"]["yaw"] == pytest.approx(-0.3, abs=0.01)
    assert out["gone"]["weights"]["jawOpen"] == pytest.approx(0.1, abs=0.03)  # 1 s later: at rest
    assert abs(out["gone"]["angles"]["yaw"]) < 0.02
