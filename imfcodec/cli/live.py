"""The live commands: `imfcodec send` and `imfcodec receive` (imfcodec/live/)."""

from __future__ import annotations

import click

from .common import emit_json, output_options, say_to


@click.command()
@click.argument("source")
@click.argument("dest")
@click.option("--model", "model_name", default=None, help="Shipped model name or .safetensors path.")
@click.option("--quality", "-q", type=click.IntRange(0, 7), default=3, show_default=True,
              help="0 = lowest rate .. 7 = best quality.")
@click.option("--bitrate", default=None,
              help="A target for video and sound together (e.g. 16k), followed as it goes.")
@click.option("--adaptive/--no-adaptive", default=True, show_default=True,
              help="Closed-loop (predicted) key frames where they pay.")
@click.option("--packet-frames", type=click.IntRange(1, 60), default=1, show_default=True,
              help="Frames in each token packet: 1 sends each frame as soon as it is coded, "
                   "in a FRAME record (3 bytes besides its token); N > 1 holds N frames to "
                   "a TOKENS record (about 13 bytes besides the tokens): fewer bytes only "
                   "for several frames (2 cost more than 1; a second of frames less), "
                   "for N - 1 frame times more latency (docs/live.md).")
@click.option("--interpolate/--no-interpolate", default=True, show_default=True,
              help="Hold each frame until the next is coded, and leave out its token where "
                   "the midpoint of its neighbours' rebuilds it about as well: -14 % "
                   "BD-rate on the val clips, for 40 ms more latency at 25 fps (with "
                   "--packet-frames 1; docs/live.md).")
@click.option("--max-key-seconds", type=click.FloatRange(0), default=0.0, show_default=True,
              help="An intra key frame at least this often (0: when a receiver asks, or at a "
                   "scene cut).")
@click.option("--delay", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="A latency budget, up to 10 s, for a broadcast rather than a call: frames "
                   "wait three quarters of it so that each key frame is the most typical of "
                   "its run's first frames (as a file's), and go out in packets of the "
                   "rest's; 2 s: +8 % BD-rate against a file, where a call costs +26 % (0: "
                   "each frame as soon as it is coded; docs/live.md).")
@click.option("--size", metavar="WxH", default=None,
              help="The picture sent: fitted inside WIDTHxHEIGHT, keeping the aspect ratio (a "
                   "square, e.g. 256x256: the model's square, by --fit, the fewest bits; "
                   "1280x720 where the CPUs keep up). Default: the source's own size, "
                   "scaled down to fit 640x360 (real time on 2 cores).")
@click.option("--fit", type=click.Choice(["crop", "pad"]), default="crop", show_default=True,
              help="For a square picture (--size NxN): centre crop, or pad keeping all of it.")
@click.option("--audio-bitrate", default="8k", show_default=True, help="Opus rate of the sound.")
@click.option("--audio-channels", type=click.IntRange(1, 2), default=1, show_default=True)
@click.option("--no-audio", is_flag=True, help="Send no sound.")
@click.option("--loop", is_flag=True, help="Play a file SOURCE again and again.")
@click.option("--seconds", type=click.FloatRange(0, min_open=True), default=None,
              help="Stop after this many seconds of the source.")
@click.option("--input-format", default=None,
              help="FFmpeg's input format for a device SOURCE (v4l2 for /dev/video*, implied).")
@click.option("--on-drop", type=click.Choice(["wait", "continue"]), default="wait",
              show_default=True,
              help="When the connection drops: wait for the receiver (a file pauses), or carry "
                   "on and send again once it is back.")
