import io
import json
import pickle

import pytest
import torch

from imfcodec.errors import ModelError
from imfcodec.models import IMF, preset, weights


def test_round_trip_keeps_config_and_tensors(tmp_path, tiny_model_path, tiny_model):
    again = weights.load(tiny_model_path)
    assert again.digest == tiny_model.digest and again.model.cfg == preset("tiny")
    for (k, a), (_, b) in zip(tiny_model.network.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), k


def test_the_same_weights_always_serialize_to_the_same_bytes(tiny_model):
    # The digest of the file names the model in every bitstream, so re-exporting the same
    # weights must give the same file. safetensors alone writes its metadata in hash-map
    # order, which varies between calls; the header is rewritten canonically.
    model = tiny_model.network
    extra = {"step": 7, "note": "x", "kbps": [1.5, 2.0]}
    blobs = {weights.serialize(model, "tiny-test", extra) for _ in range(6)}
    assert len(blobs) == 1
    data = blobs.pop()
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0
    header = json.loads(data[8 : 8 + n])
    assert data[8 : 8 + n].rstrip(b" ") == json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    again = weights.load_bytes(data)
    assert again.metadata["name"] == "tiny-test" and json.loads(again.metadata["step"]) == 7
    for (k, a), (_, b) in zip(model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a.half().float() if k != "token_scale" else a, b), k


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
    assert loaded.name == weights.DEFAULT_IMF
    assert loaded.model.cfg.image_size == 256
