"""Encoder-side token refinement (imfcodec/refine.py, `--refine N`)."""

import numpy as np
import torch
from click.testing import CliRunner

from imfcodec import frames as fr
from imfcodec.cli import main
from imfcodec.codec import EncodeOptions, StreamDecoder, encode_video
from imfcodec.io.reader import read_frames
from imfcodec.refine import reconstruction_error, refine_tokens


def _error(tiny_model, ref, x, tokens):
    with torch.no_grad():
        return reconstruction_error(tiny_model.model.decode(tokens, ref).clamp(0, 1), x)


def test_refinement_lowers_each_frames_error_and_never_raises_it(clip, tiny_model):
    model = tiny_model.model
    frames = list(read_frames(clip, model.cfg.image_size))
    x = fr.to_tensor(frames[4:8], "cpu")
    with torch.no_grad():
        ref = model.reference(fr.to_tensor(frames[:1], "cpu"))
        tokens = model.encode_token(x)
    before = _error(tiny_model, ref, x, tokens)
    refined = refine_tokens(model, ref, x, tokens, steps=8)
    after = _error(tiny_model, ref, x, refined)
    assert refined.shape == tokens.shape and not torch.equal(refined, tokens)
    assert bool((after <= before).all()) and float(after.sum()) < float(before.sum())
    # no steps: the token encoder's tokens, untouched; the model's weights get no gradients
    assert torch.equal(refine_tokens(model, ref, x, tokens, steps=0), tokens)
    assert all(p.grad is None for p in model.parameters())


def _decoded_error(path, clip, loaded):
    source = list(read_frames(clip, loaded.model.cfg.image_size))
    with open(path, "rb") as f:
        decoded = list(StreamDecoder(f, lambda header: loaded).frames())
    assert len(decoded) == len(source)
    return float(np.mean([np.abs(s.astype(np.float32) - d).mean() for s, d in zip(source, decoded)]))


def test_refined_file_decodes_with_the_plain_decoder_and_looks_closer(tmp_path, clip, tiny_model):
    plain, refined = tmp_path / "plain.imf", tmp_path / "refined.imf"
    encode_video(clip, plain, tiny_model, EncodeOptions(quality=7))
    result = encode_video(clip, refined, tiny_model, EncodeOptions(quality=7, refine_steps=10))
    assert result.frames == 12 and result.key_frames == 1
    # same format and header; the decoder needs nothing new, and shows a closer picture
    assert plain.read_bytes()[:16] == refined.read_bytes()[:16]
    assert plain.read_bytes() != refined.read_bytes()
    assert _decoded_error(refined, clip, tiny_model) < _decoded_error(plain, clip, tiny_model)


def test_cli_refine_option_and_bench_rows_match_standalone_encodes(tmp_path, clip, tiny_model_path):
    out = tmp_path / "r.imf"
    r = CliRunner().invoke(main, ["encode", str(clip), str(out), "--model", str(tiny_model_path),
                                  "--refine", "3", "--adaptive", "--quiet"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["encode", str(clip), str(tmp_path / "x.imf"), "--refine", "-1"])
    assert r.exit_code == 2 and "--refine" in r.output and not (tmp_path / "x.imf").exists()
    bench = tmp_path / "bench"
    r = CliRunner().invoke(main, ["bench", str(clip), "--out", str(bench), "--codecs", "imf-adaptive",
                                  "--qualities", "3", "--refine", "3", "--model", str(tiny_model_path)])
    assert r.exit_code == 0, r.output
    import json
    summary = json.loads((bench / "results.json").read_text())
    assert summary["refine_steps"] == 3
    assert summary["rows"][0]["bytes"] == out.stat().st_size
