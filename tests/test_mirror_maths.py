"""The "Mirror me" maths (static/mirror_tracking.js), run by node: sides swapped, head angles
mirrored from MediaPipe's pose matrix (and from a recentred pose), the one-euro filter's jitter and lag, the weak, under-read
and missing MediaPipe actions, the ease back to rest without a face; and the head's rig (static/mirror.js): the turn split
between the Neck and Head bones of a rigged avatar, a head-only one turned as a whole."""
from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

STATIC = Path(__file__).parents[1] / "src" / "headforge" / "web" / "static"
MODULE = STATIC / "mirror_tracking.js"
THREE = STATIC / "vendor" / "three" / "build" / "three.module.js"  # npm run build (scripts/install.sh)
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (scripts/install.sh needs it)")


def run_node(body: str, module: Path = MODULE) -> dict:
    """Run `body` (an ES module that imports `m`, the module, and sets `out`); returns `out`."""
    script = f"import * as m from {json.dumps(module.as_uri())};\nlet out = {{}};\n{textwrap.dedent(body)}\n" \
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
        out.angles = {json.dumps([pose_matrix(*p, scale=s) for p in poses for s in (1.0, 1.7)])}.map((matrix) => m.mirroredAngles(matrix));
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
        const face = {{ scores: {{ jawOpen: 0.49, eyeBlinkLeft: 0.6, eyeBlinkRight: 0.05 }}, opening: {{ Left: 0.1, Right: 0.35 }},
                       matrix: {json.dumps(pose_matrix(0.3, 0, 0))} }};
        const rest = {{ jawOpen: 0.1, eyeBlinkLeft: 0, eyeBlinkRight: 0 }};
        let t = 0;
        for (let i = 0; i < 30; i++) out.face = filter.update(face, rest, (t += 1 / 30));
        for (let i = 0; i < 30; i++) out.gone = filter.update(null, rest, (t += 1 / 30));
    """)
    assert out["face"]["weights"]["jawOpen"] == pytest.approx(0.5, abs=0.02)  # MediaPipe's 0.49 of our 0.5
    assert out["face"]["weights"]["eyeBlinkRight"] > 0.95 and out["face"]["weights"]["eyeBlinkLeft"] < 0.05  # mirrored
    assert out["face"]["angles"]["yaw"] == pytest.approx(-0.3, abs=0.01)
    assert out["gone"]["weights"]["jawOpen"] == pytest.approx(0.1, abs=0.03)  # 1 s later: at rest
    assert abs(out["gone"]["angles"]["yaw"]) < 0.02


def test_recentre_measures_the_turn_from_the_pose_taken_as_straight_ahead():
    # A camera off to one side and above: a face straight to the screen is seen turned by R0.
    r0 = np.array(pose_matrix(0.35, -0.2, 0.05)).reshape(4, 4).T[:3, :3]
    turns = [(0.0, 0.0, 0.0), (0.3, 0.1, -0.15), (-0.4, -0.2, 0.1)]
    seen = []
    for turn in turns:
        m = np.eye(4)
        m[:3, :3] = 1.3 * r0 @ np.array(pose_matrix(*turn)).reshape(4, 4).T[:3, :3]  # R = R0 H, scaled
        m[:3, 3] = [5.0, 0.0, -45.0]
        seen.append(m.T.ravel().tolist())
    out = run_node(f"""
        const filter = new m.MirrorFilter(["jawOpen"]);
        const face = (matrix) => ({{ scores: {{ jawOpen: 0 }}, opening: {{ Left: 0.3, Right: 0.3 }}, matrix }});
        const seen = {json.dumps(seen)};
        out.before = filter.recentre();  // no face yet: nothing to take
        let t = 0;
        for (let i = 0; i < 60; i++) out.offAxis = filter.update(face(seen[0]), {{}}, (t += 1 / 30)).angles;
        out.taken = filter.recentre();
        out.turns = seen.map((matrix) => {{
            let angles;
            for (let i = 0; i < 60; i++) angles = filter.update(face(matrix), {{}}, (t += 1 / 30)).angles;
            return angles;
        }});
    """)
    assert out["before"] is False and out["taken"] is True
    assert abs(out["offAxis"]["yaw"]) > 0.3  # before: the off-axis camera's view, straight ahead shown turned
    for got, (yaw, pitch, roll) in zip(out["turns"], turns):
        assert got == pytest.approx({"yaw": -yaw, "pitch": pitch, "roll": -roll}, abs=0.01)


@pytest.mark.skipif(not THREE.is_file(), reason="three.js is not built (npm run build)")
def test_a_rigged_neck_takes_40_percent_of_the_turn_and_the_head_the_rest():
    out = run_node("""
        const THREE = await import(THREE_URL);
        const quat = (x, y, z) => new THREE.Quaternion().setFromEuler(new THREE.Euler(x, y, z, "YXZ"));
        const world = (o) => { o.updateWorldMatrix(true, false); return o.getWorldQuaternion(new THREE.Quaternion()); };
        // Ready Player Me's chain: bones with rest rotations of their own (not the identity).
        const body = new THREE.Group();
        const spine = new THREE.Bone(); spine.name = "Spine2"; spine.quaternion.copy(quat(0.1, 0, 0.05));
        const neck = new THREE.Bone(); neck.name = "Neck"; neck.position.set(0, 0.2, 0); neck.quaternion.copy(quat(-0.2, 0.1, 0));
        const head = new THREE.Bone(); head.name = "Head"; head.position.set(0, 0.1, 0.01); head.quaternion.copy(quat(0.15, 0, -0.1));
        body.add(spine); spine.add(neck); neck.add(head);
        const rest = { neck: world(neck), head: world(head), spine: world(spine) };
        const turn = quat(0.2, 0.5, -0.1);  // {pitch, yaw, roll}
        const rig = new m.HeadRig(body);
        rig.apply({ yaw: 0.5, pitch: 0.2, roll: -0.1 }, {});
        const share = (q, r) => q.clone().multiply(r.clone().invert());  // the world turn from rest
        const neckTurn = share(world(neck), rest.neck), headTurn = share(world(head), rest.head);
        out.neck = neckTurn.angleTo(new THREE.Quaternion().slerp(turn, 0.4));
        out.head = headTurn.angleTo(turn);
        out.neckAngle = 2 * Math.acos(Math.min(1, Math.abs(neckTurn.w))) / (2 * Math.acos(turn.w));
        out.spine = world(spine).angleTo(rest.spine);
        out.turned = rig.turnDeg();
        rig.restore();
        out.restored = world(head).angleTo(rest.head);
        // A head-only avatar (no bones): the head and its hair turn about the neck, the bust stays.
        const model = new THREE.Group();
        const part = (name, y) => { const o = new THREE.Mesh(new THREE.BoxGeometry(0.2, 0.25, 0.2)); o.name = name; o.position.y = y; model.add(o); return o; };
        const [h, hair, bust] = [part("head", 1.6), part("hair", 1.7), part("bust", 1.3)];
        const plain = new m.HeadRig(model);
        plain.apply({ yaw: 0.5, pitch: 0.2, roll: -0.1 }, {});
        out.plain = { head: h.quaternion.angleTo(turn), hair: hair.quaternion.angleTo(turn), bust: bust.quaternion.angleTo(new THREE.Quaternion()),
                      bustMoved: bust.position.y - 1.3, turned: plain.turnDeg() };
    """.replace("THREE_URL", json.dumps(THREE.as_uri())), STATIC / "mirror.js")
    assert out["neck"] < 1e-6 and out["neckAngle"] == pytest.approx(0.4, abs=1e-4)  # 40 % of the turn in the neck
    assert out["head"] < 1e-6  # the head, on the neck, ends at the whole turn
    assert out["spine"] < 1e-9 and out["restored"] < 1e-6
    assert out["turned"] == pytest.approx(np.degrees(0.5), abs=0.01)
    assert out["plain"]["head"] < 1e-6 and out["plain"]["hair"] < 1e-6
    assert out["plain"]["bust"] < 1e-9 and out["plain"]["bustMoved"] == 0
    assert out["plain"]["turned"] == pytest.approx(np.degrees(0.5), abs=0.01)
