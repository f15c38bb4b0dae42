// The headforge page: upload (picker, drag and drop, camera), stage-by-stage progress, the 3D
// viewer, emotion sliders evaluated in the browser (emotion_mlp.js, no round trip), the
// hairstyle gallery, "Mirror me" (the webcam drives the avatar: mirror.js) and the zip download.
import "/lib/emotion_mlp.js"; // defines globalThis.HeadforgeEmotion
import * as api from "./api.js";

const EMOTIONS = ["happiness", "anger", "sadness", "fear", "contempt", "surprise"];
const STAGES = [
  ["queued", "Waiting for a free worker"],
  ["load", "Reading the photo"],
  ["detect", "Finding the face"],
  ["fit", "Fitting the head"],
  ["texture", "Painting the skin"],
  ["normal_map", "Adding skin detail"],
  ["preview", "Rendering previews"],
  ["export", "Packing the files"],
];
const ADVICE = {
  no_face: "We could not find a face in this photo. Use a photo where one face looks at the camera.",
  several_faces: "There are several faces in this photo. Crop it to one person and try again.",
  face_too_small: "The face is too small in this photo. Use a closer portrait.",
  bad_image: "This file is not a photo we can read. Use a JPEG, PNG or WebP picture.",
  unsupported_format: "This kind of file is not supported. Use a JPEG, PNG or WebP picture.",
  image_too_large: "This photo is too large.",
  image_too_small: "This photo is too small. Use a larger portrait.",
  rate_limited: "You are going a little fast. Wait a few seconds and try again.",
  queue_full: "We are busy right now. Try again in a minute.",
  worker_lost: "Something went wrong while making your head. Please try again.",
  timed_out: "Making your head took too long. Please try again.",
};
const POLL_MS = 400;
const VIEWER_STRANDS = 10000; // hair strands the viewer's cards are built from (the zip keeps them all)

const $ = (id) => document.getElementById(id);
const state = {
  job: null,
  mapping: null,
  base: null, // the photo's fitted expression, in mapping.actions order
  keepExpression: true,
  emotions: Object.fromEntries(EMOTIONS.map((e) => [e, 0])),
  hair: undefined, // undefined: as the job was made
  viewer: null,
  mirror: null,
  live: null, // while mirroring: the tracked face, in mapping.actions order, in place of base
};

function showMessage(error) {
  const box = $("message");
  if (!error) {
    box.hidden = true;
    return;
  }
  const advice = ADVICE[error.code];
  box.textContent = advice ? `${advice} (${error.message})` : error.message;
  box.dataset.code = error.code ?? "";
  box.hidden = false;
}

function setViewerState(name) {
  $("viewer").dataset.state = name;
  $("drop").hidden = name !== "empty";
  $("progress").hidden = name !== "working";
  $("viewer-tools").hidden = name !== "ready";
  $("panel").hidden = name !== "ready";
  if (name !== "ready") state.mirror?.stop();
}

function renderStages(job) {
  const current = STAGES.findIndex(([key]) => key === job.stage);
  $("stages").replaceChildren(
    ...STAGES.map(([key, label], i) => {
      const item = document.createElement("li");
      item.textContent = label;
      item.className = job.state === "done" || i < current ? "done" : i === current ? "active" : "";
      item.dataset.stage = key;
      return item;
    }),
  );
  $("meter-fill").style.width = `${Math.round(100 * job.progress)}%`;
}

async function startJob(file) {
  if (!file) return;
  showMessage(null);
  $("thumb").src = URL.createObjectURL(file);
  setViewerState("working");
  renderStages({ stage: "queued", state: "queued", progress: 0 });
  try {
    let job = await api.createJob(file, $("body-choice").value);
    while (job.state === "queued" || job.state === "running") {
      renderStages(job);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await api.jobStatus(job.id);
    }
    renderStages(job);
    if (job.state === "failed") throw new api.ApiError(job.error.code, job.error.message, 200);
    await showResult(job);
  } catch (error) {
    setViewerState("empty");
    showMessage(error);
  }
}

