"""Typed errors raised by the library. The CLI turns each into one line and an exit code."""


class IMFError(Exception):
    """Base class of every error imfcodec raises on purpose."""

    exit_code = 1


class InputError(IMFError):
    """The input video (or other input path) cannot be used."""

    exit_code = 2


class OutputError(IMFError):
    """The output cannot be written (exists without --force, unwritable, unknown kind)."""

    exit_code = 3


class FormatError(IMFError):
    """An .imf file is malformed, truncated, corrupted or of an unsupported version."""

    exit_code = 4


class ModelError(IMFError):
    """Model weights are missing, unsafe, corrupt, or do not match the stream."""

    exit_code = 5


class DeviceError(InputError):
    """The device asked for (``--device cuda``) is not on this machine."""
