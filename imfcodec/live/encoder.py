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
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import numpy as np

from .. import bitstream as bs
from ..audio import AudioSettings
from ..bitstream.versions import AHEAD_VERSION, FRAME_VERSION, LIVE_VERSION, PAIR_VERSION
from ..encoder import FrameLoop, make_header
from ..errors import InputError
from ..io.audio import RATE
from ..io.reader import fit_frame
from ..layout import Layout, Plan, parse_size, plan
from ..motion.base import MotionModel
from ..motion.fullsize import FullSize
from ..options import EncodeOptions, EncodeSettings, Tuning
from .lookahead import LookAhead
from .rate import OnlineRate
from .sound import LiveSound

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


@dataclass(frozen=True)
class LiveStream:
    """What a live stream is, fixed at its start: its settings and frame rate, the picture it
    codes (``plan``; ``shape``: the frames' (height, width)), the model as it codes that
    picture, the stream's header and format version."""

    settings: LiveSettings
    fps: Fraction
    plan: Plan
    shape: tuple[int, int]
    motion: MotionModel
    header: bs.Header
    version: tuple[int, int]


class _Outbox:
    """Records to packets: each record's bytes with the stream id in its CRC, counted as
    video or sound; ``records`` collects what the frame loop makes."""

    def __init__(self, stream_id: int) -> None:
        self.stream_id = stream_id
        self.records: list = []
        self.bytes_video = self.bytes_audio = 0

    def start(self, version: tuple[int, int]) -> bytes:
        start = bs.file_start(version, self.stream_id)
        self.bytes_video += len(start)
        return start

    def packets(self, records: list) -> list[bytes]:
        out = []
        for record in records:
            data = bs.record_bytes(record, self.stream_id)
            if isinstance(record, (bs.AudioChunk, bs.AudioHeader)):
                self.bytes_audio += len(data)
            else:
                self.bytes_video += len(data)
            out.append(data)
        return out

    def made(self) -> list[bytes]:
        """The packets of the records made since the last call."""
        out = self.packets(self.records)
        self.records.clear()
        return out