@click.option("--log", default=None, help="Write each frame's read time and bytes (JSON lines).")
@output_options("Overwrite DEST if it is a file that exists.", "No messages or summary.")
def send(source, dest, model_name, quality, bitrate, adaptive, packet_frames, interpolate,
         max_key_seconds, delay, size, fit, audio_bitrate, audio_channels, no_audio, loop, seconds,
         input_format, on_drop, log, device, force, quiet, as_json):
    """Code SOURCE live and send it to DEST.

    SOURCE: a video file (played at its own frame rate), a camera (/dev/video0) or other
    FFmpeg device (--input-format), or - (a container on standard input). DEST: ws://HOST:PORT
    or tcp://HOST:PORT of an `imfcodec receive`, or a file (an .imf that `imfcodec decode`
    reads). Ends with the source, or Ctrl-C."""
    from ..codec import Codec
    from ..io.atomic import check_target
    from ..live.encoder import LiveSettings
    from ..live.send import send as run_send
    from ..live.transport import parse_address
    from ..ratecontrol import parse_bitrate

    settings = LiveSettings(
        quality=quality, adaptive=adaptive, packet_frames=packet_frames, interpolate=interpolate,
        bitrate=None if bitrate is None else parse_bitrate(bitrate) * 1000, size=size, fit=fit,
        audio_bitrate=round(parse_bitrate(audio_bitrate, "--audio-bitrate") * 1000),
        audio_channels=audio_channels, max_key_seconds=max_key_seconds, delay=delay)
    if parse_address(dest) is None:
        check_target(dest, force)
    codec = Codec.load(model_name, device)
    say = say_to(quiet or as_json)
    report = run_send(codec, source, dest, settings, loop=loop, input_format=input_format,
                      on_drop=on_drop, sound=not no_audio, seconds=seconds, force=force, say=say,
                      log=log)
    if as_json:
        emit_json(report.to_dict())
    else:
        data = report.to_dict()
        say(f"sent {report.sent} of {report.frames} frames at {report.width}x{report.height} in "
            f"{report.streams} stream(s), "
            f"{report.key_frames} key frames: {data['kbps']:.2f} kbps (video {data['video_kbps']:.2f}, "
            f"sound {data['audio_kbps']:.2f})"
            + (f"; {report.dropped_packets} packets dropped for a slow link" if report.dropped_packets else "")
            + (f"; {report.repeated} frames repeated to keep up with real time" if report.repeated else ""))


@click.command()
@click.argument("listen")
@click.argument("output")
@click.option("--model", "model_name", default=None,
              help="Shipped model name or .safetensors path (default: the one each stream names).")
@click.option("--view-port", type=click.IntRange(1, 65535), default=None,
              help="With tcp://: serve the browser view on this port (ws:// serves it on LISTEN's).")
@click.option("--stay", is_flag=True, help="Keep listening when a stream ends (until Ctrl-C).")
@click.option("--no-audio", is_flag=True, help="Leave the sound out of OUTPUT.")
@click.option("--log", default=None, help="Write each frame's decode time (JSON lines).")
@output_options("Overwrite OUTPUT if it exists.", "No messages or summary.")
def receive(listen, output, model_name, view_port, stay, no_audio, log, device, force, quiet,
            as_json):
    """Receive a live stream on LISTEN (ws://HOST:PORT or tcp://HOST:PORT) and write it to
    OUTPUT (.mkv, .mp4, .y4m, or - for .y4m on standard output, messages then on standard
    error) as frames arrive; a ws://
    address also serves a page that shows the video live at http://HOST:PORT/. Ends when the
    sender ends its stream, or Ctrl-C."""
    from ..codec import Codec
    from ..live.receive import receive as run_receive

    codec = Codec.load(model_name, device)
    say = say_to(quiet or as_json, stderr=output == "-")
    report = run_receive(codec, listen, output, force=force, sound=not no_audio, stay=stay,
                         view_port=view_port, say=say, log=log)
    data = report.to_dict()
    if as_json and output == "-":  # standard output carries the video
        import json

        click.echo(json.dumps(data, sort_keys=True), err=True)
    elif as_json:
        emit_json(data)
    else:
        latency = (f", latency {data['latency_ms_median']:.0f} ms median"
                   if data["latency_ms_median"] is not None else "")
        say(f"wrote {output}: {report.frames} frames from {report.streams} stream(s), "
            f"{data['kbps']:.2f} kbps{latency}"
            + (f", {report.dropped} drawn again (behind)" if report.dropped else "")
            + (f", {report.lost} lost" if report.lost else "")
            + (f", {report.refused} packets refused" if report.refused else "")
            + ("; interrupted" if report.interrupted else ""))