/** The GLB the viewer shows: a full-body job's own rigged body (its photo hair) until a
 * hairstyle is tried; otherwise (and for every try-on) a light re-export of the head. */
async function viewerGlb(job, hair) {
  if (job.options.body === "full" && hair === undefined) return api.arrayBuffer(job.links.glb);
  const exported = await api.createExport(job.id, {}, hair, VIEWER_STRANDS);
  return api.arrayBuffer(exported.glb);
}

async function showResult(job) {
  const [params, glb, viewerModule] = await Promise.all([
    api.params(job.id),
    viewerGlb(job, undefined),
    import("./viewer.js"),
  ]);
  state.job = job;
  state.hair = undefined;
  state.keepExpression = params.emotions?.expression !== "neutral";
  const fitted = params.expression.fitted_arkit;
  state.base = state.mapping.actions.map((name) => fitted[name] ?? 0);
  state.viewer ??= new viewerModule.Viewer($("viewer"));
  await state.viewer.load(glb, true);
  showBodyLinks(job);
  for (const name of EMOTIONS) state.emotions[name] = job.options.emotions[name] ?? 0;
  syncSliders();
  applyEmotions();
  $("hair-toggle").disabled = !state.viewer.hasHair();
  markSelectedHair(job.options.hair);
  $("viewer").dataset.job = job.id;
  setViewerState("ready");
}

function applyEmotions() {
  let weights;
  if (state.live) {
    // Mirroring: the live face, the sliders' own actions added to it (it moves at any setting).
    const added = HeadforgeEmotion.emotionActions(state.mapping, state.emotions);
    weights = state.live.map((v, i) => Math.min(Math.max(v + added[i], 0), 1));
  } else {
    weights = HeadforgeEmotion.applyEmotions(state.mapping, state.base, state.emotions, state.keepExpression);
  }
  state.viewer.setMorphs(Object.fromEntries(state.mapping.actions.map((name, i) => [name, weights[i]])));
}

function buildSliders() {
  $("sliders").replaceChildren(
    ...EMOTIONS.map((name) => {
      const row = document.createElement("label");
      row.className = "slider";
      const title = document.createElement("span");
      title.textContent = name;
      const input = document.createElement("input");
      Object.assign(input, { type: "range", min: "0", max: "1", step: "0.01", value: "0", id: `emotion-${name}` });
      input.addEventListener("input", () => {
        state.emotions[name] = Number(input.value);
        if (state.viewer && state.base) applyEmotions();
      });
      row.append(title, input);
      return row;
    }),
  );
}

function syncSliders() {
  for (const name of EMOTIONS) $(`emotion-${name}`).value = String(state.emotions[name]);
}

async function buildGallery() {
  let styles = [];
  try {
    styles = await api.hairstyles();
  } catch {
    // no catalogue: the gallery stays hidden
  }
  if (!styles.length) return;
  const tile = (id, name, thumbnail) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "tile";
    button.dataset.style = id;
    button.setAttribute("role", "listitem");
    button.title = name;
    if (thumbnail) {
      const img = document.createElement("img");
      Object.assign(img, { src: thumbnail, alt: name, loading: "lazy" });
      button.append(img);
    } else {
      button.textContent = name;
    }
    button.addEventListener("click", () => chooseHair(id));
    return button;
  };
  $("gallery").replaceChildren(tile("none", "No hair"), ...styles.map((s) => tile(s.id, s.name, s.thumbnail)));
  $("hair-section").hidden = false;
}

function markSelectedHair(id) {
  for (const tile of $("gallery").children) tile.classList.toggle("selected", tile.dataset.style === id);
}

async function chooseHair(id) {
  if (!state.job) return;
  showMessage(null);
  markSelectedHair(id);
  const tile = $("gallery").querySelector(`[data-style="${CSS.escape(id)}"]`);
  tile?.classList.add("loading");
  try {
    // A full-body job's first try-on swaps its body for the head: frame the head.
    const reframe = state.job.options.body === "full" && state.hair === undefined;
    await state.viewer.load(await viewerGlb(state.job, id), reframe);
    state.hair = id;
    applyEmotions();
    $("hair-toggle").disabled = !state.viewer.hasHair();
    $("viewer").dataset.hair = id;
  } catch (error) {
    showMessage(error);
  } finally {
    tile?.classList.remove("loading");
  }
}

