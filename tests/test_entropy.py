import hashlib

import numpy as np
import pytest

from imfcodec.entropy import coder, quantize, tables


def test_tables_are_exact_integers_summing_to_the_total():
    freq = tables.frequency_table()
    assert freq.shape == (tables.N_TABLES, tables.ALPHABET)
    assert (freq.sum(axis=1) == 1 << tables.TOTAL_BITS).all()
    assert (freq >= 1).all()


def test_tables_never_change():
    # The decoder of every .imf file ever written depends on these exact numbers.
    digest = hashlib.sha256(tables.frequency_table().astype("<i8").tobytes()).hexdigest()
    assert digest == TABLE_DIGEST


TABLE_DIGEST = "9596f75850ddd8e85e6f63073c4aa165353d8c19f9470172d0601b4ec1cf65a8"


@pytest.mark.parametrize("scale", [0.2, 1.5, 8.0])
@pytest.mark.parametrize("absolute", [True, False])
def test_chunk_round_trip_is_exact(scale, absolute):
    rng = np.random.default_rng(1)
    levels = np.clip(np.cumsum(rng.laplace(0, scale, (30, 32)).round(), 0), -127, 127).astype(np.int64)
    previous = None if absolute else np.zeros(32, dtype=np.int64)
    abs_part, residuals = quantize.to_residuals(levels, previous)
    data = coder.encode_chunk(residuals, abs_part)
    got_res, got_abs, _ = coder.decode_chunk(data, len(residuals), 32, absolute)
    assert np.array_equal(got_res, residuals)
    assert np.array_equal(quantize.from_residuals(got_abs, got_res, previous), levels)


def test_size_is_close_to_the_information_content():
    rng = np.random.default_rng(2)
    residuals = rng.laplace(0, 2.0, (200, 32)).round().astype(np.int64)
    data = coder.encode_chunk(residuals, None)
    costs = tables.cost_table()
    ideal = sum(costs[coder.best_table(residuals[:, d]), residuals[:, d] + tables.MAX_RESIDUAL].sum()
                for d in range(32))
    side_info = 32 * np.log2(tables.N_TABLES)
    assert ideal < len(data) * 8 <= ideal + side_info + 64
    # and the chosen tables are near the empirical entropy of a Laplace(2) source per symbol
    assert len(data) * 8 / residuals.size < 3.6


def test_extreme_symbols_round_trip():
    res = np.array([[tables.MAX_RESIDUAL] * 4, [-tables.MAX_RESIDUAL] * 4, [0] * 4])
    data = coder.encode_chunk(res, np.array([127, -127, 0, 5]))
    got_res, got_abs, _ = coder.decode_chunk(data, 3, 4, True)
    assert np.array_equal(got_res, res) and list(got_abs) == [127, -127, 0, 5]
    with pytest.raises(ValueError):
        coder.encode_chunk(res * 2, None)


def test_quantise_dequantise_is_deterministic_float32():
    grid = quantize.unit(0.35, np.linspace(0.5, 2.0, 32))
    tokens = np.random.default_rng(3).normal(0, 1, (10, 32)).astype(np.float32)
    levels = quantize.quantize(tokens, grid)
    recon = quantize.dequantize(levels, grid)
    assert recon.dtype == np.float32
    assert np.all(np.abs(recon - tokens) <= grid / 2 + 1e-6)


def test_held_quantisation_keeps_a_level_while_the_token_wobbles_about_a_boundary():
    from imfcodec.entropy.quantize import quantize, quantize_held

    grid = np.array([1.0, 1.0], np.float32)
    # dimension 0 wobbles about the 0/1 boundary, dimension 1 jumps by 2 steps
    tokens = np.array([[0.45, 0.0], [0.55, 0.1], [0.7, 2.1], [0.4, 2.0]], np.float32)
    assert quantize(tokens, grid)[:, 0].tolist() == [0, 1, 1, 0]  # plain rounding flickers
    held = quantize_held(tokens, grid, None, hold=0.25)
    assert held[:, 0].tolist() == [0, 0, 0, 0]  # within 0.75 of level 0 throughout
    assert held[:, 1].tolist() == [0, 0, 2, 2]  # a real move is followed at once
    # against a previous token's levels, and with no hold it is plain rounding
    assert quantize_held(tokens[:1], grid, np.array([1, 0]), 0.25)[0].tolist() == [1, 0]
    assert np.array_equal(quantize_held(tokens, grid, np.array([5, 5]), 0.0), quantize(tokens, grid))


def _byte_coded(symbols, table_of):
    from imfcodec.entropy.bytecoder import ByteEncoder

    encoder = ByteEncoder()
    for s, t in zip(symbols, table_of):
        encoder.encode(int(s) + tables.MAX_RESIDUAL, int(t))
    return encoder.finish()


def test_byte_coder_round_trips_and_ends_within_a_byte_of_the_information():
    from imfcodec.entropy.bytecoder import ByteDecoder

    rng = np.random.default_rng(7)
    extra = []
    for _ in range(300):
        n = int(rng.integers(0, 90))
        scale = float(rng.uniform(0.05, 20))
        symbols = np.clip(rng.laplace(0, scale, n).round(), -254, 254).astype(int)
        symbols[: n // 10] = rng.choice([-254, 254], n // 10)  # the alphabet's ends too
        table_of = rng.integers(0, tables.N_TABLES, n)
        data = _byte_coded(symbols, table_of)
        decoder = ByteDecoder(data)
        back = [decoder.decode(int(t)) - tables.MAX_RESIDUAL for t in table_of]
        assert back == symbols.tolist()
        decoder.finish()
        bits = tables.cost_table()[table_of, symbols + tables.MAX_RESIDUAL].sum()
        extra.append(len(data) * 8 - bits)
    # whole bytes, ended at once: never more than 2 bytes over the information, 1 on average
    assert max(extra) < 16 and np.mean(extra) < 8


def test_byte_coder_output_is_fixed_and_refuses_bytes_it_would_not_write():
    from imfcodec.errors import FormatError
    from imfcodec.entropy.bytecoder import ByteDecoder

    symbols = [0, 1, -1, 0, 3, -7, 0, 0, 12, -254, 254]
    table_of = [5, 5, 9, 0, 14, 20, 31, 3, 25, 31, 31]
    data = _byte_coded(symbols, table_of)
    # the bytes themselves are the format (docs/format.md, "FRAME"): pinned on every machine
    assert data.hex() == "f2f8ae4bf13ecc"
    assert len(_byte_coded([0] * 40, [0] * 40)) == 1  # near-certain symbols: a byte in all
    # bytes added after the coding are refused: a frame is read from one string of bytes only
    for bad in (data + b"\x01", data + b"\x00", data + b"\x00" * 9):
        decoder = ByteDecoder(bad)
        assert [decoder.decode(t) - tables.MAX_RESIDUAL for t in table_of] == symbols
        with pytest.raises(FormatError, match="left over|shortest"):
            decoder.finish()
    # a changed byte reads as other symbols, or is refused (the record's CRC is what catches it)
    for i in range(len(data)):
        bad = bytearray(data)
        bad[i] ^= 0x10
        decoder = ByteDecoder(bytes(bad))
        try:
            got = [decoder.decode(t) - tables.MAX_RESIDUAL for t in table_of]
            decoder.finish()
        except FormatError:
            continue
        assert got != symbols
