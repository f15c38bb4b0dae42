// "Mirror me": the webcam drives the avatar in the viewer, as a mirror would: its 52 ARKit
// weights, its head (and neck, when the model has a rig) and its gaze (the eyeLook* weights, and
// the eye bones when it has them). The camera is asked for by start() only and released by
// stop(); frames go to the tracker worker (mirror_worker.js) and never leave the browser.
import * as THREE from "./vendor/three/build/three.module.js";
import { MirrorFilter } from "./mirror_tracking.js";

export const MESSAGES = {
  insecure: "The camera needs a secure page: open this page over https (or at http://127.0.0.1 on this computer).",
  no_camera: "No camera was found. Connect one and press Mirror me again.",
  camera_refused: "Camera access was refused. Allow the camera for this page (the icon in the address bar) and press Mirror me again.",
  camera_busy: "The camera is in use by another app. Close that app and press Mirror me again.",
  tracker_failed: "The face tracker could not start in this browser.",
  no_face: "No face in view: look at the camera.",
  several_faces: "Several faces in view: the mirror follows the nearest one.",
};
const CAMERA_ERRORS = {
  NotAllowedError: "camera_refused",
  SecurityError: "camera_refused",
  NotFoundError: "no_camera",
  OverconstrainedError: "no_camera",
  NotReadableError: "camera_busy",
  AbortError: "camera_busy",
};
const CAMERA = { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: "user" };
const GRACE_S = 0.4; // a face lost for less than this is held (one missed frame is no reason to let go)
const NECK_SHARE = 0.4; // of the head's rotation taken by the neck bone, when there is one
const GAZE = { across: THREE.MathUtils.degToRad(30), up: THREE.MathUtils.degToRad(25) }; // at eyeLook* = 1
// Top-level nodes that stay put when a model without a rig turns its head.
const BODY = /body|torso|bust|shoulder|shirt|top|cloth/i;
const SAMPLES = 3000; // per-result history kept for the page's own tests and benchmark
const RAW = ["jawOpen", "eyeBlinkLeft", "eyeBlinkRight"]; // MediaPipe scores kept in that history

class MirrorError extends Error {
  constructor(code, detail = "") {
    super(detail ? `${MESSAGES[code]} (${detail})` : MESSAGES[code]);
    this.code = code;
  }
}

/** Turns the head of one loaded model: its Neck/Head (and LeftEye/RightEye) bones when it has
 * them, else its top-level nodes (all but a body) about a pivot at the top of the neck. */
export class HeadRig {
  constructor(model) {
    this.model = model;
    const bone = (name) => {
      const pattern = new RegExp(`^(mixamorig:?)?${name}$`, "i");
      let found = null;
      model.traverse((o) => {
        if (!found && o.isBone && pattern.test(o.name)) found = o;
      });
      return found;
    };
    this.head = bone("Head");
    this.neck = this.head && bone("Neck");
    this.eyes = this.head ? { Left: bone("LeftEye"), Right: bone("RightEye") } : {};
    this.moved = this.head ? [this.neck, this.head, this.eyes.Left, this.eyes.Right].filter(Boolean)
      : model.children.filter((o) => !BODY.test(o.name));
    this.rest = this.moved.map((o) => ({ position: o.position.clone(), quaternion: o.quaternion.clone() }));
    this.shown = this.head ?? this.moved.find((o) => /head/i.test(o.name)) ?? this.moved[0] ?? model;
    this.shownRest = this.shown.getWorldQuaternion(new THREE.Quaternion());
    if (!this.head) {
      const box = new THREE.Box3().setFromObject(this.shown);
      const size = box.getSize(new THREE.Vector3());
      // About the top of the spine: a third of the way up from the neck's cut, towards the back.
      this.pivot = new THREE.Vector3((box.min.x + box.max.x) / 2, box.min.y + 0.3 * size.y, box.min.z + 0.4 * size.z);
    }
  }

