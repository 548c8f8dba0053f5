"""The learned digitiser: the ResNet-18 trunk has torchvision's size, the model maps images to samples, training learns."""

import numpy as np
import pytest
import torch
from torch import nn

from ecgrecon.printout.learned import (
    ColumnDigitizer,
    LeadImageDigitizer,
    ResNet18Trunk,
    build_digitizer,
    images_to_tensor,
    predict,
    train_step,
)
from ecgrecon.printout.render import render_single_lead

RESNET18_PARAMS = 11_689_512  # torchvision's resnet18 (1000 classes), the published count


def test_trunk_has_resnet18s_parameter_count():
    torch.manual_seed(0)
    classifier = nn.Sequential(ResNet18Trunk(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 1000))
    assert sum(p.numel() for p in classifier.parameters()) == RESNET18_PARAMS
    assert ResNet18Trunk()(torch.zeros(1, 3, 96, 384)).shape == (1, 512, 3, 12)


def _fixed_batch(records):
    """Two 64 x 256 px single-lead images of ``records`` and their drawn lead I at 250 samples (seeds torch)."""
    torch.manual_seed(0)
    images, targets = [], []
    for x in records:
        img, _, drawn = render_single_lead(x[:, 0], 100.0, size=(256, 64))
        images.append(img)
        targets.append(drawn[::4])
    return images_to_tensor(images), torch.tensor(np.stack(targets), dtype=torch.float32)


def test_training_step_lowers_the_loss_on_a_fixed_batch(records):
    """A CPU-sized model (64 x 256 px images, 250 output samples) fits a fixed batch of two single-lead images."""
    batch, target = _fixed_batch(records)
    assert batch.shape == (2, 3, 64, 256) and 0.0 <= float(batch.min()) and float(batch.max()) <= 1.0
    model = LeadImageDigitizer(image_size=(64, 256), n_out=250, d_model=128)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = [train_step(model, opt, batch, target) for _ in range(5)]
    assert losses[-1] < 0.7 * losses[0], losses
    assert predict(model, batch).shape == (2, 250)


def test_column_digitizer_keeps_one_token_per_pixel_column_and_learns(records):
    """arch columns: the trunk strides only in height (W tokens, not W / 32), a fixed batch is fitted, and the
    settings dict builds either model; a bad height or an unknown arch is a one-line error naming the key."""
    batch, target = _fixed_batch(records)
    settings = {"arch": "columns", "image_size": [64, 256], "d_model": 32, "n_heads": 2, "n_layers": 1,
                "column_channels": [8, 16, 32]}  # fmt: skip
    model = build_digitizer(settings, 250)
    assert isinstance(model, ColumnDigitizer) and model.n_tokens == 256 and model.per_column == 1
    feats = model.trunk(model.stem(batch))
    assert feats.shape == (2, 32, 64 // 2**4, 256)  # stem + 3 blocks halve the height only
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = [train_step(model, opt, batch, target) for _ in range(8)]
    assert losses[-1] < 0.7 * losses[0], losses
    assert predict(model, batch).shape == (2, 250)
    assert build_digitizer({**settings, "image_size": [64, 100]}, 250).per_column == 3  # ceil(250 / 100) samples a column
    assert isinstance(build_digitizer({k: v for k, v in settings.items() if k != "arch"}, 250), LeadImageDigitizer)
    with pytest.raises(ValueError, match="height 60 is not a multiple of 16"):
        build_digitizer({**settings, "image_size": [60, 256]}, 250)
    with pytest.raises(ValueError, match="printout.learned.arch: unknown architecture 'vit'"):
        build_digitizer({**settings, "arch": "vit"}, 250)
