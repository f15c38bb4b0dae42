// "Mirror me", the maths: what MediaPipe's FaceLandmarker reads off a camera frame turned into
// the avatar's 52 ARKit weights and head angles, as a mirror would show them, filtered against
// jitter. No DOM and no three.js (node runs it in the tests).
//
// Frames: MediaPipe's pose matrix maps its canonical face (x to the subject's left, y up, the
// face looking along +z) into the camera frame (x to the image's right, y up, the camera looking
// along -z). The avatar's head frame is glTF's (x to the avatar's left, y up, the face along +z),
// seen by the page's camera from +z. MediaPipe's Left/Right scores are the subject's own sides,
// as in ARKit.

const clamp01 = (x) => Math.min(Math.max(x, 0), 1);

/** One-euro filter (Casiez, Roussel and Vogel, CHI 2012): a low-pass filter whose cut-off rises
 * with the speed of the signal, so a still face is steady and a fast one is not held back. */
export class OneEuro {
  /** minCutoff: Hz at rest; beta: extra Hz per (unit/s) of speed; dCutoff: Hz for the speed. */
  constructor(minCutoff, beta, dCutoff = 1.0) {
    Object.assign(this, { minCutoff, beta, dCutoff });
    this.reset();
  }

  reset() {
    this.x = null;
    this.dx = 0;
    this.t = null;
  }

  /** The filtered value of sample `x` taken at time `t` (seconds). */
  filter(x, t) {
    if (this.x === null || !(t > this.t)) {
      if (this.x === null) this.x = x;
      this.t = t;
      return this.x;
    }
    const dt = t - this.t;
    const alpha = (cutoff) => 1 / (1 + 1 / (2 * Math.PI * cutoff * dt));
    this.dx += alpha(this.dCutoff) * ((x - this.x) / dt - this.dx);
    this.x += alpha(this.minCutoff + this.beta * Math.abs(this.dx)) * (x - this.x);
    this.t = t;
    return this.x;
  }
}

// Weights (0..1): steady at rest (1.5 Hz), a blink (0 -> 1 in ~0.1 s, ~10/s) passes at ~20 Hz.
export const WEIGHT_FILTER = { minCutoff: 1.5, beta: 2.0 };
// Angles (radians): jitter of ~0.5 degrees removed at rest; a 2 rad/s turn passes at ~7 Hz.
export const ANGLE_FILTER = { minCutoff: 1.0, beta: 3.0 };

/** The name of the same action on the other side: eyeBlinkLeft <-> eyeBlinkRight. */
export function mirroredName(name) {
  if (name.endsWith("Left")) return `${name.slice(0, -4)}Right`;
  if (name.endsWith("Right")) return `${name.slice(0, -5)}Left`;
  return name;
}

/** r[row][column]: the rotation of the pose `matrix` (16 numbers, column-major), scale removed. */
export function rotationOf(matrix) {
  const columns = [0, 4, 8].map((k) => {
    const s = Math.hypot(matrix[k], matrix[k + 1], matrix[k + 2]);
    return [matrix[k] / s, matrix[k + 1] / s, matrix[k + 2] / s];
  });
  return [0, 1, 2].map((row) => columns.map((column) => column[row]));
}

/** {yaw, pitch, roll} (radians; the avatar's head turns by Ry(yaw) Rx(pitch) Rz(roll)) that
 * show the face posed by `matrix` (16 numbers, column-major) as a mirror does: the face turns
 * and tilts towards the same side of the screen as the person does in front of it. yaw > 0:
 * the face turns to the viewer's right; pitch > 0: it looks down; roll > 0: its top tilts to
 * the viewer's left. `neutral` (a rotationOf, or null): the pose taken as straight ahead (an
 * off-axis camera sees a face straight to its screen turned); the turn is measured from it. */
export function mirroredAngles(matrix, neutral = null) {
  let r = rotationOf(matrix);
  if (neutral) {
    // H = N^T R: the head's turn in the frame the neutral pose faces (N^T = N^-1).
    r = r.map((_, i) => [0, 1, 2].map((j) => [0, 1, 2].reduce((sum, k) => sum + neutral[k][i] * r[k][j], 0)));
  }
  // R = Ry(yaw) Rx(pitch) Rz(roll).
  const pitch = Math.asin(Math.min(Math.max(-r[1][2], -1), 1));
  const yaw = Math.atan2(r[0][2], r[2][2]);
  const roll = Math.atan2(r[1][0], r[1][1]);
  // A mirror is the reflection x -> -x: M R M with M = diag(-1, 1, 1) flips yaw and roll.
  return { yaw: -yaw, pitch, roll: -roll };
}

// MediaPipe's eyeWide and noseSneer stay near 0 whatever the face does (mediapipe issue 4450),
// and it has no tongueOut. eyeWide comes from the eyelids' opening instead, measured on the 3D
// landmarks (pose-invariant to ~3% at 25 degrees of yaw) against the person's own resting
// opening; the avatar's eyeWide = 1 opens it by 19% (measured on its renders).
const WIDE_DEADZONE = 0.04; // relative opening below which the eyes are not wide
const WIDE_FULL = 0.15; // relative opening over the dead zone that is eyeWide = 1
const NEUTRAL_S = 4.0; // time constant (s) of the resting opening, followed while the eyes are calm
// MediaPipe's own readings of these two, scaled to reach 1 (they top out near 0.05 to 0.25).
const EYE_WIDE_GAIN = 4.0;
const SNEER_GAIN = 4.0;
// The nose wrinkler (AU9) shows with the brow lowerer (AU4) and upper-lip raiser (AU10), which
// MediaPipe does read: a face doing both is sneering.
const SNEER_FROM_BROW_AND_LIP = 0.8;