  /** angles: {yaw, pitch, roll} radians (head frame, YXZ); weights: the avatar's, for the gaze. */
  apply(angles, weights) {
    const turn = new THREE.Quaternion().setFromEuler(new THREE.Euler(angles.pitch, angles.yaw, angles.roll, "YXZ"));
    this.restore();
    if (!this.head) {
      this.moved.forEach((o, i) => {
        o.position.copy(this.rest[i].position).sub(this.pivot).applyQuaternion(turn).add(this.pivot);
        o.quaternion.copy(turn).multiply(this.rest[i].quaternion);
      });
      return;
    }
    const neckTurn = new THREE.Quaternion().slerp(turn, this.neck ? NECK_SHARE : 0);
    if (this.neck) this.turnBone(this.neck, neckTurn);
    this.turnBone(this.head, turn.clone().multiply(neckTurn.clone().invert()));
    for (const [side, eye] of Object.entries(this.eyes)) {
      if (!eye) continue;
      const w = (name) => weights[name] ?? 0;
      // Towards the avatar's left (+x) and down, from its own eyeLook* weights.
      const across = side === "Left" ? w("eyeLookOutLeft") - w("eyeLookInLeft") : w("eyeLookInRight") - w("eyeLookOutRight");
      const down = w(`eyeLookDown${side}`) - w(`eyeLookUp${side}`);
      const gaze = new THREE.Quaternion().setFromEuler(new THREE.Euler(down * GAZE.up, across * GAZE.across, 0, "YXZ"));
      this.turnBone(eye, turn.clone().multiply(gaze).multiply(turn.clone().invert()));
    }
  }

  /** Rotates `bone` by the world-frame rotation `delta` from where its parent now holds it. */
  turnBone(bone, delta) {
    bone.parent.updateWorldMatrix(true, false);
    const parent = bone.parent.getWorldQuaternion(new THREE.Quaternion());
    bone.quaternion.copy(parent.clone().invert().multiply(delta).multiply(parent).multiply(bone.quaternion));
  }

  /** The head's turn as now shown: degrees about the vertical (YXZ) from its rest. */
  turnDeg() {
    this.shown.updateWorldMatrix(true, false);
    const q = this.shown.getWorldQuaternion(new THREE.Quaternion()).multiply(this.shownRest.clone().invert());
    return THREE.MathUtils.radToDeg(new THREE.Euler().setFromQuaternion(q, "YXZ").y);
  }

  restore() {
    this.moved.forEach((o, i) => {
      o.position.copy(this.rest[i].position);
      o.quaternion.copy(this.rest[i].quaternion);
    });
  }
}

export class Mirror {
  /**
   * viewer: the page's Viewer; video: a <video> that shows the camera (the page mirrors it);
   * names: the avatar's ARKit action names; rest(): {name: weight} the avatar shows without a
   * face in view; onWeights({name: weight}): the tracked face, to compose and show;
   * onStatus(running, code, message): the mirror's state and what to tell the user (code null:
   * nothing to say).
   */
  constructor({ viewer, video, names, rest, onWeights, onStatus }) {
    Object.assign(this, { viewer, video, names, rest, onWeights, onStatus });
    this.running = false;
    this.samples = [];
    this.frames = [];
    this.session = 0;
  }

