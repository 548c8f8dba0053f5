"""Training precision: `precision: auto | fp32 | bf16` (bfloat16 autocast for the decoders' forward passes)."""

from pathlib import Path

import pytest
import torch

import ecgrecon.learn.train_decoder as train_decoder_module
from defaults import section
from ecgrecon.learn.device import autocast, bf16_native, resolve_precision
from ecgrecon.learn.models import LeadDecoder
from ecgrecon.learn.train_decoder import BF16_TOLERANCE, bf16_error, load_decoder, load_decoder_data, train_decoder
from learning_cohort import one_torch_thread, write_cohort  # noqa: F401 (autouse fixture)

INPUTS = ["I", "II", "V2"]
CFG = section(
    "decoder",
    **{
        "proj": 32,
        "hidden": 16,
        "stride": 4,
        "out_channels": 8,
        "batch_size": 32,
        "lr": 0.003,
        "weight_decay": 1e-4,
        "loss_weights": {"mse": 1.0, "mae": 1.0},
        "max_epochs": 3,
        "patience": 10,
        "lr_schedule": "cosine",
        "epoch_fraction": 1.0,
    },
)
CPU = torch.device("cpu")


def _cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort"), n_records=60, seed=1)


def _train(cohort, out, precision, logs=None, hook=None, cfg=CFG):
    seg, folds = cohort
    return train_decoder(
        seg,
        folds,
        None,
        out / "V4.pt",
        out / "V4_val.csv",
        variant="C",
        fold="official",
        lead="V4",
        inputs=INPUTS,
        cfg={**cfg, "precision": precision},
        seed=5,
        log=(logs.append if logs is not None else (lambda m: None)),
        epoch_hook=hook,
    )


def test_precision_resolution_and_autocast():
    native = bf16_native(CPU)
    assert resolve_precision("auto", CPU) == ("bf16" if native else "fp32")
    if {"amx_bf16", "avx512_bf16"} & _cpu_flags():  # this CPU multiplies bf16 in hardware: auto must use it
        assert native
    assert resolve_precision("fp32", CPU) == "fp32" and resolve_precision("bf16", CPU) == "bf16"
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, got 'fp16'"):
        resolve_precision("fp16", CPU)
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with autocast("bf16", CPU):
        assert lin(x).dtype == torch.bfloat16
    with autocast("fp32", CPU):
        assert lin(x).dtype == torch.float32
    with pytest.raises(ValueError, match="fp32 or bf16"):
        autocast("auto", CPU)


def test_bf16_training_is_seeded_recorded_and_tracks_the_fp32_model(cohort, tmp_path):
    """bf16 autocast trains float32 weights: same seed -> identical weights; the checkpoint says bf16;
    the validation loss measured under bf16 matches the saved weights evaluated in float32 to within
    bf16 rounding; and it is a different computation from fp32 training."""
    out = {p: tmp_path / p for p in ("bf16", "bf16b", "fp32")}
    for name, path in out.items():
        assert _train(cohort, path, name[:4])["precision"] == name[:4]
    ckpt = {k: torch.load(p / "V4.pt", weights_only=True) for k, p in out.items()}
    assert ckpt["bf16"]["precision"] == "bf16" and ckpt["fp32"]["precision"] == "fp32"
    sd = {k: c["state_dict"] for k, c in ckpt.items()}
    assert all(v.dtype == torch.float32 for v in sd["bf16"].values())
    assert all(torch.equal(sd["bf16"][k], sd["bf16b"][k]) for k in sd["bf16"])
    assert not all(torch.equal(sd["bf16"][k], sd["fp32"][k]) for k in sd["bf16"])
    model, _ = load_decoder(out["bf16"] / "V4.pt")
    data = load_decoder_data(*cohort, None, variant="C", fold="official", lead="V4", inputs=INPUTS)
    with torch.no_grad():
        err = model(torch.from_numpy(data.x_val)) - torch.from_numpy(data.y_val)
    fp32_val_loss = float((err**2).mean() + err.abs().mean())
    assert fp32_val_loss == pytest.approx(ckpt["bf16"]["best_val_loss"], rel=0.01)
    assert fp32_val_loss != pytest.approx(ckpt["bf16"]["best_val_loss"], rel=1e-7)  # bf16 did run


