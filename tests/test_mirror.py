""""Mirror me" in Debian's Chromium against the shared `headforge serve`: its fake camera plays a
clip rendered from the astronaut's avatar (headforge.web.fakecam: the mouth opens and closes,
the head turns, a wink, two faces, no face), and the avatar in the page follows it, mirrored,
with no request from the page or its tracker worker leaving 127.0.0.1. Then the bad cases:
camera refused, no camera.

Presses are DOM click events (dispatch_event): with software WebGL on a busy machine a frame
can take over a second, and Playwright's actionability checks wait on frames.

The camera browser is launched with the fake device and file but without
--use-fake-ui-for-media-stream: that flag accepts every prompt, so a refusal could not be
tested; Playwright grants (or withholds) the camera permission per context instead."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import skimage.data
from webhelpers import CHROMIUM, CHROMIUM_ARGS, encoded, needs_chromium

pytestmark = needs_chromium
FPS = 15.0
VIEWPORT = {"width": 900, "height": 640}  # smaller than a desktop: software WebGL is slow here
WAIT_S = 240  # for every phase of the clip to be seen, on a loaded 2-core machine


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from headforge.pipeline import reconstruct
    from headforge.web.fakecam import mirror_clip, write_y4m

    avatar = reconstruct(skimage.data.astronaut(), texture_size=512, hair="none", keep_expression=False)
    frames, script = mirror_clip(avatar, FPS)
    return write_y4m(frames, tmp_path_factory.mktemp("clip") / "clip.y4m", FPS), script


@pytest.fixture(scope="module")
def camera_browser(playwright, clip):
    args = [*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={clip[0]}"]
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
    yield browser
    browser.close()


def open_avatar(browser, server, tmp_path, **context):
    """A page on `server` with the astronaut's avatar shown; its page errors, its requests
    (the page's and its workers') and what its Content-Security-Policy refused."""
    page = browser.new_page(viewport=VIEWPORT, **context)
    errors, requests = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.context.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: "Content Security Policy" in m.text and requests.append(f"refused: {m.text}"))
    page.goto(server)
    photo = tmp_path / "astronaut.png"
    photo.write_bytes(encoded(skimage.data.astronaut(), "PNG"))
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#viewer[data-state=ready]", timeout=120_000)
    # Every code the mirror's message shows, in order (a MutationObserver on the message).
    page.evaluate("""() => {
        window.mirrorCodes = [];
        const box = document.getElementById('mirror-message');
        new MutationObserver(() => window.mirrorCodes.push(box.dataset.code))
            .observe(box, {attributes: true, attributeFilter: ['data-code']});
    }""")
    return page, errors, requests


def live_and_shown(page) -> tuple[list[float], list[float]]:
    """The mirror's live face and the avatar's shown morph weights (its head mesh), both in the
    emotion mapping's action order, read at one moment."""
    return page.evaluate("""() => {
        let head = null;
        headforgePage.viewer.model.traverse((o) => { head ??= o.morphTargetDictionary ? o : null; });
        const shown = headforgePage.mapping.actions.map(
            (name) => head.morphTargetInfluences[head.morphTargetDictionary[name]] ?? 0);
        return [headforgePage.live.slice(), shown];
    }""")


def phases_seen(samples: list[dict], codes: list[str], script) -> dict[str, bool]:
    """Which of the clip's phases the avatar followed, from the mirror's per-result samples: the
    jaw and the wink to at least 80 % of the clip's own weight and back below 0.1 (the clip is
    rendered from the avatar, so its weights are the truth), the head turned and back."""
    jaw = [s["jawOpen"] for s in samples]
    peak = max(range(len(jaw)), key=jaw.__getitem__, default=0)
    clip_jaw = max(f.jaw_open for f in script)
    opened = bool(jaw) and jaw[peak] >= 0.8 * clip_jaw and min(jaw[:peak + 1]) < 0.1 and min(jaw[peak:]) < 0.1
    turned = [i for i, s in enumerate(samples) if s["turned"] > 12 and s["jawOpen"] < 0.15]
    back = bool(turned) and any(abs(s["turned"]) < 4 for s in samples[turned[0]:])
    # Her left eye shut, the mirror's right (the avatar's own right eye), the other open.
    clip_wink = max(f.wink_left for f in script)
    winks = [i for i, s in enumerate(samples) if s["eyeBlinkRight"] >= 0.8 * clip_wink and s["eyeBlinkLeft"] < 0.3]
    wink = bool(winks) and any(s["eyeBlinkRight"] < 0.1 for s in samples[winks[0]:])
    cleared = [i for i, c in enumerate(codes) if c == ""]
    several = "several_faces" in codes and any(i > codes.index("several_faces") for i in cleared)
    lost = "no_face" in codes and any(i > codes.index("no_face") for i in cleared)
    return {"mouth opens fully and closes": opened, "head turns and back": back, "wink mirrored, full, and open again": wink,
            "several faces said": several, "no face said": lost}


