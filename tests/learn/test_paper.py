"""The authors' design (ecgrecon.learn.paper): sizes, loss, normalisation, released defects, batches, views, schedules."""

import numpy as np
import pytest
import torch

from defaults import section
from ecgrecon.learn import paper
from ecgrecon.learn.fitloop import Budget, _plateau_step, lr_factor
from ecgrecon.learn.models import build_decoder, count_params
from ecgrecon.learn.train_decoder import DecoderData, fit_decoder


def test_parameter_counts_equal_the_authors_at_their_default_settings():
    cfg = section("decoder_paper")
    assert count_params(build_decoder("Cpaper", 3, 128, cfg)) == 123_649  # Cpaper ignores h
    assert count_params(build_decoder("Chpaper", 3, 128, cfg)) == 238_593
    assert count_params(build_decoder("Chpaper", 3, 128, {**cfg, "h_branch": "tiled"})) == 238_593  # the repair adds none
    enc_cfg = section("encoder_paper")
    enc = paper.PaperEncoder(3, enc_cfg["width"], enc_cfg["depth"])
    assert enc.embed_dim == 128 and count_params(enc) == 228_928  # ResNet stem + 4 residual blocks
    assert count_params(paper.PaperHead(enc.embed_dim, enc_cfg["proj_dim"])) == 33_280


@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_contrastive_loss_equals_a_slow_reference_of_the_authors_formula(tau):
    g = torch.Generator().manual_seed(0)
    z = torch.nn.functional.normalize(torch.randn(10, 6, generator=g), dim=1)
    codes = [{"NORM"}, {"NORM"}, {"IMI", "LVH"}, {"LVH"}, {"AFIB"}, {"NORM"}, {"IMI"}, {"ASMI"}, {"AFIB", "NORM"}, {"STACH"}]
    pos = torch.tensor([[i != j and bool(a & b) for j, b in enumerate(codes)] for i, a in enumerate(codes)])
    assert not pos[7].any() and not pos[9].any()  # anchors without a positive are left out of the mean
    got = float(paper.contrastive_loss(z, pos, tau))
    assert got == pytest.approx(paper.contrastive_loss_reference(z.tolist(), pos.tolist(), tau), rel=1e-5)
    # the sum over positives sits inside the log: not the mean of per-positive logs (our L_out)
    from ecgrecon.learn.losses import supcon_loss

    labels = torch.tensor([[c in s for c in sorted(set().union(*codes))] for s in codes])
    assert got != pytest.approx(float(supcon_loss(z, labels, torch.arange(10), tau)), rel=1e-3)


