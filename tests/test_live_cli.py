"""`imfcodec send` and `imfcodec receive` as a user runs them: real processes on real
sockets (WebSocket and TCP on 127.0.0.1), a file DEST, late joins, Ctrl-C on either side."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from fractions import Fraction

import av
import pytest

from .conftest import synthetic_frames
from .test_audio import first_sound, sound_of, write_av

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def ctrl_c_reaches_the_children():
    """These tests press Ctrl-C (SIGINT) on a sender or receiver as a user at a terminal
    does. A shell without job control starts a background job with SIGINT ignored, and the
    children would inherit that (`bash .ci/run &`; the commands rightly keep it ignored,
    tests/test_edges.py): here the children start with SIGINT at its default."""
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def imfcodec(*args) -> list[str]:
    return [sys.executable, "-m", "imfcodec.cli", *map(str, args)]


def start(*args) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(imfcodec(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def wait_listening(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"receive ended early: {process.stdout.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("receive did not listen")


def wait_lines(path, count: int, timeout: float = 60.0) -> None:
    """Until a --log file has ``count`` lines (frames written)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not reach {count} lines")


def finish(process: subprocess.Popen, timeout: float = 60.0) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.startswith("{")][-1])


def frames_in(path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def has_sound(path) -> bool:
    with av.open(str(path)) as c:
        return bool(c.streams.audio)


@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    """2 s at 25 fps, 96x64, with a tone from 0.4 s on."""
    path = tmp_path_factory.mktemp("live") / "talk.mkv"
    return write_av(path, synthetic_frames(50, 96, 64, seed=5), fps=Fraction(25), start=0.4,
                    seconds=1.6)


@pytest.mark.parametrize("scheme", ["ws", "tcp"])
def test_a_call_on_loopback_arrives_whole_with_its_sound(talking, tiny_model_path, tmp_path, scheme):
    port, out = free_port(), tmp_path / "got.mkv"
    receiver = start("receive", f"{scheme}://127.0.0.1:{port}", out, "--model", tiny_model_path,
                     "--json", "--log", tmp_path / "rx.jsonl")
    wait_listening(port, receiver)
    code, text = finish(start("send", talking, f"{scheme}://127.0.0.1:{port}", "--model",
                              tiny_model_path, "--json", "--log", tmp_path / "tx.jsonl"))
    assert code == 0, text
    sent = last_json(text)
    code, text = finish(receiver)
    assert code == 0, text
    got = last_json(text)
    assert sent["sent"] == sent["frames"] == 50
    assert got["frames"] == 50 and got["lost"] == 0 and got["refused"] == 0
    assert frames_in(out) == 50 and has_sound(out) and got["sound"]
    # in sync: the tone starts 0.4 s after the first frame, as in the source
    begins, samples, rate, _ = sound_of(out)
    assert abs(begins + first_sound(samples, rate) - 0.4) <= 1 / 25
    # the receiver counted the very bytes the sender sent
    assert got["bytes_video"] == sent["bytes_video"] and got["bytes_audio"] == sent["bytes_audio"]
    shown = [json.loads(line) for line in open(tmp_path / "rx.jsonl")]
    read = {(r["stream"], r["frame"]): r["read"] for r in map(json.loads, open(tmp_path / "tx.jsonl"))}
    assert all(s["shown"] >= read[(s["stream"], s["frame"])] for s in shown)


def test_a_call_with_a_delay_arrives_whole_and_in_sync(talking, tiny_model_path, tmp_path):
    port, out = free_port(), tmp_path / "got.mkv"
    receiver = start("receive", f"ws://127.0.0.1:{port}", out, "--model", tiny_model_path, "--json")
    wait_listening(port, receiver)
    # 0.4 s at 25 fps: each key frame chosen among 5 frames, packets of up to 5 frames
    code, text = finish(start("send", talking, f"ws://127.0.0.1:{port}", "--model",
                              tiny_model_path, "--delay", "0.4", "--json"))
    assert code == 0, text
    sent = last_json(text)
    code, text = finish(receiver)
    assert code == 0, text
    got = last_json(text)
    assert sent["sent"] == 50 and got["frames"] == 50 and got["lost"] == 0 and got["refused"] == 0
    assert frames_in(out) == 50 and got["bytes_video"] == sent["bytes_video"]
    begins, samples, rate, _ = sound_of(out)
    assert abs(begins + first_sound(samples, rate) - 0.4) <= 1 / 25


def test_send_to_a_file_is_an_imf_that_decode_reads(talking, tiny_model_path, tmp_path):
    target = tmp_path / "call.imf"
    code, text = finish(start("send", talking, target, "--model", tiny_model_path, "--json"))
    assert code == 0, text
    assert last_json(text)["sent"] == 50
    decoded = tmp_path / "call.mkv"
    code, text = finish(start("decode", target, decoded, "--model", tiny_model_path))
    assert code == 0, text
    assert frames_in(decoded) == 50 and has_sound(decoded)
    code, text = finish(start("send", talking, target, "--model", tiny_model_path))
    assert code != 0 and "exists" in text and len(text.strip().splitlines()) == 1


def test_a_receiver_that_joins_late_gets_a_stream_from_a_key_frame(talking, tiny_model_path, tmp_path):
    port, out = free_port(), tmp_path / "late.mkv"
    sender = start("send", talking, f"ws://127.0.0.1:{port}", "--model", tiny_model_path)
    time.sleep(2.0)  # the sender waits for its receiver (a file source pauses)
    receiver = start("receive", f"ws://127.0.0.1:{port}", out, "--model", tiny_model_path, "--json")
    code, text = finish(sender)
    assert code == 0 and "waiting for the receiver" in text, text
    assert "sent 50 of 50 frames at 96x64 in 1 stream" in text, text
    code, text = finish(receiver)
    assert code == 0, text
    assert last_json(text)["frames"] == 50 and frames_in(out) == 50


def test_ctrl_c_ends_either_side_cleanly(talking, tiny_model_path, tmp_path):
    # Ctrl-C on the receiver: its output is complete up to the last frame; the sender says
    # the connection dropped and (continue) carries on to the end of its source
    port, out = free_port(), tmp_path / "cut.mkv"
    receiver = start("receive", f"tcp://127.0.0.1:{port}", out, "--model", tiny_model_path, "--json",
                     "--log", tmp_path / "cut.jsonl")
    wait_listening(port, receiver)
    sender = start("send", talking, f"tcp://127.0.0.1:{port}", "--model", tiny_model_path,
                   "--on-drop", "continue", "--loop", "--seconds", "6")
    wait_lines(tmp_path / "cut.jsonl", 10)
    receiver.send_signal(signal.SIGINT)
    code, text = finish(receiver)
    assert code == 0, text
    got = last_json(text)
    assert got["interrupted"] and 0 < got["frames"] == frames_in(out)
    code, text = finish(sender)
    assert code == 0 and "dropped" in text, text
    # Ctrl-C on the sender: the stream ends with its END record; the receiver writes it all
    port, out = free_port(), tmp_path / "stop.mkv"
    receiver = start("receive", f"ws://127.0.0.1:{port}", out, "--model", tiny_model_path, "--json",
                     "--log", tmp_path / "stop.jsonl")
    wait_listening(port, receiver)
    sender = start("send", talking, f"ws://127.0.0.1:{port}", "--model", tiny_model_path,
                   "--loop", "--json")
    wait_lines(tmp_path / "stop.jsonl", 10)
    sender.send_signal(signal.SIGINT)
    code, text = finish(sender)
    assert code == 0, text
    sent = last_json(text)
    assert sent["interrupted"] and sent["sent"] > 0
    code, text = finish(receiver)
    assert code == 0, text
    assert last_json(text)["frames"] == sent["sent"] == frames_in(out)


def test_a_sender_whose_caller_ignores_ctrl_c_plays_to_the_end(talking, tiny_model_path, tmp_path):
    target = tmp_path / "call.imf"
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # (inherited by the child, as `cmd &`)
    try:
        sender = start("send", talking, target, "--model", tiny_model_path, "--json", "--log",
                       tmp_path / "tx.jsonl")
    finally:
        signal.signal(signal.SIGINT, old)
    wait_lines(tmp_path / "tx.jsonl", 10)
    sender.send_signal(signal.SIGINT)
    code, text = finish(sender)
    assert code == 0, text
    assert not last_json(text)["interrupted"] and last_json(text)["sent"] == 50


def phone_clip(path, frames: int = 10):
    """A clip coded 96x64 and shown turned 90 degrees (64x96 upright), as phones store them."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.set_display_rotation(90)
        for picture in synthetic_frames(frames, 96, 64, seed=7):
            for p in s.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path


def sizes_in(path) -> set:
    with av.open(str(path)) as c:
        return {(f.width, f.height) for f in c.decode(video=0)}


def test_a_call_keeps_the_pictures_own_size_upright(tiny_model_path, tmp_path):
    clip = phone_clip(tmp_path / "phone.mp4")
    for size, expected in ((None, (64, 96)), ("64x64", (64, 64))):
        target = tmp_path / f"call{size}.imf"
        code, text = finish(start("send", clip, target, "--model", tiny_model_path, "--json",
                                  *(("--size", size) if size else ())))
        assert code == 0, text
        sent = last_json(text)
        assert (sent["width"], sent["height"]) == expected and sent["sent"] == 10
        decoded = tmp_path / f"call{size}.mkv"
        code, text = finish(start("decode", target, decoded, "--model", tiny_model_path))
        assert code == 0, text
        assert sizes_in(decoded) == {expected}
    code, text = finish(start("send", clip, tmp_path / "bad.imf", "--model", tiny_model_path,
                              "--size", "wide"))
    assert code == 2 and len(text.strip().splitlines()) == 1 and "--size" in text, text
    assert not (tmp_path / "bad.imf").exists()


def test_bad_addresses_and_sources_are_one_line(talking, tiny_model_path, tmp_path):
    for args, words in (
        (("receive", "http://127.0.0.1:1", tmp_path / "a.mkv"), "unknown address scheme"),
        (("receive", "ws://127.0.0.1", tmp_path / "a.mkv"), "needs a port"),
        (("send", tmp_path / "missing.mp4", "ws://127.0.0.1:9"), "no such file"),
        (("receive", "ws://127.0.0.1:1", tmp_path / "a.txt"), "unknown output kind"),
        (("send", talking, tmp_path / "a.imf", "--delay", "20"), "--delay must be 0..10"),
        (("send", talking, tmp_path / "a.imf", "--delay", "1", "--packet-frames", "2"),
         "leave out --packet-frames"),
    ):
        code, text = finish(start(*args, "--model", tiny_model_path))
        lines = text.strip().splitlines()
        assert code != 0 and len(lines) == 1 and words in lines[0], text
        assert "Traceback" not in text
    assert not (tmp_path / "a.imf").exists()


def test_a_receiver_started_again_gets_a_new_stream_at_once(talking, tiny_model_path, tmp_path):
    port = free_port()
    first = start("receive", f"ws://127.0.0.1:{port}", tmp_path / "a.mkv", "--model",
                  tiny_model_path, "--json", "--log", tmp_path / "a.jsonl")
    wait_listening(port, first)
    sender = start("send", talking, f"ws://127.0.0.1:{port}", "--model", tiny_model_path,
                   "--loop", "--seconds", "7")
    wait_lines(tmp_path / "a.jsonl", 10)
    first.send_signal(signal.SIGINT)
    code, text = finish(first)
    assert code == 0 and last_json(text)["frames"] > 0, text
    second = start("receive", f"ws://127.0.0.1:{port}", tmp_path / "b.mkv", "--model",
                   tiny_model_path, "--json")
    code, text = finish(second)
    assert code == 0, text
    got = last_json(text)
    # the sender waited, connected again and began a new stream with a key frame: the new
    # receiver shows every frame of it, none lost, from its first
    assert got["frames"] > 10 and got["lost"] == 0 and got["streams"] == 1
    assert frames_in(tmp_path / "b.mkv") == got["frames"]
    code, text = finish(sender)
    assert code == 0 and "dropped" in text and "2 stream(s)" in text, text


def test_a_source_on_standard_input(talking, tiny_model_path, tmp_path):
    target = tmp_path / "piped.imf"
    with open(talking, "rb") as source:
        done = subprocess.run(imfcodec("send", "-", target, "--model", tiny_model_path, "--json"),
                              stdin=source, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert last_json(done.stdout)["sent"] == 50 and target.stat().st_size > 0


def test_a_port_in_use_is_one_line_and_leaves_no_file(tiny_model_path, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, text = finish(start("receive", f"ws://127.0.0.1:{port}", tmp_path / "a.mkv",
                                  "--model", tiny_model_path))
    lines = text.strip().splitlines()
    assert code != 0 and len(lines) == 1 and "cannot listen there" in lines[0], text
    assert not any(tmp_path.iterdir())