// MediaPipe's reading of the avatar's own renders (headforge.web.fakecam, face to the camera,
// each pose held: scripts/mirror_response.py) for these actions at the weights listed: it
// under-reads them (0.66 for a full jaw drop, 0.58 for a shut eye), so a mirror fed the raw score
// would open the mouth two thirds of the way and half-close the eyes. The scores are mapped back
// through this response (piecewise linear; past the last reading: 1). The first reading is a
// dead zone (a closed mouth, open eyes, read at 0.01 to 0.03). A half-shut eye reads 0.14, too
// close to an open one's (0.03) for a third point without a real face's eyes flickering half
// shut: a half blink shows as about 0.1.
export const RESPONSE = {
  jawOpen: [[0.02, 0.2, 0.49, 0.59, 0.66], [0, 0.25, 0.5, 0.75, 1]],
  eyeBlinkLeft: [[0.1, 0.54], [0, 1]],
  eyeBlinkRight: [[0.1, 0.54], [0, 1]],
};

/** `score` mapped through `[readings, weights]` (both increasing). */
function unread(score, [readings, weights]) {
  if (score <= readings[0]) return weights[0];
  for (let i = 1; i < readings.length; i++) {
    if (score <= readings[i]) {
      const f = (score - readings[i - 1]) / (readings[i] - readings[i - 1]);
      return weights[i - 1] + f * (weights[i] - weights[i - 1]);
    }
  }
  return 1;
}

/** Fills in what MediaPipe reads weakly or not at all, on the subject's sides; keeps the
 * person's resting eye opening between frames. */
export class WeakActions {
  constructor() {
    this.rest = { Left: null, Right: null };
  }

  /** scores: {name: 0..1} from MediaPipe; opening: {Left, Right} eyelid gap over eye width
   * (3D landmarks); dt: seconds since the last frame. Returns new scores with eyeWide*,
   * noseSneer* and tongueOut (0: no camera reading of the tongue, so it stays in), and the
   * under-read actions of RESPONSE mapped back. */
  apply(scores, opening, dt) {
    const out = { ...scores, tongueOut: 0 };
    for (const [name, response] of Object.entries(RESPONSE)) {
      if (name in scores) out[name] = unread(scores[name], response);
    }
    for (const side of ["Left", "Right"]) {
      const open = opening[side];
      const calm = scores[`eyeBlink${side}`] < 0.35 && scores.browInnerUp < 0.3 && scores[`browOuterUp${side}`] < 0.3;
      if (this.rest[side] === null) this.rest[side] = open;
      else if (calm) this.rest[side] += (open - this.rest[side]) * (1 - Math.exp(-dt / NEUTRAL_S));
      const wide = clamp01((open / this.rest[side] - 1 - WIDE_DEADZONE) / WIDE_FULL);
      out[`eyeWide${side}`] = Math.max(clamp01(EYE_WIDE_GAIN * (scores[`eyeWide${side}`] ?? 0)), wide);
      const browAndLip = Math.min(scores[`browDown${side}`] ?? 0, scores[`mouthUpperUp${side}`] ?? 0);
      out[`noseSneer${side}`] = Math.max(clamp01(SNEER_GAIN * (scores[`noseSneer${side}`] ?? 0)),
        clamp01(SNEER_FROM_BROW_AND_LIP * browAndLip));
    }
    return out;
  }
}

/** Tracker output -> avatar weights and angles, mirrored and filtered; with no face, the
 * avatar eases back to its rest (its own expression, head straight). */
export class MirrorFilter {
  /** names: the avatar's ARKit action names. */
  constructor(names) {
    this.names = names;
    this.weak = new WeakActions();
    this.weights = Object.fromEntries(names.map((n) => [n, new OneEuro(WEIGHT_FILTER.minCutoff, WEIGHT_FILTER.beta)]));
    this.angles = Object.fromEntries(["yaw", "pitch", "roll"].map((n) => [n, new OneEuro(ANGLE_FILTER.minCutoff, ANGLE_FILTER.beta)]));
    this.last = null;
    this.seen = null; // the rotationOf the last face's pose
    this.neutral = null; // the pose taken as straight ahead (recentre), or the camera's axis
  }

  /** Takes the last face's pose as straight ahead from now on; false when no face was seen. */
  recentre() {
    this.neutral = this.seen;
    return this.neutral !== null;
  }

  /** face: {scores, matrix, opening} or null; rest: {name: weight} the avatar falls back to;
   * t: seconds. Returns {weights: {name: 0..1}, angles: {yaw, pitch, roll}}. */
  update(face, rest, t) {
    const dt = this.last === null ? 0 : t - this.last;
    this.last = t;
    let target;
    let angles = { yaw: 0, pitch: 0, roll: 0 };
    if (face) {
      const scores = this.weak.apply(face.scores, face.opening, dt);
      target = Object.fromEntries(Object.entries(scores).map(([n, v]) => [mirroredName(n), v]));
      this.seen = rotationOf(face.matrix);
      angles = mirroredAngles(face.matrix, this.neutral);
    } else {
      target = rest;
    }
    const weights = {};
    for (const name of this.names) weights[name] = clamp01(this.weights[name].filter(target[name] ?? 0, t));
    const out = {};
    for (const [name, filter] of Object.entries(this.angles)) out[name] = filter.filter(angles[name], t);
    return { weights, angles: out };
  }
}