def test_joint_scalar_normalisation_keeps_the_ratios_between_input_leads():
    t = torch.linspace(0, 6.28, 256)
    wave = torch.sin(3 * t) + 0.3 * torch.sin(11 * t)
    wave = (wave - wave.mean()).double()
    x = torch.stack([wave, 2.0 * wave, -0.5 * wave])[None] * 0.8  # zero-mean leads in ratio 1 : 2 : -0.5
    dec = paper.PaperDecoder(3, x_norm="segment")
    xn = dec.normalise(x)[0]
    np.testing.assert_allclose(xn[1].numpy(), 2.0 * xn[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(xn[2].numpy(), -0.5 * xn[0].numpy(), atol=1e-6)
    ref = (x[0].numpy() - x[0].numpy().mean()) / (x[0].numpy().std() + 1e-8)  # the authors' normalize_arr
    np.testing.assert_allclose(xn.numpy(), ref, atol=1e-5)
    from ecgrecon.data.datasets import zscore_segments  # ours, per lead, loses the ratios

    ours = zscore_segments(x.numpy())[0]
    np.testing.assert_allclose(ours[1], ours[0], atol=1e-5)  # every lead scaled to unit std: 1 : 1 : -1


def test_train_statistics_normalisation_is_per_input_lead():
    rng = np.random.default_rng(1)
    scale, offset = np.array([0.1, 1.0, 3.0])[:, None], np.array([0.0, 2.0, -1.0])[:, None]
    x = (rng.normal(size=(50, 3, 256)) * scale + offset).astype(np.float32)
    dec = paper.PaperDecoder(3, x_norm="train")
    dec.fit_input_stats(x)
    xn = dec.normalise(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(xn.mean(axis=(0, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(xn.std(axis=(0, 2)), 1.0, atol=1e-4)


def test_released_h_branch_uses_only_the_centre_taps_and_the_tiled_repair_uses_all():
    torch.manual_seed(0)
    x, h = torch.randn(4, 3, 64), torch.randn(4, 16)
    for mode, outer_taps_act in (("length1", False), ("tiled", True)):
        dec = paper.PaperDecoder(3, 16, width=8, h_branch=mode).eval()
        before = dec(x, h)
        with torch.no_grad():
            conv = dec.h_branch[3]  # the k3 conv of the h branch
            conv.weight[:, :, 0] += 1.0
            conv.weight[:, :, 2] -= 0.5
        changed = not torch.allclose(before, dec(x, h))
        assert changed == outer_taps_act, mode


def test_released_decoder_repeats_the_h_branch_over_time():
    dec = paper.PaperDecoder(3, 16, width=8).eval()
    out = dec.h_branch(torch.randn(2, 16)[:, :, None]).expand(-1, -1, 32)
    assert torch.equal(out[..., 0], out[..., -1])


def test_balanced_batches_are_classes_by_segments_as_the_authors_draw_them():
    classes = np.repeat(np.arange(15), [30] * 14 + [2])  # class 14 has only two segments
    batches = paper.draw_batches(classes, np.random.default_rng(0), per_batch=12, per_class=6)
    assert len(batches) == len(classes) // 72
    for b in batches:
        assert len(b) == 72
        counts = np.bincount(classes[b], minlength=15)
        assert set(counts[counts > 0]) == {6} and (counts > 0).sum() == 12
    assert any((classes[b] == 14).any() for b in batches)  # small classes drawn with replacement
    again = paper.draw_batches(classes, np.random.default_rng(0), per_batch=12, per_class=6)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))


def test_beat_view_rolls_an_r_peak_of_lead_ii_to_the_centre():
    fs, t = 100.0, 256
    x = np.zeros((3, 3, t), np.float32)
    for k, p in enumerate((30, 70, 200)):
        x[k, 1, p] = 1.5  # one R peak per segment on the second input lead
        x[k, 1, p - 1] = x[k, 1, p + 1] = 0.5
    peaks = paper.authors_r_peaks(x, fs)
    assert [list(p) for p in peaks] == [[30], [70], [200]]
    still = {"noise_mv": 0.0, "scale_sd": 0.0, "max_shift": 0, "drop_p": 0.0}
    v = paper.beat_view(x, peaks, np.random.default_rng(0), still)
    assert (v[:, 1].argmax(axis=1) == t // 2).all()
    drop = paper.basic_view(np.ones((200, 3, t), np.float32), np.random.default_rng(0), {**still, "drop_p": 0.1})
    assert 0.05 < (drop[:, :, 0] == 0).mean() < 0.15 and ((drop == 0).all(axis=2) == (drop[:, :, :1] == 0)[..., 0]).all()


def test_warmup_cosine_equals_torch_cosine_annealing_stepped_after_warmup():
    lr0, eta_min, epochs, warm = 3e-4, 1e-6, 12, 5
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=lr0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs - warm, eta_min=eta_min)
    theirs = []
    for epoch in range(1, epochs + 1):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        if epoch > warm:
            sched.step()
    ours = [lr0 * lr_factor("cosine", e, epochs, warm, eta_min / lr0) for e in range(epochs)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-9)
    assert lr_factor("cosine", 3, 10) == 0.5 * (1 + np.cos(np.pi * 3 / 10))  # our schedule unchanged


def test_plateau_schedule_equals_torch_reduce_lr_on_plateau():
    losses = [1.0, 0.9, 0.95, 0.9, 0.92, 0.91, 0.93, 0.9, 0.94, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=1e-4)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    budget, state, ours, theirs = Budget(20, 20, "plateau", plateau_patience=2), {}, [], []
    for loss in losses:
        sched.step(loss)
        _plateau_step(state, loss, budget)
        theirs.append(opt.param_groups[0]["lr"])
        ours.append(1e-4 * state.get("plateau_scale", 1.0))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert min(theirs) < 1e-4  # the rate was cut


def _decoder_data(n=96, t=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3, t)).astype(np.float32)
    y = (0.5 * x[:, 0] - 0.2 * x[:, 2]).astype(np.float32)
    h = rng.normal(size=(n, 16)).astype(np.float32)
    k = n * 3 // 4
    return DecoderData(x[:k], y[:k], h[:k], x[k:], y[k:], h[k:])


def test_authors_decoder_training_selects_on_mse_with_a_plateau_schedule_and_resumes(tmp_path):
    cfg = {**section("decoder_paper"), "width": 8, "max_epochs": 3, "batch_size": 16, "lr": 1e-3}
    data = _decoder_data()
    model, res = fit_decoder(data, variant="Chpaper", cfg=cfg, seed=3, key=("official", "V4"), device="cpu", state_path=tmp_path / "s.pt")
    hist = res["history"]
    assert len(hist) == 3 and all(r["val_loss"] == pytest.approx(r["val_rmse_mv"] ** 2) for r in hist)
    assert res["best_val"] == min(r["val_loss"] for r in hist)
    again, res2 = fit_decoder(data, variant="Chpaper", cfg=cfg, seed=3, key=("official", "V4"), device="cpu", state_path=tmp_path / "t.pt")
    assert [r["val_loss"] for r in res2["history"]] == [r["val_loss"] for r in hist]  # same seed, same numbers


def test_released_encoder_checkpoint_is_the_lowest_training_loss_and_the_probe_option_scores_fold_9(tmp_path):
    rng = np.random.default_rng(0)
    n, t = 160, 128
    cls = rng.integers(0, 4, size=n)
    x = (rng.normal(size=(n, 3, t)) * 0.05 + np.sin(np.arange(t) / (2 + cls[:, None, None]))).astype(np.float32)
    hot = np.eye(4, dtype=bool)[cls]
    data = {"fs": 100.0, "codes": list("abcd"), "x_train": x[:120], "y_train": hot[:120], "cls_train": cls[:120],
            "x_val": x[120:], "y_val": hot[120:], "cls_val": cls[120:]}  # fmt: skip
    cfg = {**section("encoder_paper"), "width": 4, "proj_dim": 8, "max_epochs": 4, "classes_per_batch": 4, "per_class": 6, "probe_every": 2}
    _, _, res = paper.fit_encoder(data, cfg=cfg, seed=1, device="cpu", state_path=tmp_path / "a.pt")
    train = [r["train_loss"] for r in res["history"]]
    assert res["best_epoch"] == int(np.argmin(train)) + 1 and [r["val_loss"] for r in res["history"]] == train
    _, _, res = paper.fit_encoder(data, cfg={**cfg, "checkpoint": "knn_probe"}, seed=1, device="cpu", state_path=tmp_path / "b.pt")
    acc = [r["knn_acc"] for r in res["history"]]
    assert all(0.0 <= a <= 1.0 for a in acc) and res["best_epoch"] == int(np.argmax(acc)) + 1


def test_released_probe_moves_the_backbone_batchnorm_statistics_every_probe_epoch(tmp_path):
    rng = np.random.default_rng(0)
    cls = rng.integers(0, 3, size=90)
    x = rng.normal(size=(90, 3, 64)).astype(np.float32)
    data = {"fs": 100.0, "codes": list("abc"), "x_train": x, "y_train": np.eye(3, dtype=bool)[cls], "cls_train": cls,
            "x_val": x[:0], "y_val": np.zeros((0, 3), bool), "cls_val": cls[:0]}  # fmt: skip
    cfg = {**section("encoder_paper"), "width": 4, "proj_dim": 8, "max_epochs": 1, "classes_per_batch": 3, "per_class": 6, "lr": 1e-12}
    stats = []
    for every in (1, 2):  # probe after epoch 1, or not
        enc, _, _ = paper.fit_encoder(data, cfg={**cfg, "probe_every": every}, seed=1, device="cpu", state_path=tmp_path / f"{every}.pt")
        stats.append(enc.body[1].running_mean.clone())
    assert not torch.allclose(stats[0], stats[1])


def test_knn_accuracy_on_separable_points():
    zt = torch.tensor([[0.0, 0], [0.1, 0], [0, 0.1], [5, 5], [5.1, 5], [5, 5.1]])
    yt = np.array([0, 0, 0, 1, 1, 1])
    assert paper.knn_accuracy(zt, yt, torch.tensor([[0.05, 0.05], [5.05, 5.0]]), np.array([0, 1]), k=3) == 1.0
    assert paper.knn_accuracy(zt, yt, torch.tensor([[0.05, 0.05], [5.05, 5.0]]), np.array([1, 1]), k=3) == 0.5


def test_repaired_options_train_and_rebuild_from_their_checkpoint_arch(tmp_path):
    from ecgrecon.learn.train_decoder import model_arch

    cfg = {**section("decoder_paper"), "width": 8, "max_epochs": 1, "batch_size": 32, "h_branch": "tiled", "x_norm": "train"}
    data = _decoder_data()
    model, _ = fit_decoder(data, variant="Chpaper", cfg=cfg, seed=0, key=("official", "V1"), device="cpu", state_path=tmp_path / "s.pt")
    x = torch.from_numpy(data.x_val)
    np.testing.assert_allclose(model.x_mean.numpy(), data.x_train.mean(axis=(0, 2)), atol=1e-5)  # train statistics, not val
    arch = model_arch(model)
    assert arch == {"design": "paper", "width": 8, "h_branch": "tiled", "x_norm": "train"}
    again = build_decoder("Chpaper", 3, 16, arch)
    again.load_state_dict(model.state_dict())
    h = torch.from_numpy(data.h_val)
    torch.testing.assert_close(again.eval()(x, h), model(x, h))