def test_changing_precision_does_not_resume_the_other_precisions_state(cohort, tmp_path):
    class Killed(Exception):
        pass

    def kill(epoch):
        raise Killed

    with pytest.raises(Killed):
        _train(cohort, tmp_path, "fp32", hook=kill)
    logs = []
    _train(cohort, tmp_path, "bf16", logs=logs)
    assert any("restarting from scratch" in m for m in logs)
    assert torch.load(tmp_path / "V4.pt", weights_only=True)["precision"] == "bf16"


def test_bf16_without_native_support_warns_and_still_trains(cohort, tmp_path, monkeypatch):
    monkeypatch.setattr(train_decoder_module, "bf16_native", lambda dev: False)
    logs = []
    _train(cohort, tmp_path, "bf16", logs=logs)
    assert any("warning: precision bf16 on a cpu without native bfloat16" in m for m in logs)
    assert (tmp_path / "V4.pt").exists()


def test_bf16_error_measures_the_real_bf16_rounding():
    """A decoder's bf16 outputs differ from float32 by bf16 rounding (well under the tolerance); a decoder whose
    output rides on a large offset loses its signal to bf16's 8-bit mantissa, and the check sees it."""
    torch.manual_seed(0)
    model = LeadDecoder(3, 0, proj=32, hidden=16, out_channels=8).eval()
    x = torch.randn(64, 3, 256)
    assert 0 < bf16_error(model, x, None) < BF16_TOLERANCE / 2
    with torch.no_grad():
        model.out.bias.fill_(1000.0)  # bf16 spacing at 1000 is 4: the ~0.1-sized signal is rounded away
    assert bf16_error(model, x, None) > 10 * BF16_TOLERANCE


def test_a_failed_bf16_check_falls_back_for_auto_and_stops_explicit_bf16(cohort, tmp_path, monkeypatch):
    monkeypatch.setattr(train_decoder_module, "resolve_precision", lambda name, dev: "bf16")  # as on a bf16 CPU
    monkeypatch.setattr(train_decoder_module, "bf16_error", lambda model, x, h: 0.25)  # as for a broken kernel
    logs = []
    assert _train(cohort, tmp_path / "auto", "auto", logs=logs)["precision"] == "fp32"
    assert any("warning: bf16 outputs of this decoder differ from float32 by 25.0%" in m and "training in fp32" in m for m in logs)
    with pytest.raises(RuntimeError, match="precision bf16: bf16 outputs .* set decoder.precision to fp32 or auto"):
        _train(cohort, tmp_path / "bf16", "bf16")
    assert not (tmp_path / "bf16" / "V4.pt").exists()


def test_anchored_decoder_keeps_its_gl_anchor_in_float32_under_bf16():
    """ChA = GL + residual decoder: under bf16 autocast the GL anchor is still computed in float32, so the
    untrained model (zero output layer) reproduces GL exactly."""
    from ecgrecon.learn.linear import GLAnchor
    from ecgrecon.learn.models import AnchoredDecoder

    torch.manual_seed(0)
    anchor = GLAnchor(3, 2)
    with torch.no_grad():
        anchor.weight.copy_(torch.randn_like(anchor.weight))
        anchor.bias.fill_(0.3)
    model = AnchoredDecoder(LeadDecoder(3, 8, proj=32, hidden=16, out_channels=8), anchor).eval()
    x, h = torch.randn(16, 3, 256), torch.randn(16, 8)
    with torch.no_grad():
        gl = anchor(x)
        with autocast("bf16", CPU):
            out = model(x, h)
            low = anchor(x.bfloat16())  # what the anchor would give in bf16
    assert out.dtype == torch.float32 and torch.equal(out, gl)
    assert not torch.equal(low.float(), gl)
