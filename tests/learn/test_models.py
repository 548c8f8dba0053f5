"""Encoder, projection head, lead decoder and the two contrastive views."""

import math

import pytest
import torch
import torch.nn.functional as F

from defaults import section
from ecgrecon.learn.models import LeadDecoder, build_decoder, build_encoder, count_params
from ecgrecon.learn.views import augment, detect_r_peaks, morphology_view, shift_segments

FS = 100.0
AUG = {"scale": [0.8, 1.2], "noise_mv": 0.02, "wander_mv": 0.1, "max_shift": 8}


def _beats(r_times, n=256, leads=3):
    """(leads, n) signal with narrow R waves at the given sample positions, different polarity per lead."""
    t = torch.arange(n, dtype=torch.float32)
    sig = torch.zeros(leads, n)
    for r in r_times:
        wave = torch.exp(-0.5 * ((t - r) / 1.5) ** 2) + 0.3 * torch.exp(-0.5 * ((t - r - 30) / 6) ** 2)
        sig += torch.tensor([1.0, 0.7, -0.9])[:leads, None] * wave
    return sig


def test_encoder_and_head_shapes_and_unit_norm():
    enc, head = build_encoder(3, section("encoder", embed_dim=128, proj_dim=64, width=8))
    h = enc(torch.randn(5, 3, 256))
    z = head(h)
    assert h.shape == (5, 128) and z.shape == (5, 64)
    assert torch.allclose(z.norm(dim=1), torch.ones(5), atol=1e-6)


def test_decoder_fusion_equals_conv_over_concatenated_tiled_h():
    torch.manual_seed(0)
    dec = LeadDecoder(n_in=3, h_dim=16, proj=8, hidden=12, stride=4, out_channels=4)
    x, h = torch.randn(2, 3, 64), torch.randn(2, 16)
    xp = F.relu(dec.x_proj(x))
    hp = F.relu(dec.h_proj(h))[..., None].expand(-1, -1, 64)  # h tiled over time
    naive = F.relu(dec.fuse(torch.cat([xp, hp], dim=1)))  # conv over the (2*proj x T) tensor
    assert torch.allclose(dec.fused(x, h), naive, atol=1e-5)


def test_decoder_variants_shapes_and_parameter_counts():
    cfg = section("decoder", proj=128, hidden=128, stride=4, out_channels=32)
    c, ch = build_decoder("C", 3, 128, cfg), build_decoder("Ch", 3, 128, cfg)
    x, h = torch.randn(4, 3, 256), torch.randn(4, 128)
    assert c(x).shape == (4, 256) and ch(x, h).shape == (4, 256)
    with pytest.raises(ValueError, match="needs h"):
        ch(x)
    with pytest.raises(ValueError, match="multiple"):
        c(torch.randn(1, 3, 250))
    # Ch has the extra h projection (128*128+128) and the h half of the fusion conv (128*128*4).
    assert count_params(ch) - count_params(c) == 128 * 128 + 128 + 128 * 128 * 4
    assert 200_000 < count_params(ch) < 300_000  # paper: ~239K
    with pytest.raises(ValueError, match="variant"):
        build_decoder("X", 3, 128, cfg)


def test_r_peak_detection_finds_the_beat_nearest_the_centre():
    x = torch.stack([_beats([20, 100, 180]), _beats([60, 150, 240]), _beats([131])])
    assert detect_r_peaks(x, FS).tolist() == [100, 150, 131]
    assert detect_r_peaks(torch.zeros(1, 3, 256), FS).tolist() == [128]  # flat: centre


def test_morphology_view_centres_the_r_peak():
    x = torch.stack([_beats([40, 150]), _beats([105, 205])])
    m = morphology_view(x, FS)
    assert detect_r_peaks(m, FS).tolist() == [128, 128]
    assert torch.equal(m[1, :, 128], x[1, :, 105])


def test_shift_reflects_at_the_edges():
    x = torch.arange(6, dtype=torch.float32).view(1, 1, 6)
    assert shift_segments(x, torch.tensor([2])).flatten().tolist() == [2, 1, 0, 1, 2, 3]
    assert shift_segments(x, torch.tensor([-2])).flatten().tolist() == [2, 3, 4, 5, 4, 3]


def test_augment_is_seeded_and_bounded():
    x = torch.stack([_beats([50, 140, 230])] * 4)
    a1 = augment(x, FS, AUG, torch.Generator().manual_seed(1))
    a2 = augment(x, FS, AUG, torch.Generator().manual_seed(1))
    a3 = augment(x, FS, AUG, torch.Generator().manual_seed(2))
    assert torch.equal(a1, a2) and not torch.equal(a1, a3)
    assert a1.shape == x.shape
    # without shift, the change is bounded by gain 20 % + noise + wander.
    no_shift = augment(x, FS, {**AUG, "max_shift": 0}, torch.Generator().manual_seed(1))
    diff = (no_shift - x).abs()
    assert diff.max() < 0.2 * x.abs().max() + 0.1 + 6 * 0.02
    assert (no_shift - x).std() > 0.01
    only_noise = augment(x, FS, {"scale": [1, 1], "noise_mv": 0.05, "wander_mv": 0, "max_shift": 0}, torch.Generator().manual_seed(0))
    assert math.isclose((only_noise - x).std().item(), 0.05, rel_tol=0.05)
