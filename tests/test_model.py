import pytest
import torch

from imfcodec.models import IMF, IMFConfig, count_parameters, preset
from imfcodec.models.attention import GridAttention
from imfcodec.models.frame_decoder import BLEND_GAIN
from imfcodec.models.imf import extended


def test_tiny_forward_shapes():
    model = IMF(preset("tiny"))
    x = torch.rand(2, 3, 64, 64)
    out, t_cur, t_ref = model(x, x, torch.zeros(2, 32))
    assert out.shape == x.shape and t_cur.shape == (2, 32) and t_ref.shape == (2, 32)
    assert 0 <= out.min() and out.max() <= 1


def test_presets_have_the_documented_shapes():
    paper, small = preset("paper"), preset("small")
    assert paper.scales == (64, 32, 16, 8) and paper.token_dim == 32
    assert paper.feat_out_channels == (128, 256, 512, 512)
    assert small.attn_window[0] > 0 and all(w == 0 for w in small.attn_window[1:])
    assert 2e6 < count_parameters(IMF(small)) < 6e6


def test_config_round_trips_through_a_dict():
    cfg = preset("small")
    assert IMFConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        IMFConfig.from_dict({"nonsense": 1})


@pytest.mark.parametrize("window", [0, 3])
def test_attention_starts_as_a_copy_of_the_reference(window):
    """At initialisation each query attends mostly to its own position (the copy floor)."""
    torch.manual_seed(0)
    attn = GridAttention(8, 8, 8, 8, 1, window, 16)
    with torch.no_grad():
        for lin in (attn.v, attn.out):
            lin.weight.copy_(torch.eye(8))
            lin.bias.zero_()
    values = torch.randn(1, 256, 8)
    motion = torch.randn(1, 256, 8)
    out = attn(motion, attn.keys_values(motion, values))
    cos = torch.nn.functional.cosine_similarity(out, values, dim=-1).mean()
    assert cos > 0.9


def test_local_attention_equals_global_when_the_window_covers_the_grid():
    torch.manual_seed(0)
    g = GridAttention(8, 8, 8, 8, 2, 0, 4)
    loc = GridAttention(8, 8, 8, 8, 2, 9, 4)
    loc.load_state_dict(g.state_dict())
    q, kv = torch.randn(2, 16, 8), torch.randn(1, 16, 8)
    assert torch.allclose(g(q, g.keys_values(kv, kv)), loc(q, loc.keys_values(kv, kv)), atol=1e-5)


@pytest.mark.parametrize("heads,window,size", [(1, 7, 16), (2, 5, 8), (2, 3, 4)])
def test_shared_reference_fast_path_equals_the_per_frame_path(heads, window, size):
    """Decoding gathers a batch-1 reference's neighbourhoods once; training attends to a
    reference per frame with shifted views. Both must give the same values, raw pixels too."""
    torch.manual_seed(0)
    attn = GridAttention(8, 8, 12, 8, heads, window, size, raw_v=6)
    with torch.no_grad():
        attn.log_alpha.add_(torch.randn(heads))
    n = size * size
    kv = attn.keys_values(torch.randn(1, n, 8), torch.randn(1, n, 12), torch.randn(1, n, 6))
    assert len(kv) == 4  # neighbourhoods gathered for the shared reference
    q = 3 * torch.randn(5, n, 8)
    fast = attn(q, kv)
    per_frame = attn(q, tuple(t.expand(5, -1, -1, -1).contiguous() for t in kv[:2]))
    for a, b in zip(fast, per_frame):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("window", [0, 5])
def test_pixel_values_start_the_model_at_the_copy_floor(window):
    """With pixel values the untrained model shows the (aligned) reference picture, and a
    pixel moved by the attention lands where the attention points."""
    import dataclasses

    cfg = dataclasses.replace(preset("tiny"), pixel_values=True,
                              attn_window=(window, 0, 0, 0))
    torch.manual_seed(0)
    model = IMF(cfg).eval()
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 64, 64), 5, 1, 2)
    with torch.no_grad():
        ref = model.reference(x)
        out = model.decode(model.encode_token(torch.rand(3, 3, 64, 64)), ref)
    assert out.shape == (3, 3, 64, 64)
    assert (out - x).abs().mean() < 0.01


def test_pixel_values_follow_the_attention():
    """Queries that match the key of the grid cell on their right move the picture left by
    one cell: the raw values are the picture's pixels, carried without a projection."""
    attn = GridAttention(16, 16, 4, 16, 1, 0, 4, raw_v=3)
    with torch.no_grad():
        for lin in (attn.q, attn.k):
            lin.weight.copy_(torch.eye(16))
            lin.bias.zero_()
        attn.log_alpha.fill_(-20.0)  # no locality prior: content alone decides
    cells = torch.eye(16)[None]  # key j is the one-hot of cell j
    right = torch.arange(16).view(4, 4)[:, [1, 2, 3, 3]].flatten()
    queries = 200 * torch.eye(16)[right][None]  # query i looks for the cell right of it
    raw = torch.rand(1, 16, 3)
    _, moved = attn(queries, attn.keys_values(cells, torch.zeros(1, 16, 4), raw))
    assert torch.allclose(moved[0], raw[0][right], atol=1e-4)


