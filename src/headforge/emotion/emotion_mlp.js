/* headforge emotion sliders in the browser: evaluates emotion_mlp.json (shipped in every avatar
 * zip) exactly as headforge.emotion does in Python, so the sliders move at display rate.
 *
 *   const mapping = await (await fetch("emotion_mlp.json")).json();
 *   const weights = HeadforgeEmotion.applyEmotions(mapping, base, {happiness: 0.8}, true);
 *   // weights[i] is the morph target weight of mapping.actions[i]; base: params.json
 *   // expression.fitted_arkit in the same order (ignored when keepExpression is false).
 *
 * Plain script, no bundler: defines the global HeadforgeEmotion, or module.exports under node.
 */
(function (root, factory) {
  if (typeof module === "object" && module.exports) module.exports = factory();
  else root.HeadforgeEmotion = factory();
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  /** Intensities {name: value in [0, 1]} -> array in mapping.emotions order; throws on bad input. */
  function intensityVector(mapping, emotions) {
    const x = mapping.emotions.map(() => 0);
    for (const [name, value] of Object.entries(emotions)) {
      const i = mapping.emotions.indexOf(name);
      if (i < 0) throw new Error(`unknown emotion ${name}; choose from ${mapping.emotions.join(", ")}`);
      const v = Number(value);
      if (!(v >= 0 && v <= 1)) throw new Error(`emotion ${name}: intensity ${value} is not in [0, 1]`);
      x[i] = v;
    }
    return x;
  }

  /** f(x): dense layers, ReLU between them. */
  function hidden(mapping, x) {
    let h = x;
    mapping.layers.forEach((layer, l) => {
      h = layer.weight.map((row, o) => {
        let s = layer.bias[o];
        for (let i = 0; i < row.length; i++) s += row[i] * h[i];
        return l < mapping.layers.length - 1 ? Math.max(s, 0) : s;
      });
    });
    return h;
  }

  /** The 52 facial actions of the emotions alone: clip(f(x) - f(0), 0, 1). */
  function emotionActions(mapping, emotions) {
    const x = intensityVector(mapping, emotions);
    const fx = hidden(mapping, x);
    const f0 = hidden(mapping, x.map(() => 0));
    return fx.map((v, i) => Math.min(Math.max(v - f0[i], 0), 1));
  }

  /** One eyelid or lip limit (see the JSON's "combine" rule); kept: the photo's remaining part. */
  function applyLimit(mapping, limit, a, kept) {
    const cols = limit.actions.map((n) => mapping.actions.indexOf(n));
    const closing = cols.map((_, j) => limit.closure.some((row) => row[j] > 0));
    let scale = 1;
    for (const row of limit.closure) {
      let shut = 0;
      let rest = 0;
      let own = 0;
      cols.forEach((k, j) => {
        own += row[j] * kept[k];
        if (closing[j]) shut += row[j] * a[k];
        else rest += row[j] * a[k];
      });
      if (shut > 0) scale = Math.min(scale, (Math.max(own, 1) - rest) / shut);
    }
    const out = a.slice();
    cols.forEach((k, j) => {
      if (closing[j]) out[k] = a[k] * scale;
    });
    return out;
  }

  /** base (52 numbers, mapping.actions order) + emotions -> the avatar's 52 morph weights. */
  function applyEmotions(mapping, base, emotions, keepExpression) {
    const x = intensityVector(mapping, emotions);
    const strongest = Math.max(...x);
    const e = emotionActions(mapping, emotions);
    const kept = e.map((_, i) => (keepExpression ? base[i] : 0) * (1 - strongest));
    let a = e.map((v, i) => Math.min(Math.max(kept[i] + v, 0), 1));
    for (const limit of mapping.limits) a = applyLimit(mapping, limit, a, kept);
    return a;
  }

  return { emotionActions, applyEmotions };
});
