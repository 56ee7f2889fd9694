"""imfcodec: a neural talking-head video codec built on the Implicit Motion Function."""

__version__ = "0.1.0"