@pytest.mark.parametrize("name", ["small", "tiny"])
def test_untrained_token_encoder_tells_pictures_apart(name):
    """The token must depend on the picture from the first step on, or the decoder learns to
    ignore it (a default-initialised encoder gave tokens that varied by 1e-7)."""
    cfg = preset(name)
    torch.manual_seed(0)
    model = IMF(cfg)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(6, 3, cfg.image_size, cfg.image_size), 9, 1, 4)
    with torch.no_grad():
        tokens = model.encode_token(smooth)
    assert tokens.std(0).mean() > 0.01 * tokens.abs().mean()


def test_motion_offsets_start_at_zero_and_change_nothing():
    """The offset heads are zero at initialisation: the model with motion offsets rebuilds
    exactly what the same weights rebuild without them."""
    import dataclasses

    base = dataclasses.replace(preset("tiny"), pixel_values=True)
    torch.manual_seed(0)
    plain = IMF(base).eval()
    shifted = extended(plain, motion_offsets=True).eval()
    added = set(shifted.state_dict()) - set(plain.state_dict())
    assert added and all(".offset." in key for key in added)
    a, b, _, _ = rebuild_both(plain, shifted)
    assert torch.allclose(a, b, atol=1e-5)


def rebuild_both(one: IMF, other: IMF):
    """Both models' frames rebuilt from the same smooth reference and random tokens."""
    x = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 64, 64), 5, 1, 2)
    tokens = torch.randn(3, one.cfg.token_dim)
    with torch.no_grad():
        return (one.decode(tokens, one.reference(x)), other.decode(tokens, other.reference(x)),
                x, tokens)


def test_coarse_pixels_start_as_the_fine_picture_and_learn_the_blend():
    """The blend of the coarse (32x32-level) aligned picture is zero at initialisation, so
    weights trained without it rebuild the same frames; one training step moves it, and a
    weight of one shows the coarse picture where the fine one was."""
    import dataclasses

    base = dataclasses.replace(preset("tiny"), pixel_values=True, motion_offsets=True)
    with pytest.raises(ValueError, match="pixel_values"):
        dataclasses.replace(preset("tiny"), coarse_pixels=True)
    torch.manual_seed(0)
    plain = IMF(base).eval()
    coarse = extended(plain, coarse_pixels=True).eval()
    added = set(coarse.state_dict()) - set(plain.state_dict())
    assert added == {"frame_decoder.blend.bias", "frame_decoder.blend.weight"}
    a, b, x, tokens = rebuild_both(plain, coarse)
    assert torch.allclose(a, b, atol=1e-6)
    out, _, _ = coarse.train()(x.expand(2, -1, -1, -1), torch.rand(2, 3, 64, 64))
    out.mean().backward()
    assert coarse.frame_decoder.blend.weight.grad.abs().sum() > 0
    coarse.eval()
    aligned, pictures = coarse.alignment(coarse.token_decoder(tokens), coarse.reference(x).attention)
    assert len(pictures) == 2 and pictures[1].shape == (3, 3, 64, 64)
    with torch.no_grad():
        coarse.frame_decoder.blend.bias.fill_(1 / BLEND_GAIN)  # the coarse picture everywhere
        shown = coarse.frame_decoder(aligned, pictures)
        expect = plain.frame_decoder(aligned, [pictures[1]])
    assert torch.allclose(shown, expect, atol=1e-5)


@pytest.mark.parametrize("window,batch", [(0, 2), (3, 2), (3, 1)])
def test_displaced_query_positions_move_the_picture(window, batch):
    """Queries whose positions are shifted one cell to the right fetch the pixels of the
    cell on their right (global and local attention, shared and per-frame references)."""
    size = 4
    attn = GridAttention(8, 8, 4, 8, 1, window, size, raw_v=3, displaced=True)
    with torch.no_grad():
        for lin in (attn.q, attn.k):
            lin.weight.zero_()
            lin.bias.zero_()
        attn.log_alpha.add_(3.0)  # a sharp prior: the nearest displaced position wins
    n = size * size
    raw = torch.rand(1, n, 3)
    kv = attn.keys_values(torch.zeros(1, n, 8), torch.zeros(1, n, 4), raw)
    if batch == 1:  # the per-frame path
        kv = kv[:2]
    pos = attn.pos.clone()
    pos[:, 1] += 2.0 / size  # x is the second coordinate
    _, moved = attn(torch.zeros(batch, n, 8), kv, pos[None].expand(batch, -1, -1))
    right = torch.arange(n).view(size, size)[:, 1:].flatten()  # cells with a right neighbour
    cols = torch.arange(n).view(size, size)[:, :-1].flatten()
    for b in range(batch):
        assert torch.allclose(moved[b, cols], raw[0, right], atol=1e-4)


def test_bounded_tokens_fit_the_quantiser_at_every_level():
    """The small preset's tokens stay inside what every quality level's grid can represent,
    however large the encoder's raw output grows."""
    from imfcodec.entropy.tables import MAX_LEVEL
    from imfcodec.levels import LEVELS

    cfg = preset("small")
    assert cfg.token_bound > 0
    assert cfg.token_bound / min(lv.token_step for lv in LEVELS) <= MAX_LEVEL
    torch.manual_seed(0)
    model = IMF(cfg)
    with torch.no_grad():
        model.token_encoder.out.weight.mul_(1e4)  # raw outputs in the thousands
        tokens = model.encode_token(torch.rand(2, 3, cfg.image_size, cfg.image_size))
    assert tokens.abs().max() <= cfg.token_bound
    assert tokens.abs().max() > 0.9 * cfg.token_bound
