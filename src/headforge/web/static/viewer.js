// The 3D viewer: one GLB at a time under neutral studio light, orbit and zoom, ARKit morph
// targets set by name, hair shown or hidden; hair cards drawn with strand shading
// (hair_material.js). three.js comes from static/vendor (built from npm).
import * as THREE from "./vendor/three/build/three.module.js";
import { OrbitControls } from "./vendor/three/examples/jsm/controls/OrbitControls.js";
import { RoomEnvironment } from "./vendor/three/examples/jsm/environments/RoomEnvironment.js";
import { GLTFLoader } from "./vendor/three/examples/jsm/loaders/GLTFLoader.js";
import { shadeHair } from "./hair_material.js";

const isHair = (object) => /hair/i.test(object.name);

export class Viewer {
  constructor(container) {
    this.container = container;
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    this.renderer.outputColorSpace = THREE.SRGBColorSpace;
    this.renderer.toneMapping = THREE.NeutralToneMapping;
    container.prepend(this.renderer.domElement);

    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(0xeceef1);
    const pmrem = new THREE.PMREMGenerator(this.renderer);
    this.scene.environment = pmrem.fromScene(new RoomEnvironment(), 0.04).texture;
    this.scene.environmentIntensity = 0.75;
    pmrem.dispose();
    const key = new THREE.DirectionalLight(0xffffff, 1.1);
    key.position.set(-0.6, 0.7, 1.0);
    this.scene.add(key);

    this.camera = new THREE.PerspectiveCamera(22, 1, 0.01, 20);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.controls.enableDamping = true;
    this.controls.enablePan = false;
    this.controls.minDistance = 0.25;
    this.controls.maxDistance = 2.5;

    this.model = null;
    this.hairVisible = true;
    this.loader = new GLTFLoader();
    new ResizeObserver(() => this.resize()).observe(container);
    this.resize();
    // Called each display frame with its time (ms) and whether the view moved; it decides
    // whether to draw ("Mirror me": only when the avatar or the view changed). Without it the
    // viewer draws on demand: when the view moves or invalidate() was called (an idle page
    // draws nothing, which a software-WebGL machine feels).
    this.onFrame = null;
    this.dirty = true;
    this.renderMs = 0; // how long the last render() call took (ms)
    this.renderer.setAnimationLoop((time) => {
      const moved = this.controls.update();
      const draw = this.onFrame ? this.onFrame(time, moved) !== false : moved || this.dirty;
      if (!draw) return;
      this.dirty = false;
      const start = performance.now();
      this.renderer.render(this.scene, this.camera);
      this.renderMs = performance.now() - start;
    });
  }

  /** Draw again at the next display frame (the scene changed outside the viewer's methods). */
  invalidate() {
    this.dirty = true;
  }

  resize() {
    const { clientWidth: w, clientHeight: h } = this.container;
    if (!w || !h) return;
    this.renderer.setSize(w, h);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.invalidate();
  }

  /** Show the GLB in `buffer`, replacing the current model; the view is kept unless `frame`. */
  async load(buffer, frame = false) {
    const gltf = await this.loader.parseAsync(buffer, "");
    if (this.model) {
      this.scene.remove(this.model);
      this.model.traverse((o) => o.geometry?.dispose());
    }
    this.model = gltf.scene;
    this.container.dataset.hairShaded = String(shadeHair(this.model, isHair));
    this.scene.add(this.model);
    this.setHairVisible(this.hairVisible);
    if (frame) this.resetView();
    this.invalidate();
  }

  /** Frames the model (a head or a whole body); yaw (radians) of the camera about it, by
   * default a three-quarter view that shows the head is 3D ("Mirror me" faces it: 0). The
   * zoom-out limit grows with the model (a body needs more than a head's 2.5 m). */
  resetView(yaw = 0.35) {
    if (!this.model) return;
    const box = new THREE.Box3().setFromObject(this.model);
    const centre = box.getCenter(new THREE.Vector3());
    const size = box.getSize(new THREE.Vector3()).length();
    this.controls.target.copy(centre);
    const distance = size * 1.9;
    this.controls.maxDistance = Math.max(2.5, distance * 1.5);
    this.camera.position.set(centre.x + distance * Math.sin(yaw), centre.y + size * 0.05, centre.z + distance * Math.cos(yaw));
    this.controls.update();
    this.invalidate();
  }

  /** Morph weights by ARKit name ({name: weight}) on every mesh that has those targets. */
  setMorphs(weights) {
    this.model?.traverse((object) => {
      const dictionary = object.morphTargetDictionary;
      if (!dictionary) return;
      for (const [name, value] of Object.entries(weights)) {
        const index = dictionary[name];
        if (index !== undefined) object.morphTargetInfluences[index] = value;
      }
    });
    this.invalidate();
  }

  hasHair() {
    let found = false;
    this.model?.traverse((object) => {
      found ||= isHair(object);
    });
    return found;
  }

  setHairVisible(visible) {
    this.hairVisible = visible;
    this.model?.traverse((object) => {
      if (isHair(object)) object.visible = visible;
    });
    this.invalidate();
  }
}
