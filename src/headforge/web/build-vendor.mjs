// Copies the three.js files the page uses from node_modules into static/vendor/three/, keeping
// three's own layout, and points the add-ons' bare `from 'three'` imports at the copied build,
// so the browser loads plain ES modules with no bundler and no import map. Copies MediaPipe's
// tasks-vision ES module and its wasm (the variant a module worker imports) into
// static/vendor/mediapipe/ for the "Mirror me" tracker. The client pages (static/clients/) load
// TalkingHead and three-vrm, copied unmodified into static/vendor/talkinghead/ and
// static/vendor/three-vrm/; their bare imports are resolved by an import map in those pages.
// Run by `npm run build` (scripts/install.sh does it after `npm ci`); static/vendor/ is not
// committed.
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "node_modules", "three");
const target = join(here, "static", "vendor", "three");
const FILES = [
  "LICENSE",
  "build/three.module.js",
  "build/three.core.js",
  "examples/jsm/controls/OrbitControls.js",
  "examples/jsm/environments/RoomEnvironment.js",
  "examples/jsm/curves/NURBSCurve.js",
  "examples/jsm/curves/NURBSUtils.js",
  "examples/jsm/libs/fflate.module.js",
  "examples/jsm/libs/stats.module.js",
  "examples/jsm/loaders/DRACOLoader.js",
  "examples/jsm/loaders/FBXLoader.js",
  "examples/jsm/loaders/GLTFLoader.js",
  "examples/jsm/utils/BufferGeometryUtils.js",
  "examples/jsm/utils/SkeletonUtils.js",
];
const BARE = /from\s+(['"])three\1/g;

rmSync(target, { recursive: true, force: true });
for (const file of FILES) {
  const from = join(source, file);
  const to = join(target, file);
  mkdirSync(dirname(to), { recursive: true });
  if (!file.endsWith(".js")) {
    copyFileSync(from, to);
    continue;
  }
  let build = relative(dirname(to), join(target, "build", "three.module.js"));
  if (!build.startsWith(".")) build = `./${build}`;
  writeFileSync(to, readFileSync(from, "utf8").replace(BARE, `from '${build}'`));
}
// Every relative import of a copied module must be copied too.
for (const file of FILES.filter((f) => f.endsWith(".js"))) {
  const text = readFileSync(join(target, file), "utf8");
  for (const [, path] of text.matchAll(/from\s+['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const wanted = relative(target, join(dirname(join(target, file)), path));
    if (!FILES.includes(wanted)) throw new Error(`${file} imports ${path}: add ${wanted} to FILES`);
  }
}

// MediaPipe tasks-vision: the page's worker imports vision_bundle.mjs, which imports the wasm
// loader (module variant, SIMD) and fetches its .wasm from the same folder.
const mediapipe = join(here, "node_modules", "@mediapipe", "tasks-vision");
const mediapipeTarget = join(here, "static", "vendor", "mediapipe");
const MEDIAPIPE_FILES = [
  "package.json", // version and licence (Apache-2.0)
  "vision_bundle.mjs",
  "wasm/vision_wasm_module_internal.js",
  "wasm/vision_wasm_module_internal.wasm",
];
rmSync(mediapipeTarget, { recursive: true, force: true });
for (const file of MEDIAPIPE_FILES) {
  mkdirSync(dirname(join(mediapipeTarget, file)), { recursive: true });
  copyFileSync(join(mediapipe, file), join(mediapipeTarget, file));
}
const version = (dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).version;
console.log(`@mediapipe/tasks-vision ${version(mediapipe)} -> ${relative(process.cwd(), mediapipeTarget)}`);
// Unmodified copies: {package: [files]}.
const UNMODIFIED = {
  "@met4citizen/talkinghead": ["LICENSE", "package.json", "modules/talkinghead.mjs", "modules/dynamicbones.mjs",
    "modules/lipsync-en.mjs", "modules/lipsync-fi.mjs", "modules/lipsync-lt.mjs", "modules/playback-worklet.js"],
  "@pixiv/three-vrm": ["LICENSE", "package.json", "lib/three-vrm.module.js"],
};
for (const [name, files] of Object.entries(UNMODIFIED)) {
  const into = join(here, "static", "vendor", name.split("/")[1]);
  rmSync(into, { recursive: true, force: true });
  for (const file of files) {
    mkdirSync(dirname(join(into, file)), { recursive: true });
    copyFileSync(join(here, "node_modules", name, file), join(into, file));
  }
}
console.log(`three.js ${version(source)} -> ${relative(process.cwd(), target)}`);
