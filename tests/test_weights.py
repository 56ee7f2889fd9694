import io
import pickle

import pytest
import torch

from imfcodec.errors import ModelError
from imfcodec.models import IMF, preset, weights


def test_round_trip_keeps_config_and_tensors(tmp_path, tiny_model_path, tiny_model):
    again = weights.load(tiny_model_path)
    assert again.digest == tiny_model.digest and again.model.cfg == preset("tiny")
    for (k, a), (_, b) in zip(tiny_model.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_pickle_files_are_refused(tmp_path):
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ModelError, match="pickle"):
        weights.load(path)
    buf = io.BytesIO()
    torch.save(IMF(preset("tiny")).state_dict(), buf)
    path.write_bytes(buf.getvalue())
    with pytest.raises(ModelError, match="pickle"):
        weights.load(path)


def test_corrupt_and_foreign_files_are_refused(tmp_path, tiny_model_path):
    data = tiny_model_path.read_bytes()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError):
        weights.load(path)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}              ")
    with pytest.raises(ModelError):
        weights.load(path)


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ModelError, match="no model 'nope'"):
        weights.load("nope")


def test_the_shipped_default_model_loads():
    loaded = weights.load(None)
    assert loaded.name == weights.DEFAULT_MODEL
    assert loaded.model.cfg.image_size == 256
