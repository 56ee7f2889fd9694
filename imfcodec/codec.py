"""The public API: ``Codec`` (load, encode, decode), the ``Stream`` an encode returns and the
``Decoded`` video a decode returns. The command line, the bench, rate control and training's
validation all go through it.

    import imfcodec
    codec = imfcodec.Codec.load()                      # the default model
    stream = codec.encode("in.mp4", quality=3, adaptive=True)
    stream.save("out.imf")
    for frame in codec.decode("out.imf"):              # (H, W, 3) uint8 frames
        ...

The data flow (docs/api.md): source.py (frames) -> encoder.py (the loop) -> motion/ (tokens)
-> entropy/ and tokens.py (integers, bytes) -> bitstream/ (the container); and back through
decoder.py.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from itertools import islice
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterator

import cv2
import numpy as np

from . import bitstream as bs
from . import device as devices
from . import motion as motions
from .audio import RATE, AudioSettings, AudioTrack, encode_audio, extradata, file_seconds
from .decoder import check_model, decode_frames, read_start, sound_packets
from .encoder import EncodeStats, encode_stream
from .errors import IMFError, InputError
from .frames import Progress
from .io.atomic import write_bytes
from .io.output import Sound, save_video, sound_path, write_video
from .io.reader import VideoInfo, existing_file
from .layout import Layout, choose_region, motion_map, plan
from .motion.base import MotionModel
from .motion.fullsize import FullSize
from .options import EncodeOptions, EncodeSettings
from .ratecontrol import Notify, RateControl, encode_to_bitrate, parse_bitrate, share_with_sound
from .source import Source

if TYPE_CHECKING:
    from .animate import Animation

# Seconds of the input's start that place the motion region where it moves most.
REGION_SECONDS = 2.0


@dataclass(frozen=True)
class Stream:
    """An encoded video: the bytes of an .imf file and what went into them."""

    data: bytes
    header: bs.Header
    stats: EncodeStats  # frames, key frames, bytes by part, kbps
    rate_control: RateControl | None = None  # what --bitrate chose, when it was asked for
    source: VideoInfo | None = None  # the input as probed (announced frames, rotation, timing)

    @property
    def complete(self) -> bool:
        """False when the input gave fewer frames than its container announces (truncated)."""
        return self.source is None or not self.source.frames or \
            self.stats.frames >= _expected_frames(self.source)

    def to_bytes(self) -> bytes:
        return self.data

    def with_sound(self, track: AudioTrack) -> "Stream":
        """This stream with ``track``'s records: the AUDIO_HEADER after the header, the AUDIO
        records interleaved with the video records by time (bitstream.interleave)."""
        records = [record for _, record in bs.read_records(io.BytesIO(self.data))]
        header, video = records[0], records[1:-1]
        data = bs.pack(header, [track.header, *bs.interleave(video, header.fps, track.chunks)])
        stats = replace(self.stats, bytes_total=len(data), bytes_audio=track.bytes,
                        audio=track.describe())
        return replace(self, data=data, stats=stats)

    def save(self, path: str | Path, force: bool = False) -> Path:
        """Writes the file atomically (OutputError if it exists and ``force`` is not set)."""
        return write_bytes(path, self.data, force)

    def summary(self) -> dict:
        """JSON-ready statistics (and rate control's choices)."""
        out = self.stats.to_dict()
        out["motion_region"] = list(self.header.region) if self.header and self.header.region else None
        if self.rate_control is not None:
            out.update(self.rate_control.to_dict())
        if self.source is not None:
            info = self.source
            out.update({"frames_announced": _expected_frames(info) if info.frames else None,
                        "complete": self.complete, "rotation": info.rotation,
                        "resampled": None if info.resampled is None else {
                            "fps": float(info.resampled.fps), "repeated": info.resampled.repeated,
                            "dropped": info.resampled.dropped}})
        return out


def _expected_frames(info: VideoInfo) -> int:
    """Frames an input should give: the container's count, or its resampled count."""
    return info.resampled.frames if info.resampled is not None else info.frames


def _video_frames(info: VideoInfo) -> int | None:
    """Frames an input should give, as far as its probe knows before they are read: as
    announced (resampled), else as resampled, else its packets; None when it cannot say."""
    if info.frames:
        return _expected_frames(info)
    return info.resampled.frames if info.resampled is not None else info.packets


class Decoded:
    """A decoded video: ``fps``, ``size``, ``frame_count``; iterate it for (H, W, 3) uint8
    frames (each iteration decodes again, streaming), or ``save`` it to a file."""

    def __init__(self, codec: "Codec", source: str | Path | bytes | Stream) -> None:
        if isinstance(source, Stream):
            source = source.data
        self._data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else None
        self._path = None if self._data is not None else existing_file(source, "an .imf file")
        with self._open() as stream:
            self.header, self.sound = read_start(stream)  # sound: the AUDIO_HEADER, or None
        if self.header.frame_count == 0:  # (9.0) a live stream's open count: its END's
            with self._open() as stream:
                *_, (_, end) = bs.read_records(stream)
            self.header = replace(self.header, frame_count=end.frame_count)
        self.model = codec.model_for(self.header)

    def _open(self) -> BinaryIO:
        return io.BytesIO(self._data) if self._data is not None else open(self._path, "rb")

    @property
    def fps(self) -> Fraction:
        return self.header.fps

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the decoded frames."""
        return self.header.width, self.header.height

    @property
    def frame_count(self) -> int:
        return self.header.frame_count

    @property
    def bytes(self) -> int:
        return len(self._data) if self._data is not None else self._path.stat().st_size

    @property
    def seconds(self) -> float:
        """How long the file lasts: the video's length, or the span of video and sound where
        the sound runs well past it (audio.file_seconds; its length read from its records)."""
        video = self.frame_count / float(self.fps)
        if self.sound is None:
            return video
        end = 0
        with self._open() as stream:
            for _, record in bs.read_records(stream):
                if isinstance(record, bs.AudioChunk):
                    end = record.end
        samples = max(0, end - self.sound.pre_skip)
        return file_seconds(video, self.sound.start / RATE, samples / RATE)

    @property
    def kbps(self) -> float:
        """The whole file's rate over its length (``seconds``)."""
        return self.bytes * 8 / 1000 / self.seconds

    def __iter__(self) -> Iterator[np.ndarray]:
        with self._open() as stream:
            yield from decode_frames(stream, lambda header: self.model)

    def __len__(self) -> int:
        return self.frame_count

    def _sound(self) -> Sound | None:
        """The file's sound as the output writer takes it (packets read from the file)."""
        if self.sound is None:
            return None

        def packets():
            with self._open() as stream:
                yield from sound_packets(stream)

        return Sound(self.sound.channels, extradata(self.sound), self.sound.start, packets)

    def sound_path(self, target: str | Path, sound: bool = True) -> Path | None:
        """Where ``save(target)`` puts the sound: None when there is none (or ``sound`` is
        False) or it goes inside (.mp4, .mkv); else the Ogg Opus file beside a .y4m or a
        PNG folder (``out.y4m`` -> ``out.opus``, ``frames/`` -> ``frames.opus``)."""
        return sound_path(target, self._sound() if sound else None)

    def save(self, target: str | Path, force: bool = False, progress: Progress | None = None,
             sound: bool = True) -> Path:
        """Writes .mp4 (H.264), .mkv (FFV1, lossless), .y4m or a folder of PNGs, atomically;
        the sound (unless ``sound`` is False) inside an .mp4 or .mkv, else beside it
        (``sound_path``)."""
        return save_video(target, self, self.fps, self.size, self._sound() if sound else None,
                          force, progress)

    def write(self, target: str | Path | BinaryIO, kind: str, progress: Progress | None = None,
              sound: bool = True) -> None:
        """Writes the frames to ``target`` (a path, or a binary stream for ``.y4m``) as it is,
        not atomically (``save`` is), with the sound's packets interleaved by time in an .mp4
        or .mkv (unless ``sound`` is False)."""
        write_video(target, kind, self, self.fps, self.size, self._sound() if sound else None,
                    progress)


def _has_rule(options: EncodeOptions) -> bool:
    """Whether encoder options carry a key-frame rule of their own (rate control keeps it)."""
    return bool(options.closed_loop or options.keyframe_interval or options.max_keyframe_interval
                or options.scene_cut is not None)


class Codec:
    """A motion model and the device it runs on, ready to encode and decode."""

    def __init__(self, model: MotionModel | None = None, device: str = "cpu") -> None:
        """``model``: a loaded motion model, used for every encode and decode; None: the
        default model for encodes, and for decodes the model each stream names."""
        self.device = device
        self._model = model
        self._pinned = model is not None
        self._loaded: dict[str, MotionModel] = {}

    @classmethod
    def load(cls, model: str | Path | None = None, device: str = "auto") -> "Codec":
        """``model``: a shipped or built-in model's name ("imf-small", "static") or a
        .safetensors path; None: the default model. ``device``: "auto", "cpu" or "cuda"."""
        device = devices.resolve(device)
        return cls(motions.load(model, device) if model is not None else None, device)

    @property
    def model(self) -> MotionModel:
        """The model encodes use (the default one is loaded on first use)."""
        if self._model is None:
            self._model = self._named(motions.DEFAULT_MODEL)
        return self._model

    def _named(self, name: str) -> MotionModel:
        if name not in self._loaded:
            self._loaded[name] = motions.load(name, self.device)
        return self._loaded[name]

    def model_for(self, header: bs.Header) -> MotionModel:
        """The model that decodes a stream: the codec's own if it was given one, else the
        model the stream names (the default when it names none this imfcodec knows)."""
        if self._pinned:
            model = self._model
        else:
            known = header.model_name in motions.known_names()
            model = self._named(header.model_name if known else motions.DEFAULT_MODEL)
        check_model(header, model)
        return model

    def open(self, source: str | Path | Source, fit: str = "crop", size: str | None = None) -> Source:
        """An input for this codec's model, probed once (its size, frame rate, frame count),
        read at its own size (layout.plan: up to 1920x1080, or fitted into ``size``, 'WxH';
        a square ``size`` or a tiny picture: a square, cropped or padded by ``fit``). A
        Source read at a square size is read at the model's instead, as it always was."""
        if isinstance(source, Source):
            if size is None:  # as read already (a file read as a square: at the model's size)
                refit = isinstance(source.size, int) and source.path is not None
                return source.fitted(self.model.image_size, fit) if refit else source
            src = source
        else:
            src = Source.open(source, self.model.image_size, fit)  # probed here, once
        planned = plan(src.info.width, src.info.height, self.model.image_size, size)
        src = src.fitted(planned.read, fit)
        src.notes = planned.notes
        return src

    def motion_for(self, src: Source, global_motion: bool = True) -> MotionModel:
        """The model as it codes ``src``: itself for the model's square picture; at another
        size through motion.fullsize, its region placed where the input moves most, with the
        picture's global motion (motion/camera.py) where enough lies outside the region and
        ``global_motion`` allows it."""
        if isinstance(src.size, int) and src.size == self.model.image_size:
            return self.model
        width, height = (src.size, src.size) if isinstance(src.size, int) else src.size
        thumbs = [cv2.resize(frame, (max(2, width // 8), max(2, height // 8)),
                             interpolation=cv2.INTER_AREA)
                  for frame in islice(src.frames(), round(float(src.fps) * REGION_SECONDS))]
        layout = Layout(width, height, choose_region(width, height, motion_map(thumbs)))
        return FullSize.of(self.model, layout, global_motion)

    def encode(self, source: str | Path | Source, settings: EncodeSettings | None = None, *,
               options: EncodeOptions | None = None, bitrate: str | float | None = None,
               video_bitrate: str | float | None = None,
               audio: AudioSettings | None = AudioSettings(), progress: Progress | None = None,
               notify: Notify | None = None, token_cache: dict | None = None,
               **keywords) -> Stream:
        """Encodes a video file (or a Source) into a Stream.

        The encode options are the command line's, by name, as keywords (options.EncodeSettings:
        quality, adaptive, keyframe_interval, fit, intra, refresh_threshold, refresh_lambda,
        max_keyframe_interval, scene_cut, refine, key_placement, references, and tuning, the
        encoder's measured constants) or as one ``settings`` object; ``options`` gives the
        encoder's own options instead (options.EncodeOptions: what the bench and studies
        vary). ``bitrate`` ("8k", "8000", "1.5M", or a number of bits per second) asks rate
        control for an average rate of the whole file, sound included (the sound's default
        rate is lowered, down to 6k, where it would leave the video under 2 kbps; a rate
        given in ``audio`` is kept); ``video_bitrate`` for one of the video alone. ``audio``:
        which of the input's audio streams is kept and how it is coded (None: dropped; a
        Source of frames in memory has none). ``progress(n)`` is called as frames
        are done, ``notify`` with rate control's messages; ``token_cache`` lets repeated
        encodes of one source share the motion model's analysis.
        """
        if sum(x is not None for x in (settings, options)) + bool(keywords) > 1:
            raise ValueError("give encode settings (an object or keywords) or options, not several")
        if bitrate is not None and video_bitrate is not None:
            raise InputError("give --bitrate or --video-bitrate, not both")
        chosen = settings or EncodeSettings(**keywords)
        src = self.open(source, options.fit if options is not None else chosen.fit,
                        None if options is not None else chosen.size)
        rule_given = _has_rule(options) if options is not None else chosen.refresh_given()
        options = options if options is not None else chosen.options(src.fps)
        try:
            motion, track = self.motion_for(src, options.tuning.global_motion), None
            if audio is not None and src.path is not None:
                track = encode_audio(src.path, src.info.start, audio, options.chunk_seconds)
            if bitrate is not None or video_bitrate is not None:
                stream, track = self._to_bitrate(src, motion, options, bitrate, video_bitrate,
                                                 track, audio, not rule_given,
                                                 notify or (lambda message: None))
            else:
                stream = self._encode_pass(src, motion, options, progress, token_cache)
            return stream.with_sound(track) if track is not None else stream
        except IMFError as exc:
            if str(exc).startswith(src.name):
                raise
            raise type(exc)(f"{src.name}: {exc}") from None

    def _encode_pass(self, src: Source, motion: MotionModel, options: EncodeOptions,
                     progress: Progress | None = None, token_cache: dict | None = None) -> Stream:
        """One whole encode of the video at ``options`` (no sound), with the model as it codes
        ``src`` (motion_for)."""
        data, header, stats = encode_stream(src, motion, options, progress, token_cache)
        return Stream(data, header, stats, source=src.info)

    def _to_bitrate(self, src: Source, motion: MotionModel, options: EncodeOptions, bitrate,
                    video_bitrate, track: AudioTrack | None, audio: AudioSettings | None,
                    choose_refresh: bool, notify: Notify) -> tuple[Stream, AudioTrack | None]:
        """Rate control over the video (its passes share the motion model's analysis), and the
        sound to go with it: a target for the whole file is shared with the sound first
        (ratecontrol.share_with_sound: the sound's default rate lowered where it would leave
        the video too little)."""
        cache: dict = {}

        def encode(at: EncodeOptions) -> Stream:
            return self._encode_pass(src, motion, at, token_cache=cache)

        if video_bitrate is not None:
            return encode_to_bitrate(encode, options, src.fps,
                                     parse_bitrate(video_bitrate, "--video-bitrate"),
                                     choose_refresh, notify), track
        kbps = parse_bitrate(bitrate)
        if track is None:
            return encode_to_bitrate(encode, options, src.fps, kbps, choose_refresh, notify), None
        frames = _video_frames(src.info)
        seconds = frames / float(src.fps) if frames else track.seconds
        track, split = share_with_sound(
            kbps, track, audio or AudioSettings(), seconds,
            lambda at: encode_audio(src.path, src.info.start, at, options.chunk_seconds), notify)
        stream = encode_to_bitrate(encode, options, src.fps, split.video_kbps, choose_refresh,
                                   notify)
        return replace(stream, rate_control=replace(stream.rate_control, target_kbps=kbps,
                                                    counts="video and audio", split=split)), track

    def animate(self, source: str | Path | np.ndarray, driving: str | Path | Source, *,
                relative: bool = True, fit: str = "crop", sound: bool = True,
                align: bool = True, size: str | None = None) -> "Animation":
        """The still ``source`` (a picture file, a video whose first frame is used, or an
        (H, W, 3) uint8 array) set in motion by the ``driving`` video, at the source's own
        size (up to 1920x1080; ``size`` 'WxH' fits it into a box, a square one gives a
        square cropped or padded by ``fit``): iterate it for frames, or ``save`` it (with the
        driving video's sound unless ``sound`` is False). ``relative``: the driving motion
        from its first frame (default), else the driving tokens as they are; ``align``: fit
        the source's head to the driving video's first (animate.py)."""
        from .animate import Animation

        # the driving video at its own size, seen by the model in its region (as encodes see it)
        clip = self.open(driving if isinstance(driving, Source) else Path(driving), fit)
        return Animation(self.model, source, clip, self.motion_for(clip, global_motion=False),
                         relative, fit, sound, align, size)

    def decode(self, source: str | Path | bytes | Stream) -> Decoded:
        """An .imf file (a path), its bytes, or a Stream -> a Decoded video (header read now,
        frames decoded as they are iterated)."""
        return Decoded(self, source)