def _stream_of(codec, fps: Fraction, settings: LiveSettings, source_size: tuple[int, int] | None,
               frame_records: bool) -> tuple[LiveStream, EncodeOptions, int, bool]:
    """The stream a LiveEncoder codes (see its __init__), the encoder's options, the frames it
    looks ahead (0: none) and whether frames go in pairs (11.0)."""
    chosen_plan = live_plan(codec.model, source_size, settings)
    layout = chosen_plan.layout
    side = codec.model.image_size
    tuning = settings.tuning or live_tuning(fps)
    if tuning.key_preset is None and layout.width * layout.height > side * side:
        tuning = replace(tuning, key_preset=LIVE_KEY_PRESET)
    motion = live_motion(codec.model, layout, tuning.global_motion)
    chosen = EncodeSettings(quality=settings.quality, adaptive=settings.adaptive,
                            key_placement="start", fit=settings.fit, tuning=tuning)
    options = chosen.options(fps)
    options = replace(options, max_keyframe_interval=round(settings.max_key_seconds * float(fps)))
    header = make_header(motion, options, fps, source_size or (layout.width, layout.height))
    # frames held before they are coded (0: none): a run's key frame is chosen among them
    lookahead, records = delay_frames(settings.delay, fps, tuning.lookahead_share)
    header.chunk_frames = records if settings.delay else settings.packet_frames
    pairs = frame_records and settings.interpolate and header.chunk_frames == 1
    version = PAIR_VERSION if pairs else FRAME_VERSION if frame_records else LIVE_VERSION
    if lookahead:  # (key frames sent ahead of their leading frames)
        version = AHEAD_VERSION
    stream = LiveStream(settings, fps, chosen_plan, (layout.height, layout.width), motion,
                        header, version)
    return stream, options, lookahead, pairs


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
        fps = Fraction(fps).limit_denominator(1 << 20)
        self.stream, options, lookahead, pairs = _stream_of(codec, fps, settings, source_size,
                                                            frame_records)
        self.outbox = _Outbox(secrets.randbits(32))
        self.ahead = LookAhead(lookahead, options.scene_cut) if lookahead else None
        self.loop = FrameLoop(self.stream.motion, self.stream.header, options,
                              self.outbox.records.append, adaptive_tables=True,
                              frame_records=frame_records, pairs=pairs,
                              placer=self.ahead.place if self.ahead else None)
        self.sound = LiveSound(settings.audio_bitrate, settings.audio_channels) if sound else None
        self.rate = OnlineRate(settings.bitrate, fps, settings.audio_bitrate if sound else 0,
                               self.loop) if settings.bitrate else None
        self.count = 0  # frames taken (coded, or held for the look-ahead)
        self.previous: np.ndarray | None = None
        self.key_asked = False
        self.started = self.closed = False

    @property
    def header(self) -> bs.Header:
        return self.stream.header

    @property
    def stream_id(self) -> int:
        return self.outbox.stream_id

    def start(self) -> list[bytes]:
        """The stream's start and header (and the sound's header)."""
        self.started = True
        start = self.outbox.start(self.stream.version)
        records = [self.stream.header] + ([self.sound.header] if self.sound else [])
        return [start] + self.outbox.packets(records)

    def request_key(self) -> None:
        self.key_asked = True

    def frame(self, rgb: np.ndarray) -> list[bytes]:
        """One frame (H, W, 3 uint8; any size: resized to the stream's picture, or cropped or
        padded by ``fit`` to a square one, as files are read: io/reader.py)."""
        if not self.started or self.closed:
            raise RuntimeError("frame() before start() or after close()")
        if rgb.shape[:2] != self.stream.shape:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            rgb = fit_frame(picture, self.stream.plan.read, self.stream.settings.fit)
        if self.ahead:
            self.ahead.hold(self.count, rgb)
            self.previous = rgb
            while self.ahead.full:
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
        index, rgb, repeated = self.ahead.oldest()
        chunker = self.loop.chunker
        if repeated and chunker.last is not None and not self.key_asked:
            chunker.add(chunker.last.copy())
        else:
            self._code(index, rgb, self.ahead.previous)  # (the placer may take its thumbnail)
        self.ahead.coded(index, rgb)

    def repeat(self) -> list[bytes]:
        """The next frame as the one before it again (its token repeated: a few bytes, no
        analysis, and a receiver shows the picture it has): what a sender that has fallen
        behind real time sends for a frame it skips. Only where ``repeatable`` (right after
        a key frame there is no token to repeat)."""
        if not self.repeatable:
            raise RuntimeError("repeat() with no token to repeat")
        if self.ahead:
            self.ahead.hold(self.count, self.previous, repeated=True)
            while self.ahead.full:
                self._code_held()
        else:
            self.loop.chunker.add(self.loop.chunker.last.copy())
        return self._coded()

    def _coded(self) -> list[bytes]:
        """After a frame: its packets (the video records it made), charged to rate control."""
        self.count += 1
        out = self.outbox.made()
        if self.rate is not None:
            self.rate.spent(sum(map(len, out)))
        out += self.outbox.packets(self._sound_due())  # (with a look-ahead: the sound it held)
        return out

    @property
    def repeatable(self) -> bool:
        """Whether ``repeat`` can send the next frame (a token was sent since the key frame)."""
        if self.ahead:  # (coded later: as a frame again where no token is there to repeat)
            return self.started and not self.closed and self.count > 0
        return self.started and not self.closed and self.count > 0 and \
            self.loop.chunker.last is not None and not self.key_asked

    def audio(self, pcm: np.ndarray, at: float) -> list[bytes]:
        """Sound: (n, channels) int16 samples at 48 kHz, the first ``at`` seconds after the
        first frame."""
        if self.sound is None or not self.started or self.closed or self.count == 0:
            return []
        self.sound.push(pcm, at)
        return self.outbox.packets(self._sound_due())

    def _sound_due(self) -> list[bs.AudioChunk]:
        """The sound's records whose time the frames sent have reached (with a look-ahead the
        sound waits as the frames do, so that records stay in time order)."""
        if self.sound is None:
            return []
        sent = self.loop.chunker.first_frame / self.stream.fps * RATE if self.ahead else None
        return self.sound.due(sent)

    def close(self) -> list[bytes]:
        """The frames still held, the sound's end and the END record."""
        if self.closed or not self.started:
            return []
        while self.ahead and self.ahead.window:
            self._code_held()
        self.closed = True
        self.loop.run_batch()
        self.loop.chunker.flush()
        last = self.sound.close() if self.sound is not None and self.count else []
        last += [bs.End(self.count)] if self.count else []
        return self.outbox.made() + self.outbox.packets(last)

    @property
    def key_frames(self) -> int:
        return self.loop.stats.key_frames