/** A full-body job: links to our client pages with its GLB and VRM, and to its own zip (the
 * viewer shows the body; hairstyle try-ons and the Download button's zip are of the head). */
function showBodyLinks(job) {
  const full = job.options.body === "full";
  $("body-links").hidden = !full;
  if (!full) return;
  $("open-talkinghead").href = `/clients/talkinghead?src=${encodeURIComponent(job.links.glb)}`;
  $("open-vrm").href = `/clients/vrm?src=${encodeURIComponent(job.links.glb.replace(/\.glb$/, ".vrm"))}`;
  $("body-zip").href = job.links.zip;
}

async function download() {
  if (!state.job) return;
  showMessage(null);
  try {
    const exported = await api.createExport(state.job.id, state.emotions, state.hair);
    const link = document.createElement("a");
    link.href = exported.zip;
    link.download = `avatar-${state.job.id.slice(0, 8)}.zip`;
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    showMessage(error);
  }
}

function wireUpload() {
  const drop = $("viewer");
  $("file").addEventListener("change", (e) => startJob(e.target.files[0]));
  $("camera").addEventListener("change", (e) => startJob(e.target.files[0]));
  // Camera capture is offered where the browser has one: phones and tablets (coarse pointer).
  const touch = window.matchMedia("(pointer: coarse)").matches;
  $("camera-button").hidden = !touch;
  if (touch) document.querySelector(".drop-title").textContent = "Start with a portrait";
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if ($("viewer").dataset.state !== "working") startJob(e.dataTransfer.files[0]);
  });
}

/** "Mirror me" / "Stop": the camera is asked for on the press, released on Stop. */
async function toggleMirror() {
  if (state.mirror?.running) {
    state.mirror.stop();
    return;
  }
  if (!state.mirror) {
    const { Mirror } = await import("./mirror.js");
    const actions = state.mapping.actions;
    state.mirror = new Mirror({
      viewer: state.viewer,
      video: $("mirror-video"),
      names: actions,
      rest: () => Object.fromEntries(actions.map((name, i) => [name, state.keepExpression ? state.base[i] : 0])),
      onWeights: (weights) => {
        state.live = actions.map((name) => weights[name]);
        applyEmotions();
      },
      onStatus: showMirrorStatus,
    });
  }
  await state.mirror.start();
}

function showMirrorStatus(running, code, message) {
  const button = $("mirror-toggle");
  button.textContent = running ? "Stop" : "Mirror me";
  button.setAttribute("aria-pressed", String(running));
  $("viewer").dataset.mirror = running ? "on" : "off";
  $("mirror-video").hidden = !running;
  $("mirror-recentre").hidden = !running;
  const box = $("mirror-message");
  box.hidden = !code;
  box.textContent = message ?? "";
  box.dataset.code = code ?? "";
  box.dataset.level = running ? "info" : "error";
  if (!running && state.live) {
    state.live = null;
    applyEmotions();
  }
}

async function main() {
  wireUpload();
  buildSliders();
  $("reset-emotions").addEventListener("click", () => {
    for (const name of EMOTIONS) state.emotions[name] = 0;
    syncSliders();
    applyEmotions();
  });
  $("hair-toggle").addEventListener("change", (e) => state.viewer?.setHairVisible(e.target.checked));
  $("reset-view").addEventListener("click", () => state.viewer?.resetView());
  $("new-photo").addEventListener("click", () => {
    showMessage(null);
    setViewerState("empty");
  });
  $("download").addEventListener("click", download);
  $("mirror-toggle").addEventListener("click", toggleMirror);
  $("mirror-recentre").addEventListener("click", () => state.mirror?.recentre());
  globalThis.headforgePage = state; // read by the page's browser tests and benchmark
  setViewerState("empty");
  try {
    state.mapping = await api.emotionMapping();
  } catch (error) {
    showMessage(error);
  }
  await buildGallery();
}

main();
