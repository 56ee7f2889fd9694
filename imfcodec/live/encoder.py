"""LiveEncoder: a call's frames (and sound) in, one at a time; the packets to send out.

Causal coding: the first frame is an intra key frame; each later frame is coded as it comes
(one pass, no key placement, nothing held back but ``packet_frames`` or, below, one frame),
its refresh decided
from what has been seen (the closed-loop rule of refresh.py, run on the frame itself); a
receiver that asks gets an intra key frame at the next frame. With a ``delay`` (a latency
budget) frames wait for most of it before they are coded (Tuning.lookahead_share), so that
each run's key frame is the one among its first frames nearest their mean picture
(keyplace.py's choice, as a file's centred key frame), sent ahead of the frames before it,
and go out in records of the rest's frames. Each packet is one record of
format 10.0 or 11.0 (the stream id in every CRC; each predicted frame in a FRAME record of a
few bytes),
so the packets of a stream, put end to end, are an .imf file (the END record comes with
``close``). With ``interpolate`` (format 11.0) each predicted frame waits for the next: where
the midpoint of the tokens either side rebuilds it about as well as its own token, the two go
in one FRAME record and its token is not sent.
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import numpy as np

from .. import bitstream as bs
from ..audio import AudioSettings, _encoder
from ..bitstream.versions import AHEAD_VERSION, FRAME_VERSION, LIVE_VERSION, PAIR_VERSION
from ..encoder import FrameLoop, make_header
from ..errors import InputError
from ..io.audio import RATE
from ..io.reader import fit_frame
from ..keyplace import central_frame, descriptor
from ..layout import Layout, Plan, parse_size, plan
from ..motion.base import MotionModel
from ..motion.fullsize import FullSize
from ..options import EncodeSettings, Tuning
from ..refresh import scene_change
from .rate import OnlineRate

FRAME = 960  # samples of one 20 ms Opus frame at 48 kHz
# The sound goes out every 3 Opus packets (60 ms): an AUDIO record's framing is about 12 bytes.
AUDIO_PACKETS = 3
DEFAULT_AUDIO_BITRATE = 8000  # STOI 0.949 on speech (README "Sound"): a call's sound at 8 kbps
# A refresh is tested (the frame rebuilt as the receiver will) every this many seconds, not
# every frame: half a frame's encode time on this CPU, and a decision at most 0.1 s late.
TEST_EVERY = 0.1
# x265's preset for the key frames of a stream larger than the model's square (Tuning.key_preset):
# the files' veryslow held a 1280x720 call up for 0.3-0.8 s at each refresh (docs/live.md).
LIVE_KEY_PRESET = "medium"
# The largest picture a call sends unless --size asks for another: on this 2-core CPU a call
# at 640x360 and 30 fps, both ends on one machine, kept up (97 ms median latency), where at
# 1280x720 the sender alone fell behind real time (docs/live.md, "The picture's own size").
LIVE_BOX = (640, 360)
# The longest --delay: a latency budget for a broadcast, not a call.
MAX_DELAY = 10.0


def live_tuning(fps: Fraction | float, **changes) -> Tuning:
    """The live encoder's constants (options.Tuning): a refresh tested every TEST_EVERY
    seconds; ``changes`` replace fields (what benchmarks vary)."""
    return replace(Tuning(refresh_stride=max(1, round(TEST_EVERY * float(fps)))), **changes)


@dataclass(frozen=True)
class LiveSettings:
    """How a live stream is coded: ``quality`` 0..7 as for files; ``adaptive`` the closed-loop
    refresh (predicted key frames where they pay); ``packet_frames`` frames a token record
    holds (1: each frame sent as soon as it is coded; more: fewer bytes, that much more
    latency); ``bitrate`` a target in bits per second for video and sound together (None:
    the quality level as it is); ``size`` the picture (layout.plan: the source's own size,
    scaled down to fit LIVE_BOX, 640x360; 'WxH' fits it into another box, up to 1920x1080; a
    square, e.g. '256x256', the model's square of earlier versions); ``fit`` crop or pad for
    a square picture; the sound's
    rate and channels; ``max_key_seconds`` an intra key frame at least this often (0: only
    when a receiver asks or the scene changes); ``interpolate`` (one frame a packet): each
    frame held until the next is coded, so that a frame the midpoint of its neighbours'
    tokens rebuilds about as well as its own (Tuning.between_tolerance) is sent with the
    next, its token left out (format 11.0; one frame time more latency); ``delay`` seconds
    a frame may wait at the sender (0: none; see delay_frames): each run's key frame is
    chosen among its first frames, and frames go out in records of several (with it,
    ``packet_frames`` stays 1)."""

    quality: int = 3
    adaptive: bool = True
    packet_frames: int = 1
    bitrate: float | None = None
    size: str | None = None
    fit: str = "crop"
    audio_bitrate: int = DEFAULT_AUDIO_BITRATE
    audio_channels: int = 1
    max_key_seconds: float = 0.0
    interpolate: bool = True
    delay: float = 0.0
    # the encoder's measured constants (options.Tuning; None: live_tuning's): what
    # benchmarks vary
    tuning: Tuning | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.packet_frames <= 60:
            raise InputError(f"--packet-frames must be 1..60, got {self.packet_frames}")
        if self.bitrate is not None and self.bitrate <= 0:
            raise InputError("--bitrate must be above 0")
        if self.max_key_seconds < 0:
            raise InputError("--max-key-seconds must be 0 or more")
        if not 0 <= self.delay <= MAX_DELAY:
            raise InputError(f"--delay must be 0..{MAX_DELAY:g} seconds, got {self.delay:g}")
        if self.delay and self.packet_frames != 1:
            raise InputError("--delay sets how many frames a packet holds: leave out --packet-frames")
        if self.size is not None:
            parse_size(self.size)  # (InputError: not WxH, or out of range)
        AudioSettings(self.audio_bitrate, self.audio_channels)  # checks the range


def delay_frames(delay: float, fps: Fraction | float, share: float) -> tuple[int, int]:
    """(frames looked ahead, frames a record holds) of a stream with a latency budget of
    ``delay`` seconds: ``share`` of it looked ahead (under 2 frames: none, 0), the rest the
    records' (at least 1 frame)."""
    budget = delay * float(fps)
    ahead = int(budget * share + 1e-9)
    return (ahead if ahead >= 2 else 0), max(1, int(budget - ahead + 1e-9))


def live_plan(model: MotionModel, source_size: tuple[int, int] | None,
              settings: LiveSettings) -> Plan:
    """The picture a live stream codes from a source of ``source_size`` (upright width,
    height): layout.plan's, as for a file but fitted into LIVE_BOX (turned to the source's
    orientation) unless ``settings.size`` says otherwise, its motion region centred (a call
    cannot look at its first seconds to place it); no size known: the model's square."""
    side = model.image_size
    if source_size is None:
        return Plan(side, Layout.square(side))
    # (saying why a camera's 1280x720 went at 640x360)
    return plan(source_size[0], source_size[1], side, settings.size, LIVE_BOX,
                "a call's default (--size 1280x720 for more where the CPU keeps up)")


def live_motion(model: MotionModel, layout: Layout, global_motion: bool = True) -> MotionModel:
    """The model as it codes ``layout``'s picture: itself for its own square, else through
    its region at full size (motion/fullsize.py), with the picture's global motion where
    enough of the picture lies outside the region (FullSize.of, as files: Codec.motion_for)."""
    if layout == Layout.square(model.image_size):
        return model
    return FullSize.of(model, layout, global_motion)


def _pre_skip(settings: AudioSettings, channels: int) -> int:
    """The Opus encoder's look-ahead: samples a decoder drops at the start (the first
    packet's negative time, from a frame of silence)."""
    probe = _encoder(settings, channels)
    frame = av.AudioFrame.from_ndarray(np.zeros((1, FRAME * channels), np.int16), format="s16",
                                       layout="mono" if channels == 1 else "stereo")
    frame.sample_rate, frame.pts = RATE, 0
    packets = list(probe.encode(frame)) + list(probe.encode(None))
    first = packets[0].pts if packets else 0
    return -first if first is not None and first < 0 else 0


class _Sound:
    """The sound's side: PCM in (with its time from the first frame), AUDIO records out."""

    def __init__(self, settings: LiveSettings) -> None:
        self.channels = settings.audio_channels
        chosen = AudioSettings(settings.audio_bitrate, self.channels)
        self.pre_skip = _pre_skip(chosen, self.channels)
        self.encoder = _encoder(chosen, self.channels)
        self.header = bs.AudioHeader(bs.OPUS, self.channels, RATE, self.pre_skip, 0, chosen.rate)
        self.pending = np.zeros((0, self.channels), np.int16)  # under one Opus frame
        self.fed = 0  # samples given to the encoder
        self.real = 0  # of them, the input's (not the last frame's padding)
        self.end = 0  # the last AUDIO record's granule position
        self.decoded = 0  # samples its packets decode to
        self.packets: list[bytes] = []

    def push(self, pcm: np.ndarray, at: float) -> list[bs.AudioChunk]:
        """``pcm``: (n, channels) int16 at 48 kHz, its first sample ``at`` seconds after the
        first frame. Sound before the first frame is dropped; a gap over an Opus frame is
        filled with silence, an overlap dropped, so that sample n stays at n / 48000 s."""
        pcm = np.asarray(pcm, dtype=np.int16).reshape(-1, self.channels)
        start = round(at * RATE)
        held = self.fed + len(self.pending)
        if start < held:
            pcm = pcm[held - start :]
        elif start - held > FRAME:
            silence = np.zeros((start - held, self.channels), np.int16)
            pcm = np.concatenate([silence, pcm])
        self.pending = np.concatenate([self.pending, pcm])
        out: list[bs.AudioChunk] = []
        while len(self.pending) >= FRAME:
            out += self._code(self.pending[:FRAME])
            self.pending = self.pending[FRAME:]
        return out

    def _code(self, pcm: np.ndarray | None, padded: bool = False) -> list[bs.AudioChunk]:
        if pcm is None:
            coded = list(self.encoder.encode(None))
        else:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm.reshape(1, -1)),
                                               format="s16",
                                               layout="mono" if self.channels == 1 else "stereo")
            frame.sample_rate, frame.pts = RATE, self.fed
            self.fed += len(pcm)
            self.real += 0 if padded else len(pcm)
            coded = list(self.encoder.encode(frame))
        out = []
        for packet in coded:
            data = bytes(packet)
            self.packets.append(data)
            self.decoded += bs.opus_samples(data)
            if len(self.packets) == AUDIO_PACKETS:
                out += self._chunk()
        return out

    def _chunk(self) -> list[bs.AudioChunk]:
        """The packets so far as one AUDIO record, its granule the samples they decode to,
        less the padding of the last frame (a record of padding alone is dropped)."""
        end = min(self.decoded, self.pre_skip + self.real)
        packets, self.packets = self.packets, []
        if end <= self.end:
            return []
        self.end = end
        return [bs.AudioChunk(end, packets)]

    def close(self) -> list[bs.AudioChunk]:
        """The rest: the last samples padded to a frame, the encoder drained, the end trimmed."""
        out = []
        if len(self.pending):
            tail = np.zeros((FRAME, self.channels), np.int16)
            tail[: len(self.pending)] = self.pending
            self.real += len(self.pending)
            self.pending = self.pending[:0]
            out += self._code(tail, padded=True)
        out += self._code(None)
        if self.packets:
            out += self._chunk()
        return out