  async start() {
    if (this.running) return;
    const session = ++this.session;
    this.running = true;
    this.samples = [];
    this.frames = [];
    this.report(null);
    try {
      if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) throw new MirrorError("insecure");
      const [stream, worker] = await Promise.all([this.openCamera(), this.startTracker()]);
      if (session !== this.session) {
        stream.getTracks().forEach((track) => track.stop());
        worker.terminate();
        return;
      }
      Object.assign(this, { stream, worker, filter: new MirrorFilter(this.names), rig: null, busy: false });
      this.video.srcObject = stream;
      await this.video.play();
      worker.onmessage = ({ data }) => this.onResult(data);
      this.lastFace = -Infinity;
      this.lastTime = 0;
      this.viewer.onFrame = (time) => this.onFrame(time);
      this.viewer.resetView(0); // face the user, as a mirror does
      this.report(null);
    } catch (error) {
      if (session !== this.session) return;
      this.stop();
      this.report(error.code ?? "tracker_failed", error.code ? error.message : `${MESSAGES.tracker_failed} (${error.message})`);
    }
  }

  stop() {
    this.session++;
    this.running = false;
    this.viewer.onFrame = null;
    this.stream?.getTracks().forEach((track) => track.stop());
    if (this.worker) {
      this.worker.onmessage = null;
      this.worker.postMessage({ type: "close" });
    }
    this.rig?.restore();
    this.viewer.invalidate(); // the face and head as they were
    this.video.srcObject = null;
    Object.assign(this, { stream: null, worker: null, rig: null, filter: null });
    this.pendingWorker?.terminate();
    this.report(null);
  }

  /** Takes the head's pose now as straight ahead (for a camera off to one side or tilted). */
  recentre() {
    if (this.filter && !this.filter.recentre()) this.report("no_face");
  }

  async openCamera() {
    try {
      return await navigator.mediaDevices.getUserMedia({ video: CAMERA, audio: false });
    } catch (error) {
      throw new MirrorError(CAMERA_ERRORS[error.name] ?? "no_camera", error.message);
    }
  }

  startTracker() {
    const worker = new Worker(new URL("./mirror_worker.js", import.meta.url), { type: "module" });
    this.pendingWorker = worker;
    return new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        this.pendingWorker = null;
        if (data.type === "ready") resolve(worker);
        else {
          worker.terminate();
          reject(new Error(data.message));
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        this.pendingWorker = null;
        worker.terminate();
        reject(new Error(event.message || "the tracker's script did not load"));
      };
      worker.postMessage({ type: "init" });
    });
  }

  /** Each display frame: send the camera's newest frame when the tracker is free; draw only
   * when the avatar or the view changed (a software-WebGL render takes the CPU the tracker
   * needs, and both share the browser's one GPU process). */
  onFrame(time, moved) {
    this.grab();
    const draw = moved || this.changed;
    this.changed = false;
    if (draw) {
      this.frames.push({ time, renderMs: this.viewer.renderMs });
      if (this.frames.length > SAMPLES) this.frames.shift();
    }
    return draw;
  }

  grab() {
    const video = this.video;
    if (this.busy || video.readyState < 2 || video.currentTime === this.videoTime) return;
    this.videoTime = video.currentTime;
    this.busy = true;
    const worker = this.worker;
    const stamp = Math.max(Math.round(performance.now()), this.lastTime + 1);
    this.lastTime = stamp;
    createImageBitmap(video).then(
      (frame) => (worker === this.worker ? worker.postMessage({ type: "frame", frame, time: stamp }, [frame]) : frame.close()),
      () => {
        this.busy = false;
      },
    );
  }

  onResult(data) {
    this.busy = false;
    if (!this.running) return;
    if (data.type === "error") {
      this.stop();
      this.report("tracker_failed", `${MESSAGES.tracker_failed} (${data.message})`);
      return;
    }
    const t = data.time / 1000;
    let face = data.face;
    if (face) {
      this.lastFace = t;
      this.heldFace = face;
    } else if (t - this.lastFace < GRACE_S) {
      face = this.heldFace;
    }
    const { weights, angles } = this.filter.update(face, this.rest(), t);
    if (this.rig?.model !== this.viewer.model) this.rig = this.viewer.model ? new HeadRig(this.viewer.model) : null;
    this.rig?.apply(angles, weights);
    this.onWeights(weights);
    this.changed = true;
    this.report(face ? (data.faces > 1 ? "several_faces" : null) : "no_face");
    this.samples.push({
      time: data.time, doneMs: performance.now(), trackMs: data.trackMs, faces: data.faces,
      jawOpen: weights.jawOpen, eyeBlinkLeft: weights.eyeBlinkLeft, eyeBlinkRight: weights.eyeBlinkRight,
      yaw: THREE.MathUtils.radToDeg(angles.yaw), pitch: THREE.MathUtils.radToDeg(angles.pitch),
      roll: THREE.MathUtils.radToDeg(angles.roll), turned: this.rig?.turnDeg() ?? 0,
      raw: data.face ? Object.fromEntries(RAW.map((name) => [name, data.face.scores[name]])) : null,
    });
    if (this.samples.length > SAMPLES) this.samples.shift();
  }

  report(code, message = code && MESSAGES[code]) {
    const said = [this.running, code, message];
    if (this.said?.every((v, i) => v === said[i])) return;
    this.said = said;
    this.onStatus(...said);
  }
}
