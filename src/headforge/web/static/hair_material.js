// Strand shading for the GLB's hair cards (node "hair": TRIANGLES with POSITION, NORMAL,
// TANGENT = strand direction root -> tip, TEXCOORD_0 = (across the card, root 0 -> tip 1),
// COLOR_0 = the strand's linear RGB, baseColorTexture = fibre detail, alpha = fibre coverage).
//
// Kajiya-Kay lighting along the tangent, in view space, for each directional light of the
// scene: a diffuse term sin(T, L) softened by a wrapped N.L (the side of the hair away from
// the light stays in shade), and two highlights after Scheuermann's practical take on
// Marschner's model: a primary (R) highlight in the light's colour, shifted towards the root,
// and a broader secondary (TRT) highlight tinted by the hair's colour, shifted towards the
// tip and broken up along the strand. Roots are darker (the texture's gradient and a
// self-shadow term); each card's colour and highlight shift vary a little with a hash of its
// colour. Edges: alpha-to-coverage on the renderer's MSAA, with the coverage sharpened to
// about one pixel around the material's cutoff, so cards are neither jagged nor sorted.
import * as THREE from "./vendor/three/build/three.module.js";

const vertexShader = /* glsl */ `
#ifndef USE_TANGENT
attribute vec4 tangent;
#endif
varying vec3 vViewPosition;
varying vec3 vNormal;
varying vec3 vTangent;
varying vec2 vUv;
varying vec3 vColor;
varying float vSeed;

void main() {
  vec4 mvPosition = modelViewMatrix * vec4(position, 1.0);
  vViewPosition = -mvPosition.xyz;
  vNormal = normalize(normalMatrix * normal);
  vTangent = normalize((modelViewMatrix * vec4(tangent.xyz, 0.0)).xyz);
  vUv = uv;
#if defined(USE_COLOR) || defined(USE_COLOR_ALPHA)
  vColor = color.rgb;
#else
  vColor = vec3(1.0);
#endif
  vSeed = fract(sin(dot(vColor, vec3(127.1, 311.7, 74.7))) * 43758.5453);
  gl_Position = projectionMatrix * mvPosition;
}
`;

const fragmentShader = /* glsl */ `
uniform sampler2D map;
uniform vec3 tint;
uniform float alphaCutoff;
uniform float ambient;
uniform float rootShade;
uniform float rootLength;
uniform float variation;
uniform vec3 primaryColor;
uniform float primaryShift;
uniform float primaryExponent;
uniform float secondaryStrength;
uniform float secondaryShift;
uniform float secondaryExponent;
varying vec3 vViewPosition;
varying vec3 vNormal;
varying vec3 vTangent;
varying vec2 vUv;
varying vec3 vColor;
varying float vSeed;

#include <common>
#include <lights_pars_begin>

// Kajiya-Kay highlight about tangent t: sin(t, h) ^ exponent, faded where h runs against t.
float strandHighlight(vec3 t, vec3 h, float exponent) {
  float th = dot(t, h);
  return smoothstep(-1.0, 0.0, th) * pow(sqrt(max(0.0, 1.0 - th * th)), exponent);
}

void main() {
  vec4 texel = texture2D(map, vUv);
  // Coverage sharpened to a pixel-wide ramp around the cutoff: alpha-to-coverage turns it into
  // MSAA samples; without MSAA it is an alpha test at the cutoff.
  float coverage = (texel.a - alphaCutoff) / max(fwidth(texel.a), 1e-4) + 0.5;
  if (coverage <= 0.0) discard;
  vec3 n = normalize(vNormal) * (gl_FrontFacing ? 1.0 : -1.0);
  vec3 t = normalize(vTangent);
  vec3 v = normalize(vViewPosition);
  float jitter = vSeed - 0.5;
  float root = mix(rootShade, 1.0, smoothstep(0.0, rootLength, vUv.y));
  vec3 base = vColor * tint * texel.rgb * (1.0 + variation * jitter) * root;
  vec3 t1 = normalize(t + (primaryShift + 0.1 * jitter) * n);
  vec3 t2 = normalize(t + (secondaryShift + 0.1 * jitter) * n);
  float sparkle = 0.55 + 0.45 * sin(vUv.y * 37.0 + vSeed * 40.0);
  vec3 light = base * ambient * (0.6 + 0.4 * max(dot(n, v), 0.0));
#if NUM_DIR_LIGHTS > 0
  for (int i = 0; i < NUM_DIR_LIGHTS; i++) {
    vec3 l = directionalLights[i].direction;
    vec3 c = directionalLights[i].color;
    vec3 h = normalize(l + v);
    float tl = dot(t, l);
    float facing = clamp((dot(n, l) + 0.5) / 1.5, 0.0, 1.0);  // wrapped: the hair's shaded side
    float diffuse = sqrt(max(0.0, 1.0 - tl * tl)) * mix(0.3, 1.0, facing);
    vec3 highlight = primaryColor * strandHighlight(t1, h, primaryExponent)
      + secondaryStrength * sparkle * vColor * tint * strandHighlight(t2, h, secondaryExponent);
    light += c * (base * diffuse + highlight * facing * facing * root);
  }
#endif
  gl_FragColor = vec4(light, clamp(coverage, 0.0, 1.0));
  #include <tonemapping_fragment>
  #include <colorspace_fragment>
}
`;