def test_the_avatar_mirrors_the_camera_and_nothing_leaves(camera_browser, clip, server, tmp_path):
    page, errors, requests = open_avatar(camera_browser, server, tmp_path, permissions=["camera"])
    assert page.evaluate("headforgePage.mirror") is None  # no camera, no tracker before the press
    assert not [u for u in requests if "mediapipe" in u or u.endswith((".task", "mirror.js"))]

    page.dispatch_event("#mirror-toggle", "click")
    page.wait_for_selector("#viewer[data-mirror=on]", timeout=60_000)
    assert page.locator("#mirror-toggle").inner_text() == "Stop"
    deadline = time.monotonic() + WAIT_S
    seen = {}
    while time.monotonic() < deadline:
        page.wait_for_timeout(2000)
        samples = page.evaluate("headforgePage.mirror.samples")
        seen = phases_seen(samples, page.evaluate("window.mirrorCodes"), clip[1])
        if all(seen.values()):
            break
    top = max(samples, key=lambda s: s["jawOpen"], default={})
    assert all(seen.values()), f"not followed within {WAIT_S} s: {seen}; {len(samples)} tracked frames; " \
                               f"widest jaw {top.get('jawOpen')} (MediaPipe's raw {top.get('raw')})"
    assert page.locator("#mirror-video").is_visible()
    # Recentre: the last face's pose is taken as straight ahead (the maths: test_mirror_maths).
    page.dispatch_event("#mirror-recentre", "click")
    assert page.evaluate("headforgePage.mirror.filter.neutral?.length") == 3

    # An emotion baseline adds to the live face (never takes from it): happiness smiles the mirror.
    page.locator("#emotion-happiness").fill("1")
    page.wait_for_timeout(1000)
    live, shown = live_and_shown(page)
    assert min(s - v for s, v in zip(shown, live)) > -1e-6 and sum(shown) - sum(live) > 0.5
    page.locator("#emotion-happiness").fill("0")

    page.evaluate("window.cameraTracks = headforgePage.mirror.stream.getTracks()")
    page.dispatch_event("#mirror-toggle", "click")  # Stop
    assert page.locator("#mirror-toggle").inner_text() == "Mirror me"
    assert page.evaluate("window.cameraTracks.every((t) => t.readyState === 'ended')"), "the camera was not released"
    assert page.evaluate("document.getElementById('mirror-video').srcObject") is None
    assert page.evaluate("headforgePage.live") is None and page.locator("#mirror-video").is_hidden()
    assert page.locator("#mirror-recentre").is_hidden()
    page.locator("#emotion-happiness").fill("1")  # the rest of the page still works

    page.wait_for_timeout(500)  # the tracker's shutdown (it tries to send usage metrics)
    own = urlsplit(server).netloc
    sent = [u for u in requests if not u.startswith(("refused: ", "data:"))]
    assert any(u.endswith("/lib/face_landmarker.task") for u in sent)  # the worker's requests are seen
    assert all(urlsplit(u.removeprefix("blob:")).netloc == own for u in sent), sent
    assert not errors, errors

    # Camera refused: the permission withdrawn, the next press is refused by the browser.
    page.context.clear_permissions()
    page.dispatch_event("#mirror-toggle", "click")
    message = page.locator("#mirror-message")
    message.wait_for(state="visible", timeout=60_000)
    assert message.get_attribute("data-code") == "camera_refused" and "refused" in message.inner_text()
    assert page.locator("#mirror-toggle").inner_text() == "Mirror me"
    assert page.locator("#viewer-tools").is_visible() and page.locator("#message").is_hidden()
    page.context.close()


def test_without_a_camera_the_page_says_so(browser, server, tmp_path):
    page, errors, _ = open_avatar(browser, server, tmp_path, permissions=["camera"])
    page.dispatch_event("#mirror-toggle", "click")
    message = page.locator("#mirror-message")
    message.wait_for(state="visible", timeout=60_000)
    assert message.get_attribute("data-code") == "no_camera" and "No camera" in message.inner_text()
    assert page.evaluate("headforgePage.mirror.running") is False
    page.locator("#emotion-happiness").fill("1")
    page.click("#reset-view")
    assert not errors, errors
    page.context.close()
