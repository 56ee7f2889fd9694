"""The final placement of an output is the authority on --force (issue 40): check_target looks
before the work, and a file made at the target while imfcodec works (a second encode, another
program) is never replaced without --force; nothing temporary is left behind."""

from __future__ import annotations

import errno

import pytest
from click.testing import CliRunner

from imfcodec.cli import main
from imfcodec.errors import OutputError
from imfcodec.io import atomic
from imfcodec.io.atomic import atomic_path, write_bytes


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_error_line(result, code, message):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], result.output
    assert "Traceback" not in result.output


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def no_hard_links(monkeypatch):
    """link() as on FAT or exFAT: not supported."""
    def refuse(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", refuse)


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_a_file_made_during_the_work_is_not_replaced_without_force(tmp_path, monkeypatch, links):
    if not links:
        no_hard_links(monkeypatch)
    target = tmp_path / "out.imf"
    with pytest.raises(OutputError, match="exists"):
        with atomic_path(target, force=False) as tmp:  # check_target has passed: no out.imf
            tmp.write_bytes(b"ours")
            target.write_bytes(b"theirs")  # another encode finishes first
    assert target.read_bytes() == b"theirs"
    assert names(tmp_path) == ["out.imf"]  # no temporary file left
    with atomic_path(target, force=True) as tmp:
        tmp.write_bytes(b"ours")
    assert target.read_bytes() == b"ours" and names(tmp_path) == ["out.imf"]


@pytest.mark.parametrize("links", [True, False], ids=["hard-links", "no-hard-links"])
def test_placement_without_a_rival_puts_the_file_in_place(tmp_path, monkeypatch, links):
    if not links:
        no_hard_links(monkeypatch)
    target = write_bytes(tmp_path / "a.bin", b"data")
    assert target.read_bytes() == b"data" and names(tmp_path) == ["a.bin"]
    with pytest.raises(OutputError, match="exists"):
        write_bytes(target, b"other")
    assert target.read_bytes() == b"data" and names(tmp_path) == ["a.bin"]


def test_a_folder_made_during_the_work_is_not_replaced_without_force(tmp_path):
    target = tmp_path / "frames"
    ours = lambda folder: all(p.suffix == ".png" for p in folder.iterdir())  # noqa: E731
    for theirs in ([], ["frame_000000.png"]):  # empty (rename would replace it), or not
        with pytest.raises(OutputError, match="exists"):
            with atomic_path(target, force=False, directory=True, replaceable=ours) as tmp:
                (tmp / "frame_000000.png").write_bytes(b"ours")
                target.mkdir()
                for name in theirs:
                    (target / name).write_bytes(b"theirs")
        assert names(target) == theirs and names(tmp_path) == ["frames"]
        if theirs:
            assert (target / theirs[0]).read_bytes() == b"theirs"
        target.rmdir() if not theirs else None
    with atomic_path(target, force=True, directory=True, replaceable=ours) as tmp:
        (tmp / "frame_000000.png").write_bytes(b"ours")
    assert (target / "frame_000000.png").read_bytes() == b"ours" and names(tmp_path) == ["frames"]


def rival(monkeypatch, made):
    """Makes each output's target (a file, or a folder holding a file) right after the
    temporary output beside it, as a second imfcodec writing there would."""
    real = atomic._temporary

    def racing(path, directory):
        tmp = real(path, directory)
        if directory:
            path.mkdir()
            (path / "theirs.txt").write_bytes(b"theirs")
        else:
            path.write_bytes(b"theirs")
        made.append(path)
        return tmp

    monkeypatch.setattr(atomic, "_temporary", racing)


def test_encode_and_decode_refuse_a_target_made_while_they_work(tmp_path, clip, tiny_model_path,
                                                                monkeypatch):
    imf = tmp_path / "a.imf"
    assert run("encode", clip, imf, "--model", tiny_model_path, "--quiet").exit_code == 0
    made = []
    rival(monkeypatch, made)
    one_error_line(run("encode", clip, tmp_path / "b.imf", "--model", tiny_model_path, "--quiet"),
                   3, "exists")
    assert (tmp_path / "b.imf").read_bytes() == b"theirs"
    one_error_line(run("decode", imf, tmp_path / "b.mkv", "--model", tiny_model_path, "--quiet"),
                   3, "exists")
    assert (tmp_path / "b.mkv").read_bytes() == b"theirs"
    one_error_line(run("decode", imf, tmp_path / "frames", "--model", tiny_model_path, "--quiet"),
                   3, "exists")
    assert names(tmp_path / "frames") == ["theirs.txt"]
    assert made == [tmp_path / "b.imf", tmp_path / "b.mkv", tmp_path / "frames"]
    assert names(tmp_path) == ["a.imf", "b.imf", "b.mkv", "frames"]  # no temporary left
    # with --force the file made meanwhile is replaced
    r = run("encode", clip, tmp_path / "b.imf", "--model", tiny_model_path, "--quiet", "--force")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b.imf").read_bytes() == imf.read_bytes()
    assert names(tmp_path) == ["a.imf", "b.imf", "b.mkv", "frames"]


def test_the_sound_beside_goes_too_when_the_frames_cannot_be_placed(tmp_path, monkeypatch):
    from .test_audio import write_av
    from .conftest import synthetic_frames

    source = write_av(tmp_path / "tone.mkv", synthetic_frames(10, 64, 64), seconds=0.4)
    imf = tmp_path / "a.imf"
    assert run("encode", source, imf, "--model", "static", "--quiet").exit_code == 0
    real = atomic._temporary

    def racing(path, directory):  # only the frames' target is taken meanwhile
        tmp = real(path, directory)
        if path.suffix == ".y4m":
            path.write_bytes(b"theirs")
        return tmp

    monkeypatch.setattr(atomic, "_temporary", racing)
    one_error_line(run("decode", imf, tmp_path / "out.y4m", "--quiet"), 3, "exists")
    assert (tmp_path / "out.y4m").read_bytes() == b"theirs"
    assert names(tmp_path) == ["a.imf", "out.y4m", "tone.mkv"]  # no out.opus without its frames
