"""The receiver's browser view, end to end: a real headless Chromium on the page of
`imfcodec receive`, a live stream from `imfcodec send`, and the page's picture and figures
as they arrive (frames shown and changing, frames, kbps, the state)."""

from __future__ import annotations

import shutil
import socket
import threading
import urllib.request
from fractions import Fraction

import pytest

from imfcodec import Codec
from imfcodec.live.encoder import LiveSettings
from imfcodec.live.receive import receive
from imfcodec.live.send import send

from .conftest import synthetic_frames, write_clip

WAIT = 60  # seconds, at most, for the browser to see a thing (a slow, shared CPU)
CLIP_SECONDS = 5
FPS = 10

# Every value #state takes, in order (the stream may be over by the time the test looks).
WATCH_STATE = """
window.__states = [document.getElementById("state").textContent];
new MutationObserver(() => window.__states.push(document.getElementById("state").textContent))
  .observe(document.getElementById("state"), {childList: true, characterData: true, subtree: true});
"""

# The picture shown, decoded by the browser: its size and a hash of its pixels (null: none yet).
PIXELS = """
const img = document.getElementById("video");
if (!img.complete || !img.naturalWidth) return null;
const canvas = document.createElement("canvas");
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
const context = canvas.getContext("2d");
context.drawImage(img, 0, 0);
const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
let hash = 2166136261 >>> 0, sum = 0;
for (let i = 0; i < data.length; i++) {
  hash = Math.imul(hash ^ data[i], 16777619) >>> 0;
  sum += data[i];
}
return {width: canvas.width, height: canvas.height, hash: hash, mean: sum / data.length,
        src: img.src};
"""

FIGURES = """
const ids = ["state", "frames", "received", "kbps", "video_kbps", "audio_kbps", "latency",
             "dropped", "refused"];
return Object.fromEntries(ids.map(id => [id, document.getElementById(id).textContent]));
"""


def _chrome():
    """A headless Chromium driven by the installed chromedriver, or a skip saying what's missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is missing: pip install selenium (or pip install -e .[test])")
    browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                    "google-chrome"))), None)
    driver_path = shutil.which("chromedriver")
    missing = [name for name, path in (("chromium", browser), ("chromedriver", driver_path))
               if path is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=800,900"):
        options.add_argument(arg)
    # an explicit driver: no Selenium Manager (it would try to download one)
    return webdriver.Chrome(service=Service(executable_path=driver_path), options=options)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_page_shows_the_stream_in_a_browser(tmp_path):
    from selenium.common.exceptions import TimeoutException  # (after _chrome's skip)
    from selenium.webdriver.support.ui import WebDriverWait

    driver = _chrome()
    codec = Codec.load()
    clip = write_clip(tmp_path / "moving.mp4",
                      synthetic_frames(CLIP_SECONDS * FPS, 128, 128, seed=1), Fraction(FPS))
    port = _free_port()
    listen = f"ws://127.0.0.1:{port}"
    page = f"http://127.0.0.1:{port}/"
    said: list[str] = []
    results: dict = {}
    listening = threading.Event()

    def run(name, call):
        try:
            results[name] = call()
        except BaseException as exc:  # reported by the main thread
            results[name] = exc

    receiver = threading.Thread(target=run, daemon=True, args=("receive", lambda: receive(
        codec, listen, str(tmp_path / "out.mkv"), say=said.append, ready=listening.set)))
    sender = None

    def start_sender(seconds=None):
        thread = threading.Thread(target=run, daemon=True, args=("send", lambda: send(
            codec, str(clip), listen, LiveSettings(), seconds=seconds, say=said.append)))
        thread.start()
        return thread

    try:
        receiver.start()
        assert listening.wait(WAIT), f"the receiver never listened: {said}"

        # the page itself, as plain HTTP
        with urllib.request.urlopen(page, timeout=10) as response:
            assert response.status == 200
            assert response.headers.get_content_type() == "text/html"
            html = response.read().decode("utf-8")
        assert '<img id="video"' in html and 'id="received"' in html

        # the browser first, connected to /view before any sender
        driver.get(page)
        wait = WebDriverWait(driver, WAIT, poll_frequency=0.1)
        wait.until(lambda d: d.find_element("id", "state").text == "waiting for a sender",
                   "the page never reached /view")
        driver.execute_script(WATCH_STATE)

        sender = start_sender()

        def received(d) -> int:
            return int(d.find_element("id", "received").text)

        try:
            wait.until(lambda d: received(d) > 5 and d.execute_script(PIXELS))
        except TimeoutException:
            pytest.fail(f"the page got no frames: {driver.execute_script(FIGURES)}; {said}")
        first = driver.execute_script(PIXELS)
        count = received(driver)
        assert (first["width"], first["height"]) == (128, 128)  # the clip's own size
        assert first["src"].startswith("blob:")
        assert 5 < first["mean"] < 250  # a picture, not blank

        # later, another picture
        try:
            wait.until(lambda d: received(d) > count
                       and (d.execute_script(PIXELS) or first)["hash"] != first["hash"])
        except TimeoutException:
            pytest.fail(f"the picture never changed: {driver.execute_script(FIGURES)}; {said}")
        second = driver.execute_script(PIXELS)
        assert second["src"] != first["src"]

        # the latency, from the sender's time marks (once a second)
        try:
            wait.until(lambda d: d.find_element("id", "latency").text not in ("", "-"))
        except TimeoutException:
            pytest.fail(f"the latency never showed: {driver.execute_script(FIGURES)}")
        figures = driver.execute_script(FIGURES)
        assert 0 <= float(figures["latency"]) < 10000, figures
        assert int(figures["frames"]) > 0, figures
        assert float(figures["kbps"]) > 0, figures
        assert float(figures["video_kbps"]) > 0, figures
        assert int(figures["refused"]) == 0, figures
        states = driver.execute_script("return window.__states")
        assert "receiving" in states, states

        # the stream ends: the receiver with it, the page says so
        sender.join(WAIT)
        receiver.join(WAIT)
        assert not sender.is_alive() and not receiver.is_alive(), said
        wait.until(lambda d: d.find_element("id", "state").text != "receiving")
    finally:
        driver.quit()
        if receiver.is_alive():  # a failure before the stream ended: end the receiver
            if sender is None:
                sender = start_sender(seconds=0.3)
            sender.join(WAIT)
            receiver.join(WAIT)
    for name in ("send", "receive"):
        if isinstance(results.get(name), BaseException):
            raise results[name]
    assert results["send"].sent == CLIP_SECONDS * FPS
    report = results["receive"]
    assert report.frames == CLIP_SECONDS * FPS and report.refused == 0, report
    assert (tmp_path / "out.mkv").stat().st_size > 0


def test_pictures_decoded_together_are_shown_a_frame_time_apart():
    """Board.play: the first picture at once, the next ones later, never over a newer one."""
    import time

    import numpy as np

    from imfcodec.live.view import Board

    a, b, c, d = (np.full((4, 4, 3), v, np.uint8) for v in (1, 2, 3, 4))
    board = Board()
    board.play([(5, a), (6, b)], 0.04)
    assert board.order in (5, 6)  # (the second may already be due on a loaded machine)
    deadline = time.time() + 5
    while board.order != 6 and time.time() < deadline:
        time.sleep(0.01)
    assert board.order == 6 and board.picture is b
    board.post(c, 7)
    board.play([(3, d)], 0.04)  # older than what is shown: not shown
    assert board.picture is c and board.order == 7
    board.post(frames=1)  # figures alone leave the picture
    assert board.picture is c
