"""Encoder-side token refinement (imfcodec/refine.py, `--refine N`)."""

import pytest
import torch
from click.testing import CliRunner

from imfcodec import frames as fr
from imfcodec.cli import main
from imfcodec.codec import Codec
from imfcodec.io.reader import read_frames
from imfcodec.refine import reconstruction_error, refine_tokens, residual_bits


class ToyDecoder(torch.nn.Module):
    """A decoder whose picture depends strongly and smoothly on the token: a fixed random
    basis of 64x64 images mixed by the token, through a sigmoid (the tiny random IMF barely
    reacts to its token, so it cannot show what refinement finds)."""

    def __init__(self, dim: int = 8, size: int = 64) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.basis = torch.randn(dim, 3 * size * size, generator=g) / dim**0.5
        self.size = size

    def decode(self, token: torch.Tensor, ref) -> torch.Tensor:
        x = torch.sigmoid(token @ self.basis)
        return x.view(-1, 3, self.size, self.size)


def test_refinement_finds_the_token_that_rebuilds_the_frame():
    toy = ToyDecoder()
    g = torch.Generator().manual_seed(2)
    true = torch.randn(4, 8, generator=g)
    frames = toy.decode(true, None)
    guess = true + torch.randn(4, 8, generator=g)  # an amortised encoder's imperfect token
    before = reconstruction_error(toy.decode(guess, None), frames)
    refined = refine_tokens(lambda t: toy.decode(t, None), frames, guess, steps=30)
    after = reconstruction_error(toy.decode(refined, None), frames)
    # every frame's error falls, and most of the way back to the true token's picture
    assert bool((after < before).all()) and float(after.sum()) < 0.3 * float(before.sum())
    assert float((refined - true).norm()) < 0.5 * float((guess - true).norm())
    # no steps: the encoder's tokens untouched
    assert torch.equal(refine_tokens(lambda t: toy.decode(t, None), frames, guess, steps=0), guess)


def test_residual_bits_count_each_token_against_the_one_before():
    unit = torch.full((2,), 0.5)
    tokens = torch.tensor([[1.0, 1.0], [1.0, 1.0], [2.0, 1.0]])
    # right after a key frame the first token is coded whole: not counted
    assert torch.allclose(residual_bits(tokens, None, unit), torch.tensor([0.0, 0.0, 1.5849625]))
    # against a previous token: log2(1 + |t - t_prev| / unit) per dimension
    bits = residual_bits(tokens, torch.tensor([0.0, 1.0]), unit)
    assert torch.allclose(bits, torch.tensor([1.5849625, 0.0, 1.5849625]))


def _on_grid_error(toy, tokens, unit, frames):
    rounded = torch.round(tokens / unit) * unit
    return reconstruction_error(toy.decode(rounded, None), frames), rounded


def test_rate_weight_trades_rebuilt_error_for_fewer_residual_bits():
    toy = ToyDecoder()
    g = torch.Generator().manual_seed(3)
    # consecutive frames of slow motion: true tokens that drift a little
    true = torch.randn(1, 8, generator=g) + 0.15 * torch.randn(6, 8, generator=g).cumsum(0)
    frames = toy.decode(true, None)
    guess = true + 0.5 * torch.randn(6, 8, generator=g)
    unit = torch.full((8,), 0.25)
    free = refine_tokens(lambda t: toy.decode(t, None), frames, guess, steps=30, unit=unit)
    priced = refine_tokens(lambda t: toy.decode(t, None), frames, guess, steps=30, unit=unit, rate_weight=0.05)
    free_error, free_q = _on_grid_error(toy, free, unit, frames)
    priced_error, priced_q = _on_grid_error(toy, priced, unit, frames)
    start_error, start_q = _on_grid_error(toy, guess, unit, frames)
    # both fit the frames on the grid far better than the encoder's guess...
    assert float(free_error.sum()) < 0.5 * float(start_error.sum())
    assert float(priced_error.sum()) < float(start_error.sum())
    # ...and pricing the bits buys cheaper residuals for some of that error
    priced_bits = float(residual_bits(priced_q, None, unit).sum())
    assert priced_bits < 0.8 * float(residual_bits(free_q, None, unit).sum())
    assert float(priced_error.sum()) > float(free_error.sum())


