"""Live coding: a stream made and read as it goes, for calls (docs/live.md).

The data flow, one file a step:
  capture.py   a source played in real time: a file at its own frame rate, a camera, a pipe
  encoder.py   LiveEncoder: frames and sound in, one at a time; packets (records) out
  lookahead.py the frames a latency budget holds, and where each run's key frame goes
  sound.py     the sound coded as it comes, each record held until its frames are sent
  rate.py      rate control that follows a target as it goes (the refresh price, online)
  decoder.py   LiveDecoder: packets in, frames (Pictures) and sound (Listening) out as soon
               as they can be shown
  transport.py a connection that carries packets: WebSocket (websockets) or TCP
  send.py      `imfcodec send`: capture -> encoder -> connection (or a file)
  receive.py   `imfcodec receive`: connection -> decoder -> output file and browser view
  view.py      the page `receive` serves, and what it pushes to it
A live stream is the same record format as a file (format 9.0 to 12.0, docs/format.md): saved, it
decodes with `imfcodec decode`; a file's records can be sent as a stream when its key
frames come first in their runs (--key-placement start).
"""

from .decoder import LiveDecoder
from .encoder import LiveEncoder, LiveSettings

__all__ = ["LiveDecoder", "LiveEncoder", "LiveSettings"]
