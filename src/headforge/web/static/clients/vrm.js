// A headforge avatar.vrm (?src=URL) loaded by three-vrm's VRMLoaderPlugin, unmodified: the
// expression manager drives the face (a select of every expression), the camera frames the
// head. window.headforgeClient is what the browser test drives.
import * as THREE from "three";
import { GLTFLoader } from "three/addons/loaders/GLTFLoader.js";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { VRMLoaderPlugin } from "/static/vendor/three-vrm/lib/three-vrm.module.js";

const status = document.getElementById("status");
const src = new URLSearchParams(location.search).get("src");
const view = new URLSearchParams(location.search).get("view") || "face";

async function main() {
  if (!src) throw new Error("add ?src=URL of an avatar.vrm");
  const node = document.getElementById("avatar");
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio);
  renderer.setSize(node.clientWidth, node.clientHeight);
  node.append(renderer.domElement);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x20242a);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x444455, 2.2));
  const sun = new THREE.DirectionalLight(0xffffff, 2.0);
  sun.position.set(0.5, 2.0, 2.0);
  scene.add(sun);
  const camera = new THREE.PerspectiveCamera(30, node.clientWidth / node.clientHeight, 0.05, 20);
  const controls = new OrbitControls(camera, renderer.domElement);

  const loader = new GLTFLoader();
  loader.register((parser) => new VRMLoaderPlugin(parser));
  const gltf = await loader.loadAsync(src);
  const vrm = gltf.userData.vrm;
  if (!vrm) throw new Error("no VRM in the file");
  scene.add(vrm.scene);
  const head = vrm.humanoid.getNormalizedBoneNode("head");
  vrm.scene.updateMatrixWorld(true);
  const target = new THREE.Vector3();
  head.getWorldPosition(target);
  if (view === "body") {
    target.y *= 0.55;
    camera.position.set(0, target.y, 4.6);
  } else {
    target.y += 0.06;
    camera.position.set(0, target.y, 1.0);
  }
  controls.target.copy(target);
  controls.update();

  const select = document.getElementById("expression");
  const names = Object.keys(vrm.expressionManager.expressionMap);
  for (const name of ["neutral", ...names]) select.add(new Option(name, name));
  const setExpression = (name, value = 1) => {
    for (const other of names) vrm.expressionManager.setValue(other, 0);
    if (name !== "neutral") vrm.expressionManager.setValue(name, value);
    vrm.update(0);
    renderer.render(scene, camera);
  };
  select.addEventListener("change", () => setExpression(select.value));

  const timer = new THREE.Timer();
  renderer.setAnimationLoop(() => {
    timer.update();
    vrm.update(timer.getDelta());
    renderer.render(scene, camera);
  });
  // The largest morph target influence on the face mesh, by target name.
  const influence = (meshName, target) => {
    let value = null;
    vrm.scene.traverse((o) => {
      if (o.name === meshName && o.morphTargetDictionary && target in o.morphTargetDictionary) {
        value = o.morphTargetInfluences[o.morphTargetDictionary[target]];
      }
    });
    return value;
  };
  // The frame as (W * H * 4) RGBA bytes at a quarter of the size, rendered now.
  const small = document.createElement("canvas");
  const pixels = () => {
    renderer.render(scene, camera);
    small.width = renderer.domElement.width >> 2;
    small.height = renderer.domElement.height >> 2;
    const context = small.getContext("2d", { willReadFrequently: true });
    context.drawImage(renderer.domElement, 0, 0, small.width, small.height);
    return Array.from(context.getImageData(0, 0, small.width, small.height).data);
  };
  window.headforgeClient = { vrm, names, setExpression, influence, pixels,
    humanBones: Object.keys(vrm.humanoid.humanBones), meta: vrm.meta };
  status.textContent = "ready";
  status.dataset.state = "ready";
}

main().catch((error) => {
  status.textContent = `error: ${error.message}`;
  status.dataset.state = "error";
  window.headforgeClient = { error: String(error) };
});