def test_refinement_never_returns_a_worse_token_and_leaves_the_model_alone(clip, tiny_model):
    model = tiny_model.network
    frames = list(read_frames(clip, model.cfg.image_size))
    x = fr.to_tensor(frames[4:8], "cpu")
    with torch.no_grad():
        ref = model.reference(fr.to_tensor(frames[:1], "cpu"))
        tokens = model.encode_token(x)

    def error(t):
        with torch.no_grad():
            return reconstruction_error(model.decode(t, ref).clamp(0, 1), x)

    # a large step from a good start overshoots: the best iterate (the start) is kept
    refined = refine_tokens(lambda t: model.decode(t, ref), x, tokens, steps=5, lr=50.0)
    assert bool((error(refined) <= error(tokens)).all())
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.slow
def test_refined_file_decodes_with_the_plain_decoder(tmp_path, clip):
    # The shipped model, not the tiny random one: that one starts at the copy floor and
    # barely reacts to its token, so whether refinement beats its starting token on the
    # grid is decided by float rounding there.
    shipped = Codec.load(device="cpu")
    plain, refined = tmp_path / "plain.imf", tmp_path / "refined.imf"
    shipped.encode(clip, quality=7).save(plain)
    stream = shipped.encode(clip, quality=7, refine=10)
    stream.save(refined)
    assert stream.stats.frames == 12 and stream.stats.key_frames == 1
    # same format and header, other tokens; the plain decoder reads it (the gain in picture
    # quality is measured on the val clips with the shipped model: docs/refine.md)
    assert plain.read_bytes()[:16] == refined.read_bytes()[:16]
    assert plain.read_bytes() != refined.read_bytes()
    decoded = list(shipped.decode(refined))
    assert len(decoded) == 12 and decoded[0].shape == next(iter(shipped.decode(plain))).shape


@pytest.mark.slow
def test_cli_refine_option_and_bench_rows_match_standalone_encodes(tmp_path, clip, tiny_model_path):
    out = tmp_path / "r.imf"
    r = CliRunner().invoke(main, ["encode", str(clip), str(out), "--model", str(tiny_model_path),
                                  "--refine", "3", "--adaptive", "--json"])
    assert r.exit_code == 0, r.output
    import json
    assert json.loads(r.output)["refine_steps"] == 3
    r = CliRunner().invoke(main, ["encode", str(clip), str(tmp_path / "x.imf"), "--refine", "-1"])
    assert r.exit_code == 2 and "--refine" in r.output and not (tmp_path / "x.imf").exists()
    bench = tmp_path / "bench"
    r = CliRunner().invoke(main, ["bench", str(clip), "--out", str(bench), "--codecs", "imf-adaptive",
                                  "--qualities", "3", "--refine", "3", "--model", str(tiny_model_path)])
    assert r.exit_code == 0, r.output
    summary = json.loads((bench / "results.json").read_text())
    assert summary["refine_steps"] == 3
    assert summary["rows"][0]["bytes"] == out.stat().st_size


def test_each_batch_starts_from_the_last_sent_frames_correction(monkeypatch, tmp_path, clip, tiny_model):
    """The encoder warm-starts refinement: E_T's tokens plus the correction (refined minus
    E_T's token) of the last frame sent since the key frame; E_T's alone after a key frame."""
    from imfcodec.motion import imf

    calls = []

    def recording(render, frames, tokens, steps, **kwargs):
        calls.append(tokens.clone())
        return tokens + 0.01 * len(calls)  # moves each call's start by a known amount

    monkeypatch.setattr(imf, "refine_tokens", recording)
    codec = Codec(tiny_model)
    # (quality 0: a step coarse enough for the tiny model's tokens, so one pass makes the
    # file; a finer one raises the step and codes the frames again: encoder.encode_stream)
    stream = codec.encode(clip, quality=0, refine=2, key_placement="start", size="64x64")
    assert stream.stats.key_frames == 1 and stream.stats.step_raised_from is None
    frames = codec.open(clip, size="64x64").read()
    with torch.no_grad():
        e_t = tiny_model.network.encode_token(fr.to_tensor(frames, "cpu")).float()
    # one key frame (frame 0), then batches of 4: frames 1-4, 5-8, 9-11
    assert len(calls) == 3
    assert torch.allclose(calls[0], e_t[1:5], atol=1e-5)
    # batch 2 starts from E_T + batch 1's correction for its last frame (0.01)
    assert torch.allclose(calls[1], e_t[5:9] + 0.01, atol=1e-5)
    # batch 2 returned its start + 0.02: its correction against E_T is 0.03
    assert torch.allclose(calls[2], e_t[9:12] + 0.03, atol=1e-5)