/** Shading parameters (linear RGB, view-independent); tuned by eye on the page's light rig. */
export const HAIR_SHADING = {
  ambient: 0.55,
  rootShade: 0.55, // colour at the root, relative to the mid-length
  rootLength: 0.25, // fraction of the strand over which the root darkening fades
  variation: 0.16, // per-card lightness spread (peak to peak)
  primaryColor: [0.2, 0.19, 0.18],
  primaryShift: -0.1, // towards the root (tangent root -> tip)
  primaryExponent: 160,
  secondaryStrength: 0.4,
  secondaryShift: 0.15, // towards the tip
  secondaryExponent: 32,
};

/**
 * A ShaderMaterial drawing hair cards with strand shading, from the glTF material that
 * GLTFLoader made for them (its map, colour factor and alpha cutoff are kept).
 */
export function hairMaterial(source, shading = HAIR_SHADING) {
  const uniforms = THREE.UniformsUtils.merge([
    THREE.UniformsLib.lights,
    {
      map: { value: null },
      tint: { value: new THREE.Color(1, 1, 1) },
      alphaCutoff: { value: 0.5 },
      ambient: { value: shading.ambient },
      rootShade: { value: shading.rootShade },
      rootLength: { value: shading.rootLength },
      variation: { value: shading.variation },
      primaryColor: { value: new THREE.Color(...shading.primaryColor) },
      primaryShift: { value: shading.primaryShift },
      primaryExponent: { value: shading.primaryExponent },
      secondaryStrength: { value: shading.secondaryStrength },
      secondaryShift: { value: shading.secondaryShift },
      secondaryExponent: { value: shading.secondaryExponent },
    },
  ]);
  uniforms.map.value = source.map ?? whiteTexture();
  if (source.color) uniforms.tint.value.copy(source.color);
  if (source.alphaTest > 0) uniforms.alphaCutoff.value = source.alphaTest;
  const material = new THREE.ShaderMaterial({
    name: "hair-strands",
    uniforms,
    vertexShader,
    fragmentShader,
    lights: true,
    vertexColors: true,
    side: THREE.DoubleSide,
    alphaToCoverage: true,
  });
  material.userData.strandShading = true;
  return material;
}

let white = null;
function whiteTexture() {
  white ??= new THREE.DataTexture(new Uint8Array([255, 255, 255, 255]), 1, 1);
  white.needsUpdate = true;
  return white;
}

/** Give every hair mesh (triangles) under `root` the strand material; returns how many. */
export function shadeHair(root, isHair) {
  let count = 0;
  root.traverse((object) => {
    if (object.isMesh && isHair(object) && !object.material.userData?.strandShading) {
      const source = object.material;
      object.material = hairMaterial(source);
      source.dispose();
      count += 1;
    }
  });
  return count;
}
