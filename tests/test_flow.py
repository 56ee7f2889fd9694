"""The flow motion model: a motion dictionary of grid flows, DIS analysis, warping synthesis."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from imfcodec import motion
from imfcodec.codec import Codec
from imfcodec.motion import dictionary as md
from imfcodec.motion import flowfield
from imfcodec.motion.flow import FlowConfig, FlowMotion, serialize
from imfcodec.refresh import RefreshRule
from imfcodec.source import Source

from .conftest import write_clip

DATA = Path(__file__).parent / "data"
SIZE, GRID = 64, 8


def affine_flows(n: int, grid: int, size: int, seed: int = 0) -> np.ndarray:
    """Grid flows of random translations, zooms and small rotations: (n, 2, G, G)."""
    rng = np.random.default_rng(seed)
    centres = (np.arange(grid) + 0.5) * (size / grid) - size / 2
    yy, xx = np.meshgrid(centres, centres, indexing="ij")
    out = np.empty((n, 2, grid, grid), np.float32)
    for i in range(n):
        tx, ty = rng.uniform(-4, 4, 2)
        zoom, turn = rng.uniform(-0.06, 0.06, 2)
        out[i, 0] = tx + zoom * xx - turn * yy
        out[i, 1] = ty + zoom * yy + turn * xx
    return out


def texture(size: int, seed: int = 0) -> np.ndarray:
    """A smooth random picture with detail at several scales (DIS needs texture)."""
    rng = np.random.default_rng(seed)
    picture = np.zeros((size, size, 3), np.float32)
    for cells in (4, 8, 16):
        noise = rng.uniform(0, 1, (cells, cells, 3)).astype(np.float32)
        picture += torch.nn.functional.interpolate(
            torch.from_numpy(noise).permute(2, 0, 1)[None], size=(size, size), mode="bicubic",
            align_corners=False)[0].permute(1, 2, 0).numpy()
    return (picture / 3 * 255).clip(0, 255).astype(np.uint8)


def shifted(picture: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The picture moved by (dx, dy) pixels (content at x comes from x - d)."""
    import cv2

    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(picture, matrix, picture.shape[1::-1], borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def flow_model_path(tmp_path_factory) -> Path:
    dictionary = md.principal(affine_flows(400, GRID, SIZE), 6)
    path = tmp_path_factory.mktemp("flow") / "flow-test.safetensors"
    path.write_bytes(serialize(dictionary, FlowConfig(SIZE, GRID, 6, 0.25, "medium"), "flow-test"))
    return path


@pytest.fixture(scope="module")
def flow_model(flow_model_path) -> FlowMotion:
    return motion.load(flow_model_path)


def test_projection_and_rebuild_round_trip(flow_model):
    d = flow_model.dictionary
    # the directions are orthogonal with RMS 1 per grid number
    gram = d.basis.astype(np.float64) @ d.basis.T / d.basis.shape[1]
    assert np.allclose(gram, np.eye(d.size), atol=1e-5)
    coefficients = np.random.default_rng(1).normal(0, 2, (5, d.size)).astype(np.float32)
    coarse = d.rebuild(torch.from_numpy(coefficients)).numpy()
    assert coarse.shape == (5, 2, GRID, GRID)
    assert np.allclose(d.project(coarse), coefficients, atol=1e-4)
    # the training flows lie in the dictionary's span (6 directions hold every affine flow)
    flows = affine_flows(10, GRID, SIZE, seed=5)
    rebuilt = d.rebuild(torch.from_numpy(d.project(flows))).numpy()
    assert np.abs(rebuilt - flows).max() < 1e-3


def test_the_weights_file_round_trips_and_names_its_kind(flow_model, flow_model_path):
    assert isinstance(flow_model, FlowMotion)
    assert flow_model.description.kind == "flow" and flow_model.token_dim == 6
    assert flow_model.digest == hashlib.sha256(flow_model_path.read_bytes()).digest()[:16]
    assert np.allclose(flow_model.token_scale, 0.25)


def test_a_translated_frame_is_recovered_by_the_coefficients(flow_model):
    reference = texture(SIZE)
    ref = flow_model.reference(reference)
    for dx, dy in ((3.0, -2.0), (-1.5, 2.5)):
        frame = shifted(reference, dx, dy)
        tokens = flow_model.analyse([frame], ref)
        coarse = flow_model.dictionary.rebuild(torch.from_numpy(tokens)).numpy()[0]
        inner = coarse[:, 2:-2, 2:-2]  # away from the borders the shift revealed
        # frame(x) = reference(x - d): the flow to the reference is -d
        assert abs(inner[0].mean() + dx) < 0.3 and abs(inner[1].mean() + dy) < 0.3
        rebuilt = flow_model.synthesise(ref, tokens)[0].astype(np.float32)
        error = np.abs(rebuilt - frame)[8:-8, 8:-8].mean()
        unmoved = np.abs(reference.astype(np.float32) - frame)[8:-8, 8:-8].mean()
        assert error < 0.35 * unmoved


def test_warp_by_zero_flow_is_the_identity():
    picture = torch.rand(1, 3, 16, 16)
    assert torch.allclose(flowfield.warp(picture, torch.zeros(2, 2, 16, 16)), picture.expand(2, -1, -1, -1),
                          atol=1e-6)


def test_refinement_lowers_the_rebuilt_error(flow_model):
    reference = texture(SIZE, seed=3)
    frames = [shifted(reference, 2.0 + t, -1.0) for t in range(3)]
    ref = flow_model.reference(reference)
    tokens = flow_model.analyse(frames, ref)
    start = tokens + 1.5  # a poor start
    grid = np.full(6, 0.05, np.float32)
    refined = flow_model.refine(ref, frames, start, 30, grid, None, 0.0)

    def error(t):
        shown = np.rint(t / grid) * grid
        return np.abs(flow_model.synthesise(ref, shown.astype(np.float32)).astype(np.float32)
                      - np.stack(frames)).mean()

    assert error(refined) < 0.7 * error(start)


def _moving_clip(n: int) -> list[np.ndarray]:
    reference = texture(SIZE, seed=7)
    return [shifted(reference, 4 * np.sin(t / 3), 2 * np.cos(t / 4)) for t in range(n)]


def test_the_encoders_reconstruction_is_the_decoders_output(flow_model, monkeypatch):
    frames = _moving_clip(40)
    seen: list[tuple[bytes, np.ndarray]] = []
    original = RefreshRule.wants_key

    def recording(self, frame, picture, *args, **kwargs):
        seen.append((frame.tobytes(), picture.copy()))
        return original(self, frame, picture, *args, **kwargs)

    monkeypatch.setattr(RefreshRule, "wants_key", recording)
    codec = Codec(flow_model)
    stream = codec.encode(Source.from_frames(frames, Fraction(25)), quality=4, adaptive=True,
                          key_placement="start")
    decoded = list(codec.decode(stream.to_bytes()))
    keys = set(stream.stats.key_reasons)
    index = {f.tobytes(): i for i, f in enumerate(frames)}
    checked = 0
    for source_bytes, picture in seen:
        i = index[source_bytes]
        if i not in keys:
            assert np.array_equal(picture, decoded[i]), f"frame {i} differs"
            checked += 1
    assert checked >= 8


def test_a_flow_model_file_decodes_with_the_model_it_names(flow_model, flow_model_path, tmp_path):
    frames = _moving_clip(10)
    stream = Codec(flow_model).encode(Source.from_frames(frames, Fraction(25)), quality=6)
    again = Codec.load(flow_model_path)
    pictures = list(again.decode(stream.to_bytes()))
    assert len(pictures) == 10
    # the warp follows the motion: better than showing the key frame throughout
    key = pictures[min(stream.stats.key_reasons)]
    moved = np.mean([np.abs(p.astype(float) - f).mean() for p, f in zip(pictures, frames)])
    still = np.mean([np.abs(key.astype(float) - f).mean() for f in frames])
    assert moved < 0.7 * still, (moved, still)


def test_old_imf_small_files_decode_to_the_same_pixels():
    """tests/data/imf-small-reference.imf was made before the flow model existed (see
    tests/data/make_imf_small_reference.py); it must decode as it did then. The key frame
    (integer HEVC decoding) must match exactly; the network's frames are compared by 16x16
    block means with the code of that time (imf-small-reference-thumbs.npy), since float
    arithmetic differs in its last bits between CPUs (an exact pixel hash made on one machine
    failed on another, with the same code)."""
    codec = Codec.load()  # the default codec (imf-flow) finds imf-small by the stream's name
    assert codec.model.name == "imf-flow"
    decoded = list(codec.decode(DATA / "imf-small-reference.imf"))
    assert len(decoded) == 8
    key = hashlib.sha256(decoded[0].tobytes()).hexdigest()
    assert key == "3abd08a12020f70c648c6ad0be14446908d453bd42e53c1974f7dd0ef86344ce"
    thumbs = np.stack([f.astype(np.float64).reshape(16, 16, 16, 16, 3).mean(axis=(1, 3))
                       for f in decoded])
    reference = np.load(DATA / "imf-small-reference-thumbs.npy", allow_pickle=False)
    assert np.abs(thumbs - reference).max() < 0.5
    assert np.abs(thumbs[1:] - thumbs[0]).max() > 2  # the frames are not all the key frame


@pytest.mark.slow
def test_the_dictionary_command_builds_a_usable_model(tmp_path):
    from click.testing import CliRunner

    from imfcodec.cli import main

    folder = tmp_path / "clips"
    folder.mkdir()
    for seed in (1, 2):
        reference = texture(256, seed)
        clip = [shifted(reference, 6 * np.sin(t / 3 + seed), 3 * np.cos(t / 4)) for t in range(10)]
        write_clip(folder / f"clip{seed}.mp4", clip)
    out = tmp_path / "built.safetensors"
    args = ["dictionary", str(folder), "--out", str(out), "--directions", "4", "--grid", "16",
            "--pairs-per-clip", "6", "--preset", "fast"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    built = motion.load(out)
    assert built.token_dim == 4 and built.dictionary.grid == 16
    # the same command again does not overwrite without --force
    assert CliRunner().invoke(main, args).exit_code != 0
    # an empty folder is a one-line input error
    (tmp_path / "empty").mkdir()
    empty = CliRunner().invoke(main, ["dictionary", str(tmp_path / "empty"), "--out",
                                      str(tmp_path / "x.safetensors")])
    assert empty.exit_code == 2 and "no video clips" in empty.output


def test_an_untrained_correction_network_leaves_the_warp_exactly(flow_model, flow_model_path, tmp_path):
    from dataclasses import replace

    from imfcodec.models.warp_refiner import RefinerConfig, WarpRefiner

    network = WarpRefiner(RefinerConfig(width=8, blocks=1))
    path = tmp_path / "with-network.safetensors"
    path.write_bytes(serialize(flow_model.dictionary, replace(flow_model.config, refiner=network.cfg),
                               "flow-test", refiner=network))
    corrected = motion.load(path)
    assert corrected.refiner is not None and corrected.description.parameters > 0
    reference = texture(SIZE, seed=4)
    frames = [shifted(reference, 2, 1), shifted(reference, -1, 3)]
    tokens = flow_model.analyse(frames, flow_model.reference(reference))
    plain = flow_model.synthesise(flow_model.reference(reference), tokens)
    assert np.array_equal(corrected.synthesise(corrected.reference(reference), tokens), plain)


@pytest.mark.slow
def test_train_refiner_writes_a_model_only_when_validation_improves(flow_model, tmp_path):
    from dataclasses import replace

    from imfcodec.models.warp_refiner import RefinerConfig
    from imfcodec.train import refiner

    paths = []
    for seed in (1, 2):
        reference = texture(SIZE, seed)
        clip = [shifted(reference, 3 * np.sin(t / 2 + seed), 2 * np.cos(t / 3)) for t in range(8)]
        paths.append(write_clip(tmp_path / f"c{seed}.mp4", clip))
    train_set = refiner.examples(flow_model, paths[:1], 2, 4, seed=0)
    val_set = refiner.examples(flow_model, paths[1:], 1, 4, seed=1)
    assert [len(e.frames) for e in train_set] == [4, 4] and val_set[0].tokens.shape == (4, 6)
    out = tmp_path / "refined.safetensors"
    options = replace(refiner.RefinerOptions(), minutes=0.15, batch=2, eval_every=3,
                      network=RefinerConfig(width=8, blocks=1))
    result = refiner.train(flow_model, train_set, val_set, out, options, log=lambda line: None)
    assert result["steps"] >= 3 and result["best"] >= result["warp"]
    if out.exists():  # written: it scores what the run reported, above the warp alone
        trained = motion.load(out)
        assert trained.refiner is not None
        assert abs(refiner.score(trained.refiner, trained, val_set) - result["best"]) < 1e-9
        assert result["best"] > result["warp"]
    else:
        assert result["best"] == result["warp"]


def test_train_refiner_refuses_a_model_that_is_not_a_flow_model(tiny_model_path, tmp_path):
    from click.testing import CliRunner

    from imfcodec.cli import main

    (tmp_path / "clips").mkdir()
    r = CliRunner().invoke(main, ["train-refiner", str(tiny_model_path), "--data", str(tmp_path / "clips"),
                                  "--val", str(tmp_path / "clips"), "--out", str(tmp_path / "o.safetensors")])
    assert r.exit_code == 5 and "not a flow model" in r.output
    assert not (tmp_path / "o.safetensors").exists()
