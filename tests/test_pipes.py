"""Standard input and output through real pipes (issue 40): a reader that stops early ends
imfcodec quietly (status 141, as the shell reports for coreutils), an .imf piped in decodes,
and standard input, FIFOs and devices as a video input are refused in one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from imfcodec.cli import main
from imfcodec.cli.app import EXIT_PIPE


def run(*args, **kwargs):
    return CliRunner().invoke(main, [str(a) for a in args], **kwargs)


def one_error_line(result, code, message):
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], result.output
    assert "Traceback" not in result.output


def imfcodec(*args, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "imfcodec.cli", *map(str, args)], **kwargs)


@pytest.fixture(scope="module")
def imf(tmp_path_factory, clip, tiny_model_path):
    path = tmp_path_factory.mktemp("pipes") / "a.imf"
    assert run("encode", clip, path, "--model", tiny_model_path, "--quiet").exit_code == 0
    return path


def test_decode_to_a_pipe_closed_after_100_bytes_ends_quietly(imf, tiny_model_path):
    # 12 frames of 80x64 y4m 4:4:4 are 184 kB, more than a pipe holds: the reader's close is met
    proc = imfcodec("decode", imf, "-", "--model", tiny_model_path, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE)
    head = proc.stdout.read(100)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert head.startswith(b"YUV4MPEG2 W80 H64")
    assert proc.returncode == EXIT_PIPE == 141, err
    assert "Traceback" not in err and "error" not in err.lower() and len(err.strip().splitlines()) <= 1


@pytest.mark.parametrize("args", [["info", "{imf}"], ["info", "{imf}", "--json"],
                                  ["encode", "{clip}", "-", "--quiet"],
                                  ["decode", "{imf}", "{out}", "--json"]],
                         ids=["info", "info-json", "encode-stdout", "decode-json"])
def test_every_report_to_a_closed_pipe_ends_quietly(imf, clip, tiny_model_path, tmp_path, args):
    args = [a.format(imf=imf, clip=clip, out=tmp_path / "b.mkv") for a in args]
    # the reader is gone before the command starts, so its first write meets a closed pipe
    # (closing it after the start raced a quick `info`, which could write its few lines into
    # the pipe's buffer first while this process was held up, and end with 0)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = imfcodec(*args, "--model", tiny_model_path, stdout=write_end, stderr=subprocess.PIPE) \
            if args[0] != "info" else imfcodec(*args, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert proc.returncode == EXIT_PIPE, err
    assert err.strip() == "", err


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_an_imf_piped_in_decodes_as_the_file_does(imf, tiny_model_path, tmp_path, name):
    assert run("decode", imf, tmp_path / "ref.y4m", "--model", tiny_model_path,
               "--quiet").exit_code == 0
    proc = imfcodec("decode", name, tmp_path / "out.y4m", "--model", tiny_model_path, "--json",
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(imf.read_bytes(), timeout=120)
    assert proc.returncode == 0, err.decode()
    assert (tmp_path / "out.y4m").read_bytes() == (tmp_path / "ref.y4m").read_bytes()
    assert b'"input": "-"' in out


def test_nothing_or_no_imf_on_standard_input_is_one_line(tmp_path, clip, tiny_model_path):
    one_error_line(run("decode", "-", tmp_path / "o.mkv", "--model", tiny_model_path, input=b""),
                   2, "standard input is empty")
    one_error_line(run("decode", "-", tmp_path / "o.mkv", "--model", tiny_model_path,
                       input=clip.read_bytes()), 4, "not an .imf file")
    assert not (tmp_path / "o.mkv").exists()


def test_encode_from_a_pipe_on_dev_stdin_says_standard_input(tmp_path, clip, tiny_model_path):
    proc = imfcodec("encode", "/dev/stdin", tmp_path / "o.imf", "--model", tiny_model_path,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = proc.communicate(clip.read_bytes(), timeout=120)
    err = err.decode()
    assert proc.returncode == 2, err
    assert err.strip().splitlines() == ["error: reading video from standard input is not "
                                        "supported; give a file"], err
    assert not (tmp_path / "o.imf").exists()


def test_a_fifo_or_a_device_as_input_is_refused_without_waiting(tmp_path, tiny_model_path):
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)  # no writer: opening it would wait for ever
    one_error_line(run("encode", fifo, tmp_path / "o.imf", "--model", tiny_model_path), 2,
                   "is a pipe (FIFO), not a video in a regular file")
    one_error_line(run("decode", fifo, tmp_path / "o.mkv", "--model", tiny_model_path), 2,
                   "is a pipe (FIFO)")
    one_error_line(run("info", fifo), 2, "is a pipe (FIFO)")
    one_error_line(run("encode", "/dev/zero", tmp_path / "o.imf", "--model", tiny_model_path), 2,
                   "/dev/zero: is a device")
    one_error_line(run("info", "-"), 2, "standard input is not supported")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fifo"]
