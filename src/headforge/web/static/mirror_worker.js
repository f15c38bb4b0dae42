// The "Mirror me" face tracker, off the page's main thread: MediaPipe's FaceLandmarker (wasm on
// the CPU, VIDEO mode, blendshapes and pose matrices on) over the frames the page posts. Its wasm
// comes from static/vendor (npm), its model from our own server; frames stay in this browser.
//
// in:  {type: "init"} | {type: "frame", frame: ImageBitmap, time: ms (increasing)} | {type: "close"}
// out: {type: "ready"} | {type: "error", message}
//      {type: "result", time, trackMs, faces: n, face: {scores, matrix, opening} | null}
import { FaceLandmarker, FilesetResolver } from "./vendor/mediapipe/vision_bundle.mjs";

const WASM = new URL("./vendor/mediapipe/wasm", import.meta.url).href;
const MODEL = new URL("/lib/face_landmarker.task", import.meta.url).href;
const MAX_FACES = 2; // two, to tell the page when several people are in view
// Landmarks of the eyelids (upper, lower) and eye corners (outer, inner), subject's sides.
const EYES = { Left: [386, 374, 263, 362], Right: [159, 145, 33, 133] };

let landmarker = null;

async function init() {
  const files = await FilesetResolver.forVisionTasks(WASM, true);
  landmarker = await FaceLandmarker.createFromOptions(files, {
    baseOptions: { modelAssetPath: MODEL, delegate: "CPU" },
    runningMode: "VIDEO",
    numFaces: MAX_FACES,
    outputFaceBlendshapes: true,
    outputFacialTransformationMatrixes: true,
  });
}

/** Eyelid gap over eye width per eye, on landmarks scaled to pixels (x, y and z alike). */
function eyeOpening(points, width, height) {
  const at = (i) => [points[i].x * width, points[i].y * height, points[i].z * width];
  const distance = (a, b) => Math.hypot(...at(a).map((v, k) => v - at(b)[k]));
  const out = {};
  for (const [side, [upper, lower, outer, inner]] of Object.entries(EYES)) {
    out[side] = distance(upper, lower) / distance(outer, inner);
  }
  return out;
}

/** Index of the largest face (landmark box area in the image), the one the mirror follows. */
function largest(faces) {
  const area = (points) => {
    const xs = points.map((p) => p.x);
    const ys = points.map((p) => p.y);
    return (Math.max(...xs) - Math.min(...xs)) * (Math.max(...ys) - Math.min(...ys));
  };
  const areas = faces.map(area);
  return areas.indexOf(Math.max(...areas));
}

function track(frame, time) {
  const start = performance.now();
  const result = landmarker.detectForVideo(frame, time);
  const trackMs = performance.now() - start;
  const n = result.faceLandmarks.length;
  let face = null;
  if (n && result.faceBlendshapes.length === n && result.facialTransformationMatrixes.length === n) {
    const i = largest(result.faceLandmarks);
    face = {
      scores: Object.fromEntries(result.faceBlendshapes[i].categories.map((c) => [c.categoryName, c.score])),
      matrix: Array.from(result.facialTransformationMatrixes[i].data),
      opening: eyeOpening(result.faceLandmarks[i], frame.width, frame.height),
    };
  }
  return { type: "result", time, trackMs, faces: n, face };
}

self.onmessage = async ({ data }) => {
  if (data.type === "init") {
    try {
      await init();
      self.postMessage({ type: "ready" });
    } catch (error) {
      self.postMessage({ type: "error", message: String(error?.message ?? error) });
    }
  } else if (data.type === "close") {
    landmarker?.close(); // frees the graph; its usage-metrics flush is refused by the page's CSP
    self.close();
  } else if (data.type === "frame") {
    try {
      self.postMessage(track(data.frame, data.time));
    } catch (error) {
      self.postMessage({ type: "error", message: String(error?.message ?? error) });
    } finally {
      data.frame.close();
    }
  }
};
