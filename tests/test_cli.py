import json

import pytest
from click.testing import CliRunner

from imfcodec.cli import main


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result


def test_encode_decode_info_json(tmp_path, clip, tiny_model_path):
    out = tmp_path / "a.imf"
    r = run("encode", clip, out, "--model", tiny_model_path, "--json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["bytes"] == out.stat().st_size and summary["frames"] == 12
    assert summary["kbps"] == pytest.approx(out.stat().st_size * 8 / 1000 / 1.2, rel=1e-3)
    r = run("decode", out, tmp_path / "a.mp4", "--model", tiny_model_path, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["frames"] == 12
    r = run("info", out, "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert info["bytes"] == info["bytes_key_frames"] + info["bytes_tokens"] + info["bytes_container"]
    assert info["key_frames"][0]["reason"] == "start" and info["fps"] == "10/1"


def test_missing_input_is_one_line_exit_2(tmp_path, tiny_model_path):
    r = run("encode", tmp_path / "nope.mp4", tmp_path / "o.imf", "--model", tiny_model_path)
    assert r.exit_code == 2
    assert "no such file" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o.imf").exists()


def test_text_file_named_mp4_is_refused(tmp_path, tiny_model_path):
    bad = tmp_path / "text.mp4"
    bad.write_text("hello, this is not a video\n" * 20)
    r = run("encode", bad, tmp_path / "o.imf", "--model", tiny_model_path)
    assert r.exit_code == 2 and "not a video FFmpeg can read" in r.output
    assert list(tmp_path.iterdir()) == [bad]


def test_existing_output_needs_force(tmp_path, clip, tiny_model_path):
    out = tmp_path / "a.imf"
    out.write_bytes(b"keep me")
    r = run("encode", clip, out, "--model", tiny_model_path)
    assert r.exit_code == 3 and "exists (use --force to overwrite)" in r.output
    assert out.read_bytes() == b"keep me"
    r = run("encode", clip, out, "--model", tiny_model_path, "--force", "--quiet")
    assert r.exit_code == 0 and out.read_bytes()[:4] == b"\x89IMF"


def test_corrupt_imf_is_exit_4_and_leaves_no_output(tmp_path, clip, tiny_model_path):
    out = tmp_path / "a.imf"
    assert run("encode", clip, out, "--model", tiny_model_path, "--quiet").exit_code == 0
    data = bytearray(out.read_bytes())
    # flip a bit inside the key frame's picture data (not a length field, which would read
    # as a truncation instead: where the file's middle falls depends on the token bytes,
    # which vary with the number of threads)
    from imfcodec import bitstream as bs
    with open(out, "rb") as f:
        key = next(r for _, r in bs.read_records(f) if isinstance(r, bs.KeyFrame))
    at = bytes(data).find(key.data) + len(key.data) // 2
    data[at] ^= 0x10
    out.write_bytes(bytes(data))
    r = run("decode", out, tmp_path / "b.mkv", "--model", tiny_model_path)
    assert r.exit_code == 4 and "checksum mismatch" in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.imf"]


def test_stream_from_another_model_names_both(tmp_path, clip, tiny_model_path):
    out = tmp_path / "a.imf"
    assert run("encode", clip, out, "--model", tiny_model_path, "--quiet").exit_code == 0
    r = run("decode", out, tmp_path / "b.mkv")  # the default model is not the one used
    assert r.exit_code == 5 and "made with model tiny-test" in r.output
    assert not (tmp_path / "b.mkv").exists()


def test_unknown_output_kind(tmp_path, clip, tiny_model_path):
    out = tmp_path / "a.imf"
    assert run("encode", clip, out, "--model", tiny_model_path, "--quiet").exit_code == 0
    r = run("decode", out, tmp_path / "b.avi", "--model", tiny_model_path)
    assert r.exit_code == 3 and "unknown output kind" in r.output


def test_unwritable_output_directory(tmp_path, clip, tiny_model_path):
    r = run("encode", clip, tmp_path / "missing" / "a.imf", "--model", tiny_model_path)
    assert r.exit_code == 3 and "output directory does not exist" in r.output
