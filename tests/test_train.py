import json
import math

import pytest
import torch

from click.testing import CliRunner

from imfcodec.cli import main
from imfcodec.models import IMF, preset, weights
from imfcodec.train.average import WeightAverage
from imfcodec.train.loop import lr_at

from .conftest import synthetic_frames, write_clip


@pytest.mark.slow
def test_two_step_training_smoke(tmp_path, clip):
    data = tmp_path / "data"
    data.mkdir()
    write_clip(data / "a.mp4", synthetic_frames(8, 64, 64, seed=1))
    write_clip(data / "b.mp4", synthetic_frames(8, 72, 64, seed=2))
    run = tmp_path / "run"
    args = ["train", "--data", data, "--val", data, "--out", run, "--preset", "tiny",
            "--steps", 2, "--batch", 2, "--eval-every", 2, "--save-every", 1, "--val-frames", 4,
            "--gan-start", 1, "--disc-width", 4, "--rate-start", 0, "--noise-start", 0, "--quiet"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2]
    assert all(math.isfinite(e["loss"]) for e in log)
    assert log[0]["d_loss"] == 0.0 and log[1]["d_loss"] > 0.0  # the GAN starts at step 1
    assert math.isfinite(log[-1]["val_q3_psnr"]) and log[-1]["val_q0_kbps"] > 0
    assert (run / "ckpt" / "discriminator.safetensors").exists()
    # resume continues from the checkpoint
    args[args.index("--steps") + 1] = 3
    r = CliRunner().invoke(main, [str(a) for a in args] + ["--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["step"] == 3
    # export, then the exported model encodes and decodes
    exported = tmp_path / "tiny.safetensors"
    r = CliRunner().invoke(main, ["export", str(run / "ckpt"), "--out", str(exported)])
    assert r.exit_code == 0, r.output
    model = weights.load(exported).model
    assert model.cfg.name == "tiny"
    # what ships is the weight average that validation measured, not the last step's weights
    ema = weights.load(run / "ckpt" / "ema.safetensors").model.state_dict()
    last = weights.load(run / "ckpt" / "model.safetensors").model.state_dict()
    assert any(not torch.equal(ema[k], last[k]) for k in ema)
    for k, v in model.state_dict().items():
        expect = ema[k] if k == "token_scale" else ema[k].half().float()
        assert torch.equal(v, expect), k
    # Training never moves the quantiser's grid (an adaptive unit let tokens outgrow their noise).
    assert model.token_scale.tolist() == [1.0] * model.cfg.token_dim
    out = tmp_path / "a.imf"
    for args in (["encode", clip, out, "--model", exported, "--quiet"],
                 ["decode", out, tmp_path / "a.mkv", "--model", exported, "--quiet"]):
        r = CliRunner().invoke(main, [str(a) for a in args])
        assert r.exit_code == 0, r.output
    # fine-tuning: a new run starts from the exported weights (their config, not --preset's),
    # measures them first as step 0, and keeps as best only what beats them
    tuned = tmp_path / "tuned"
    args = ["train", "--data", data, "--val", data, "--out", tuned, "--init", exported,
            "--steps", 1, "--batch", 2, "--eval-every", 1, "--val-frames", 4, "--disc-width", 4,
            "--rate-start", 0, "--noise-start", 0, "--ema", 0, "--quiet"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    log = [json.loads(line) for line in (tuned / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [0, 1]
    assert "loss" not in log[0] and log[0]["val_q0_kbps"] > 0
    start = weights.load(tuned / "ckpt" / "model.safetensors").model
    assert start.cfg.name == "tiny"
    assert json.loads((tuned / "ckpt" / "state.json").read_text())["options"]["preset"] == "tiny"
    improved = log[1]["val_q3_msssim"] > log[0]["val_q3_msssim"]
    assert (tuned / "best.safetensors").exists() == improved
    best = json.loads((tuned / "best.json").read_text())  # a resumed run reads the score to beat
    assert best["score"] == max(log[0]["val_q3_msssim"], log[1]["val_q3_msssim"])
    r = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(tmp_path / "x"),
                                  "--init", "no-such-model", "--steps", "1", "--quiet"])
    assert r.exit_code != 0 and "no model 'no-such-model'" in r.output
    assert "Traceback" not in r.output


def test_vgg_perceptual_loads_safetensors_and_refuses_pickle(tmp_path):
    import pickle

    import pytest
    import torch
    from safetensors.torch import save_file

    from imfcodec.errors import ModelError
    from imfcodec.train.vgg import VGGPerceptual, _features

    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in _features().state_dict().items()}
    path = tmp_path / "vgg19.safetensors"
    save_file(state, str(path))
    loss = VGGPerceptual(path)
    x = torch.rand(2, 3, 64, 64)
    assert loss(x, x).item() == 0.0
    assert loss(x, torch.rand(2, 3, 64, 64)).item() > 0
    bad = tmp_path / "vgg.pth"
    bad.write_bytes(pickle.dumps(state))
    with pytest.raises(ModelError, match="pickle"):
        VGGPerceptual(bad)
    save_file({"features.0.weight": torch.zeros(1)}, str(tmp_path / "small.safetensors"))
    with pytest.raises(ModelError, match="not VGG-19"):
        VGGPerceptual(tmp_path / "small.safetensors")


def test_coarse_pixels_are_added_to_the_initial_model(tmp_path, clip):
    """--coarse-pixels extends --init weights (same function at the start), trains, and the
    exported model keeps the option and codes; a model without pixel values gets one line."""
    import dataclasses

    data = tmp_path / "data"
    data.mkdir()
    write_clip(data / "a.mp4", synthetic_frames(8, 64, 64, seed=1))
    torch.manual_seed(0)
    start = tmp_path / "start.safetensors"
    weights.save(IMF(dataclasses.replace(preset("tiny"), pixel_values=True)), start, "tiny-px")
    run = tmp_path / "run"
    args = ["train", "--data", data, "--out", run, "--init", start, "--coarse-pixels",
            "--steps", 2, "--batch", 2, "--eval-every", 0, "--save-every", 1, "--ema", 0,
            "--disc-width", 4, "--quiet"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    exported = tmp_path / "coarse.safetensors"
    r = CliRunner().invoke(main, ["export", str(run / "ckpt"), "--out", str(exported)])
    assert r.exit_code == 0, r.output
    model = weights.load(exported).model
    assert model.cfg.coarse_pixels and model.frame_decoder.blend.weight.abs().sum() > 0
    r = CliRunner().invoke(main, [str(a) for a in args] + ["--resume", "--steps", 3])
    assert r.exit_code == 0, r.output
    out = tmp_path / "a.imf"
    for args in (["encode", clip, out, "--model", exported, "--quiet"],
                 ["decode", out, tmp_path / "a.mkv", "--model", exported, "--quiet"]):
        r = CliRunner().invoke(main, [str(a) for a in args])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(tmp_path / "x"),
                                  "--preset", "tiny", "--coarse-pixels", "--steps", "1", "--quiet"])
    assert r.exit_code != 0 and "needs a model with pixel values" in r.output
    assert "Traceback" not in r.output


def test_worker_processes_and_max_minutes(tmp_path):
    """Pairs from DataLoader worker processes train like in-process ones; --max-minutes stops
    the run with a checkpoint that --resume continues."""
    import numpy as np

    from imfcodec.train.data import load_clips, pair_batches

    data = tmp_path / "data"
    data.mkdir()
    write_clip(data / "a.mp4", synthetic_frames(6, 64, 64, seed=3))
    clips = load_clips(data, 64)
    batches = pair_batches(clips, 3, seed=0, workers=2)
    ref, cur = next(batches)
    assert ref.shape == cur.shape == (3, 3, 64, 64) and 0 <= float(ref.min()) <= float(ref.max()) <= 1
    second = next(batches)  # the other worker: its own seed, so not a copy of the first batch
    assert not np.array_equal(ref.numpy(), second[0].numpy())
    run = tmp_path / "run"
    args = ["train", "--data", data, "--out", run, "--preset", "tiny", "--steps", 1000,
            "--batch", 2, "--workers", 1, "--max-minutes", 0.001, "--quiet"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    state = json.loads((run / "ckpt" / "state.json").read_text())
    assert 1 <= state["step"] < 1000


def test_weight_average_moves_a_decay_fraction_towards_the_weights():
    model = IMF(preset("tiny"))
    avg = WeightAverage(model, decay=0.9)
    start = [p.detach().clone() for p in avg.model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    avg.update(model, step=10_000)  # past the warm-up: the decay is 0.9
    for a, s0 in zip(avg.model.parameters(), start):
        assert torch.allclose(a, s0 + 0.1, atol=1e-6)
        assert not a.requires_grad
    young = WeightAverage(IMF(preset("tiny")), decay=0.999)
    before = [p.detach().clone() for p in young.model.parameters()]
    young.update(model, step=0)  # warm-up: the decay is 1/10, so mostly the new weights
    for a, b, p in zip(young.model.parameters(), before, model.parameters()):
        assert torch.allclose(a, 0.1 * b + 0.9 * p.detach(), atol=1e-6)


def test_cosine_schedule_warms_up_then_falls_to_zero_at_the_last_step():
    base = 1e-4
    assert math.isclose(lr_at(0, base, schedule="cosine", total=1000), base / 100)  # warm-up
    assert math.isclose(lr_at(500, base, schedule="cosine", total=1000), base / 2)
    assert lr_at(1000, base, schedule="cosine", total=1000) < 1e-20
    values = [lr_at(s, base, schedule="cosine", total=1000) for s in range(100, 1001, 50)]
    assert all(a > b for a, b in zip(values, values[1:]))  # strictly falling after warm-up
    assert lr_at(500, base) == lr_at(900, base) == base  # constant stays constant


def test_far_pairs_reach_every_distance_and_default_pairs_stay_within_250():
    """--far-pairs 1 draws the two frames anywhere in the clip (as one key frame meets them);
    the default log-uniform pairs never lie more than 250 frames apart."""
    import numpy as np

    from imfcodec.train.data import PairSampler

    t = 600
    clip = np.zeros((t, 2, 2, 3), np.uint8)  # frame k carries k in its first two channels
    clip[:, :, :, 0] = (np.arange(t) // 256)[:, None, None]
    clip[:, :, :, 1] = (np.arange(t) % 256)[:, None, None]

    def distances(far: float) -> np.ndarray:
        sampler = PairSampler([clip], degrade=0.0, seed=1, far=far)
        pairs = [sampler.pair() for _ in range(2000)]
        index = lambda f: int(f[0, 0, 0]) * 256 + int(f[0, 0, 1])  # noqa: E731
        return np.array([abs(index(r) - index(c)) for r, c in pairs])

    far, near = distances(1.0), distances(0.0)
    assert far.min() >= 1 and near.min() >= 1  # never the frame itself
    assert near.max() <= 250
    assert far.max() > 450 and np.median(far) > 2 * np.median(near)


def test_collapse_watch_speaks_once_when_the_token_stops_carrying_bits():
    from imfcodec.train.watch import TokenCollapseWatch

    watch = TokenCollapseWatch(window=4, floor=1.0)
    healthy = [watch.update(s, 30.0) for s in range(1, 11)]
    assert healthy == [None] * 10
    # the window's mean falls under the floor once it holds only zeros (30 / 4 > 1 before)
    falling = [watch.update(s, 0.0) for s in range(11, 21)]
    assert [w is not None for w in falling] == [False, False, False, True] + [False] * 6
    assert "step 14" in falling[3] and "--rate-weight" in falling[3]
    # a partial recovery does not re-arm it; a full one does, and a second collapse is reported
    assert [watch.update(s, 2.0) for s in range(21, 31)] == [None] * 10
    assert [watch.update(s, 30.0) for s in range(31, 35)] == [None] * 4
    assert any(watch.update(s, 0.0) for s in range(35, 40))
    # nothing is said before the window is full, however low the first steps are
    fresh = TokenCollapseWatch(window=4, floor=1.0)
    assert [fresh.update(s, 0.0) for s in range(1, 4)] == [None] * 3


def test_training_logs_a_token_collapse(tmp_path, monkeypatch):
    """The loop feeds every step's rate estimate to the watch and writes what it says to the
    console and to that step's JSONL entry (here the rate estimate is forced to zero)."""
    from imfcodec.train import loop, watch

    monkeypatch.setattr(loop, "rate_proxy", lambda *args: torch.zeros(()))
    monkeypatch.setattr(loop, "TokenCollapseWatch", lambda: watch.TokenCollapseWatch(window=2))
    data = tmp_path / "data"
    data.mkdir()
    write_clip(data / "a.mp4", synthetic_frames(6, 64, 64, seed=5))
    run = tmp_path / "run"
    args = ["train", "--data", data, "--out", run, "--preset", "tiny", "--steps", 3,
            "--batch", 2, "--quiet"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    assert "stopped carrying motion" in r.output
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e.get("warning") for e in log] == [None, "token_collapse", None]


def test_train_out_that_is_a_file_is_an_output_error(tmp_path, clip):
    taken = tmp_path / "run"
    taken.write_text("not a folder")
    r = CliRunner().invoke(main, ["train", "--data", str(clip), "--out", str(taken), "--preset",
                                  "tiny", "--steps", "1", "--quiet"])
    assert r.exit_code == 3 and "not a folder" in r.output, r.output
    assert taken.read_text() == "not a folder"