class LiveEncoder:
    """One live stream: ``start()`` its first packets, then ``frame()`` for each frame and
    ``audio()`` for the sound as they come, ``close()`` for the last. Each call returns the
    packets ready to send (bytes, one record each; the start is one packet of its own).
    ``request_key()`` makes the next frame an intra key frame (a receiver joined or lost
    packets)."""

    def __init__(self, codec, fps: Fraction | float, settings: LiveSettings = LiveSettings(),
                 source_size: tuple[int, int] | None = None, sound: bool = True,
                 frame_records: bool = True) -> None:
        """``source_size``: the source's (width, height), upright; the stream is coded at its
        own size (or ``settings.size``; live_plan), None: at the model's square.
        ``frame_records``: each predicted frame in a FRAME record (format 10.0, a few bytes
        less a frame; 11.0 with ``settings.interpolate``, its FRAME records spanning one frame
        or two); False writes format 9.0 (TOKENS records only), as senders before 10.0 did."""
        self.settings = settings
        self.fps = Fraction(fps).limit_denominator(1 << 20)
        self.plan = live_plan(codec.model, source_size, settings)
        layout = self.plan.layout
        side = codec.model.image_size
        tuning = settings.tuning or live_tuning(self.fps)
        if tuning.key_preset is None and layout.width * layout.height > side * side:
            tuning = replace(tuning, key_preset=LIVE_KEY_PRESET)
        self.motion = live_motion(codec.model, layout, tuning.global_motion)
        self.shape = (layout.height, layout.width)  # of the frames coded
        chosen = EncodeSettings(quality=settings.quality, adaptive=settings.adaptive,
                                key_placement="start", fit=settings.fit, tuning=tuning)
        options = chosen.options(self.fps)
        options = replace(options, max_keyframe_interval=round(settings.max_key_seconds * float(self.fps)))
        self.header = make_header(self.motion, options, self.fps,
                                  source_size or (layout.width, layout.height))
        # frames held before they are coded (0: none): a run's key frame is chosen among them
        self.lookahead, records = delay_frames(settings.delay, self.fps, tuning.lookahead_share)
        self.header.chunk_frames = records if settings.delay else settings.packet_frames
        self.stream_id = secrets.randbits(32)
        self.records: list = []
        pairs = frame_records and settings.interpolate and self.header.chunk_frames == 1
        self.version = PAIR_VERSION if pairs else FRAME_VERSION if frame_records else LIVE_VERSION
        if self.lookahead:  # (key frames sent ahead of their leading frames)
            self.version = AHEAD_VERSION
        self.loop = FrameLoop(self.motion, self.header, options, self.records.append,
                              adaptive_tables=True, frame_records=frame_records, pairs=pairs)
        self.sound = _Sound(settings) if sound else None
        self.rate = OnlineRate(settings.bitrate, self.fps, settings.audio_bitrate if sound else 0,
                               self.loop) if settings.bitrate else None
        self.count = 0  # frames taken (coded, or held for the look-ahead)
        self.previous: np.ndarray | None = None
        # (look-ahead) the frames taken and not yet coded: (index, picture, repeated), and
        # their thumbnails; the sound's records held until the frames of their time are coded
        self.window: deque[tuple[int, np.ndarray, bool]] = deque()
        self.held_previous: np.ndarray | None = None  # the frame coded before the next held one
        self.thumbs: dict[int, np.ndarray] = {}
        self.sound_held: deque[bs.AudioChunk] = deque()
        if self.lookahead:
            self.loop.placer = self._place
        self.key_asked = False
        self.bytes_video = self.bytes_audio = 0
        self.started = self.closed = False

    def _packets(self, records: list) -> list[bytes]:
        out = []
        for record in records:
            data = bs.record_bytes(record, self.stream_id)
            if isinstance(record, (bs.AudioChunk, bs.AudioHeader)):
                self.bytes_audio += len(data)
            else:
                self.bytes_video += len(data)
            out.append(data)
        return out

    def start(self) -> list[bytes]:
        """The stream's start and header (and the sound's header)."""
        self.started = True
        start = bs.file_start(self.version, self.stream_id)
        self.bytes_video += len(start)
        records = [self.header] + ([self.sound.header] if self.sound else [])
        return [start] + self._packets(records)

    def request_key(self) -> None:
        self.key_asked = True

    def frame(self, rgb: np.ndarray) -> list[bytes]:
        """One frame (H, W, 3 uint8; any size: resized to the stream's picture, or cropped or
        padded by ``fit`` to a square one, as files are read: io/reader.py)."""
        if not self.started or self.closed:
            raise RuntimeError("frame() before start() or after close()")
        if rgb.shape[:2] != self.shape:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            rgb = fit_frame(picture, self.plan.read, self.settings.fit)
        if self.lookahead:
            self.window.append((self.count, rgb, False))
            self.thumbs[self.count] = descriptor(rgb)
            self.previous = rgb
            while len(self.window) >= self.lookahead:
                self._code_held()
            return self._coded()
        self._code(self.count, rgb, self.previous)
        self.previous = rgb
        return self._coded()

    def _code(self, index: int, rgb: np.ndarray, previous: np.ndarray | None) -> None:
        # (a key frame asked for waits for the leading frames of one sent ahead of them)
        asked = bs.KeyReason.REQUEST if self.key_asked and index and self.loop.ahead is None else None
        self.key_asked = self.key_asked and asked is None
        self.loop.step(index, rgb, previous, asked, now=True)
        self.loop.stats.levels.clear()  # (a file's statistics; a call would pile them up)

    def _code_held(self) -> None:
        """Codes the oldest frame the look-ahead holds (a repeat as the token before it again,
        where there is one to repeat and no key frame is asked for)."""
        index, rgb, repeated = self.window.popleft()
        chunker = self.loop.chunker
        if repeated and chunker.last is not None and not self.key_asked:
            chunker.add(chunker.last.copy())
        else:
            self._code(index, rgb, self.held_previous)  # (_place may take its thumbnail)
        self.thumbs.pop(index, None)
        self.held_previous = rgb

    def _place(self, index: int, frame: np.ndarray, reason: bs.KeyReason) -> tuple[int, np.ndarray]:
        """(look-ahead) The key frame of a run starting at frame ``index``: the frame nearest
        the mean thumbnail of the run's first frames held (up to a scene change, repeats left
        out). Only the stream's first key frame and refreshes move: the other intra key frames
        (asked for, a scene cut, the interval) stay at their frame, since a receiver that lost
        records takes the stream up at the next intra key frame's own frame."""
        if reason not in (bs.KeyReason.START, bs.KeyReason.QUALITY):
            return index, frame
        candidates, before = [(index, frame)], frame
        cut = self.loop.fixed.options.scene_cut
        for later, rgb, repeated in self.window:
            if repeated:
                continue
            if cut is not None and scene_change(before, rgb) > cut:
                break
            candidates.append((later, rgb))
            before = rgb
        thumbs = [self.thumbs[i] if i in self.thumbs else descriptor(rgb) for i, rgb in candidates]
        return candidates[central_frame(thumbs)]

    def repeat(self) -> list[bytes]:
        """The next frame as the one before it again (its token repeated: a few bytes, no
        analysis, and a receiver shows the picture it has): what a sender that has fallen
        behind real time sends for a frame it skips. Only where ``repeatable`` (right after
        a key frame there is no token to repeat)."""
        if not self.repeatable:
            raise RuntimeError("repeat() with no token to repeat")
        if self.lookahead:
            self.window.append((self.count, self.previous, True))
            while len(self.window) >= self.lookahead:
                self._code_held()
        else:
            self.loop.chunker.add(self.loop.chunker.last.copy())
        return self._coded()

    def _coded(self) -> list[bytes]:
        """After a frame: its packets (the video records it made), charged to rate control."""
        self.count += 1
        out = self._packets(self.records)
        self.records.clear()
        if self.rate is not None:
            self.rate.spent(sum(map(len, out)))
        out += self._packets(self._sound_due())  # (with a look-ahead: the sound it held)
        return out

    @property
    def repeatable(self) -> bool:
        """Whether ``repeat`` can send the next frame (a token was sent since the key frame)."""
        if self.lookahead:  # (coded later: as a frame again where no token is there to repeat)
            return self.started and not self.closed and self.count > 0
        return self.started and not self.closed and self.count > 0 and \
            self.loop.chunker.last is not None and not self.key_asked

    def audio(self, pcm: np.ndarray, at: float) -> list[bytes]:
        """Sound: (n, channels) int16 samples at 48 kHz, the first ``at`` seconds after the
        first frame."""
        if self.sound is None or not self.started or self.closed or self.count == 0:
            return []
        self.sound_held.extend(self.sound.push(pcm, at))
        return self._packets(self._sound_due())

    def _sound_due(self) -> list[bs.AudioChunk]:
        """The sound's records whose time the frames sent have reached (with a look-ahead the
        sound waits as the frames do, so that records stay in time order)."""
        due = []
        sent = self.loop.chunker.first_frame / self.fps * RATE if self.lookahead else None
        while self.sound_held and (sent is None or self.sound_held[0].end - self.sound_held[0].samples
                                   - self.sound.pre_skip <= sent):
            due.append(self.sound_held.popleft())
        return due

    def close(self) -> list[bytes]:
        """The frames still held, the sound's end and the END record."""
        if self.closed or not self.started:
            return []
        while self.window:
            self._code_held()
        self.closed = True
        self.loop.run_batch()
        self.loop.chunker.flush()
        records = list(self.records)
        self.records.clear()
        if self.sound is not None and self.count:
            records += list(self.sound_held) + self.sound.close()
            self.sound_held.clear()
        if self.count:
            records.append(bs.End(self.count))
        return self._packets(records)

    @property
    def key_frames(self) -> int:
        return self.loop.stats.key_frames
