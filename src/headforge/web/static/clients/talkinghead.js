// A headforge avatar (?src=URL of a full-body avatar.glb; default: the latest job's is not
// known here, so src is required) in TalkingHead, unmodified: lip-sync from our own audio and
// word timings (no text-to-speech service), moods and gestures. window.headforgeClient is
// what the browser test drives.
import { TalkingHead } from "/static/vendor/talkinghead/modules/talkinghead.mjs";

const status = document.getElementById("status");
const src = new URLSearchParams(location.search).get("src");
const sex = new URLSearchParams(location.search).get("body") === "F" ? "F" : "M";

// A silent AudioBuffer and two words' timings (ms): TalkingHead's English lip-sync module turns
// the words into visemes timed to the audio.
function utterance(audioCtx) {
  const seconds = 2.0;
  const audio = audioCtx.createBuffer(1, Math.round(seconds * audioCtx.sampleRate), audioCtx.sampleRate);
  return { audio, words: ["Hello", "world,", "how", "are", "you"], wtimes: [0, 450, 1000, 1300, 1550],
           wdurations: [400, 500, 250, 200, 400] };
}

async function main() {
  if (!src) throw new Error("add ?src=URL of a full-body avatar.glb");
  const head = new TalkingHead(document.getElementById("avatar"), {
    lipsyncModules: ["en"], lipsyncLang: "en", cameraView: "upper", avatarMood: "neutral",
  });
  await head.showAvatar({ url: src, body: sex, avatarMood: "neutral", lipsyncLang: "en" });
  const speak = () => head.speakAudio(utterance(head.audioCtx), { lipsyncLang: "en" });
  const moods = head.getMoodNames();
  const select = document.getElementById("mood");
  for (const mood of moods) select.add(new Option(mood, mood));
  select.addEventListener("change", () => head.setMood(select.value));
  document.getElementById("speak").addEventListener("click", speak);
  document.getElementById("gesture").addEventListener("click", () => head.playGesture("thumbup", 3));
  // The largest influence of each morph target of Wolf3D_Head over the next `ms`, sampled
  // every frame.
  const record = (ms) => new Promise((resolve) => {
    const face = head.armature.getObjectByName("Wolf3D_Head");
    const peak = {};
    const end = performance.now() + ms;
    const sample = () => {
      for (const [name, i] of Object.entries(face.morphTargetDictionary)) {
        peak[name] = Math.max(peak[name] ?? 0, face.morphTargetInfluences[i]);
      }
      if (performance.now() < end) requestAnimationFrame(sample); else resolve(peak);
    };
    sample();
  });
  window.headforgeClient = { head, speak, moods, record };
  status.textContent = "ready";
  status.dataset.state = "ready";
}

main().catch((error) => {
  status.textContent = `error: ${error.message}`;
  status.dataset.state = "error";
  window.headforgeClient = { error: String(error) };
});
