"""The paper's method as its authors wrote it: Youssef & Singla's encoder and C / C-h decoders.

Written from a reading of the authors' released code (GitHub youssef-youssef97/ECG_Leads_Reconstruction
at 0d8545d: ``contrastive.py``, ``extract_contrastive_reps_ptbxl.py``, ``Final_Model.py``), not copied
from it. Our redesign (:mod:`ecgrecon.learn.models`, :mod:`ecgrecon.learn.train_encoder`) differs at
nearly every stage; docs/results.md puts the two side by side. Methods ``Cpaper`` / ``Chpaper``
(:mod:`ecgrecon.methods.paper`); settings: config sections ``encoder_paper`` and ``decoder_paper``.

Encoder (``PaperEncoder`` + ``PaperHead``): a ResNet stem (conv k7 -> BN -> ReLU -> max-pool 2), four
residual blocks (32 -> 64 -> 64 -> 128 -> 128 channels), global average pooling -> h (128); head
Linear -> BN -> GELU -> Linear -> l2-normalised z. Trained on the raw input leads (mV) of the train
folds' segments that carry an SCP code with likelihood >= 80, in batches of 12 classes x 6 segments
(classes drawn uniformly; a segment's class is its first code), with two views per segment: view 1
rolls a random R peak of lead II (the second input lead) to the centre, then adds noise, scales each
lead, shifts by up to 4 samples and drops leads; view 2 does the same with other strengths. Loss: for
each anchor with a positive, -log(sum over positives exp(s / tau) / sum over all others exp(s / tau));
positives share at least one code. AdamW 3e-4, gradients clipped at 1.0, cosine decay after 5 epochs.

Decoder (``PaperDecoder``): every layer runs at the full segment length T. The x branch is conv k1 ->
BN -> GELU -> conv k3 -> GELU (128 channels); C-h adds the same branch on h; the branches are
concatenated and fused by a conv k3, then conv k3 -> ReLU -> conv k1 gives the lead in mV. The input
leads are normalised inside the model. Trained with 0.8 MSE + 0.2 L1, AdamW 1e-4, batch 64, every
window each epoch, ReduceLROnPlateau(0.5, 5) and early stopping (patience 12) on the validation MSE.

Where the released code has a defect, the released behaviour is the default and the repaired form is
an option:

- ``decoder_paper.h_branch: length1`` (released): h enters the h branch as a sequence of length 1, so
  its k3 conv sees zero padding on both sides and only the centre tap of each kernel ever acts (two
  thirds of that conv's weights are dead); the branch output is then repeated over time. ``tiled``:
  h is repeated over time first, so every tap acts.
- ``decoder_paper.x_norm: segment`` (released): the training script computes per-lead statistics of all
  12 leads but applies them to the 3 input leads; the shapes do not match, so its fallback normalises
  each segment by one mean and one standard deviation over all its input leads (which keeps the ratios
  between the leads). ``train``: the per-lead train statistics of the input leads it meant to apply.
- ``encoder_paper.checkpoint: released``: the k-NN probe that is meant to pick the checkpoint runs with
  the model in training mode on batches of one segment, so the projection head's BatchNorm raises,
  the exception is swallowed and the epoch with the lowest training loss is kept (their code saves no
  checkpoint at all when no epoch's loss falls below 1.0; we keep the lowest then). Before it raises,
  the probe's forward pass has updated the running BatchNorm statistics of the backbone with that one
  segment (every 5th epoch); reproduced. ``knn_probe``: the probe as meant (eval mode; a 5-nearest-
  neighbour classifier of the segments' first code, fitted on train z, scored on the validation split:
  fold 9), the checkpoint with the highest accuracy.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecgrecon.data.datasets import ArtifactError, label_lists, load_folds, read_leads, read_segment_meta, split_rows
from ecgrecon.learn.device import derive_seed, resolve_device, seed_everything
from ecgrecon.learn.fitloop import Budget, fingerprint, fit, load_checkpoint, resume_path, step
from ecgrecon.learn.losses import positive_mask

ENCODER_FOLD = "official"
NORM_EPS = 1e-8  # the authors' epsilon in the input and h normalisation


# ---- networks ------------------------------------------------------------------------------------------
class ResBlock(nn.Module):
    """conv k3 -> BN -> ReLU -> conv k3 -> BN, plus the input (1x1 conv + BN when the width changes), ReLU."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv1d(c_in, c_out, 3, padding=1), nn.BatchNorm1d(c_out)
        self.conv2, self.bn2 = nn.Conv1d(c_out, c_out, 3, padding=1), nn.BatchNorm1d(c_out)
        self.down = nn.Sequential(nn.Conv1d(c_in, c_out, 1), nn.BatchNorm1d(c_out)) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.down(x))


class PaperEncoder(nn.Module):
    """The authors' ResNet backbone: x (B, n_leads, T) in mV -> h (B, embed_dim); 228,928 parameters for 3 leads."""

    def __init__(self, n_leads: int, width: int = 32, depth: int = 4):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(n_leads, width, 7, padding=3), nn.BatchNorm1d(width), nn.ReLU(), nn.MaxPool1d(2)]
        ch = width
        for i in range(depth):
            out = 2 * ch if i % 2 == 0 else ch  # widen on every other block
            layers.append(ResBlock(ch, out))
            ch = out
        self.body = nn.Sequential(*layers)
        self.n_leads, self.width, self.depth, self.embed_dim = n_leads, width, depth, ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=-1)


class PaperHead(nn.Module):
    """Linear -> BN -> GELU -> Linear, l2-normalised (33,280 parameters for h and z of 128)."""

    def __init__(self, embed_dim: int, proj_dim: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.BatchNorm1d(embed_dim), nn.GELU(), nn.Linear(embed_dim, proj_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(h), dim=1)


def _branch(c_in: int, width: int) -> nn.Sequential:
    """A decoder input branch: conv k1 -> BN -> GELU -> conv k3 -> GELU, no conv biases."""
    return nn.Sequential(
        nn.Conv1d(c_in, width, 1, bias=False),
        nn.BatchNorm1d(width),
        nn.GELU(),
        nn.Conv1d(width, width, 3, padding=1, bias=False),
        nn.GELU(),
    )


H_BRANCH = ("length1", "tiled")
X_NORM = ("segment", "train")


class PaperDecoder(nn.Module):
    """The authors' StackedLatentDecoder for one lead: x (B, n_in, T) in mV (+ h (B, h_dim) normalised) -> (B, T) mV.

    C (no h): 123,649 parameters at width 128 with 3 input leads; C-h (h of 128): 238,593.
    """

    def __init__(self, n_in: int, h_dim: int = 0, width: int = 128, h_branch: str = "length1", x_norm: str = "segment"):
        super().__init__()
        if h_branch not in H_BRANCH or x_norm not in X_NORM:
            raise ValueError(f"h_branch must be one of {H_BRANCH} and x_norm one of {X_NORM} (got {h_branch!r}, {x_norm!r})")
        self.n_in, self.h_dim, self.width, self.h_mode, self.x_norm = n_in, h_dim, width, h_branch, x_norm
        self.x_branch = _branch(n_in, width)
        self.h_branch = _branch(h_dim, width) if h_dim else None
        self.fusion = nn.Conv1d((2 if h_dim else 1) * width, width, 3, padding=1, bias=False)
        mid = max(32, width // 2)
        self.head = nn.Sequential(nn.Conv1d(width, mid, 3, padding=1), nn.ReLU(), nn.Conv1d(mid, 1, 1))
        self.register_buffer("x_mean", torch.zeros(n_in))
        self.register_buffer("x_std", torch.ones(n_in))

    def fit_input_stats(self, x_train: np.ndarray) -> None:
        """x_norm ``train``: per input lead mean and std over every train sample (float64)."""
        x = np.asarray(x_train, dtype=np.float64)
        self.x_mean.copy_(torch.from_numpy(x.mean(axis=(0, 2))).float())
        self.x_std.copy_(torch.from_numpy(x.std(axis=(0, 2))).float())

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """``segment``: (x - mean) / (std + 1e-8) with one mean and std over all input leads and samples of a segment;
        ``train``: per lead with the train statistics."""
        if self.x_norm == "segment":
            mean = x.mean(dim=(1, 2), keepdim=True)
            std = x.std(dim=(1, 2), keepdim=True, unbiased=False)
            return (x - mean) / (std + NORM_EPS)
        return (x - self.x_mean[:, None]) / (self.x_std[:, None] + NORM_EPS)

    def forward(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        feats = [self.x_branch(self.normalise(x))]
        if self.h_branch is not None:
            if h is None:
                raise ValueError("a C-h decoder needs h")
            t = x.shape[-1]
            if self.h_mode == "length1":  # the released code: h is a length-1 sequence (only the k3 centre taps act)
                feats.append(self.h_branch(h[:, :, None]).expand(-1, -1, t))
            else:
                feats.append(self.h_branch(h[:, :, None].expand(-1, -1, t).contiguous()))
        return self.head(self.fusion(torch.cat(feats, dim=1)))[:, 0]


def build_decoder(n_in: int, h_dim: int, cfg: dict) -> PaperDecoder:
    """From the ``decoder_paper`` config section (or a checkpoint's ``arch``)."""
    return PaperDecoder(n_in, h_dim, int(cfg["width"]), cfg["h_branch"], cfg["x_norm"])


def decoder_arch(model: PaperDecoder) -> dict:
    return {"design": "paper", "width": model.width, "h_branch": model.h_mode, "x_norm": model.x_norm}


# ---- contrastive loss, batches, views --------------------------------------------------------------------
def contrastive_loss(z: torch.Tensor, pos: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean over anchors with a positive of -log(sum_p exp(z_i.z_p / tau) / sum_{a != i} exp(z_i.z_a / tau)).

    ``z`` (M, d) l2-normalised; ``pos`` (M, M) bool, False on the diagonal. (Khosla et al.'s L_in form:
    the sum over positives is inside the log, unlike our L_out in :mod:`ecgrecon.learn.losses`.)"""
    m = z.shape[0]
    eye = torch.eye(m, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    pos = pos & ~eye
    has = pos.any(dim=1)
    if not bool(has.any()):
        raise ValueError("no anchor in the batch has a positive")
    log_all = torch.logsumexp(logits, dim=1)
    log_pos = torch.logsumexp(logits.masked_fill(~pos, float("-inf")), dim=1)
    return (log_all - log_pos)[has].mean()


def contrastive_loss_reference(z, pos, temperature: float) -> float:
    """The same loss, loop by loop in plain python floats (for tests)."""
    import math

    z = [[float(v) for v in row] for row in z]
    m = len(z)
    total, n = 0.0, 0
    for i in range(m):
        sims = [math.exp(sum(a * b for a, b in zip(z[i], z[j])) / temperature) for j in range(m)]
        num = sum(sims[j] for j in range(m) if j != i and bool(pos[i][j]))
        den = sum(sims[j] for j in range(m) if j != i)
        if num > 0:
            total += -math.log(num / den)
            n += 1
    return total / n


def draw_batches(classes: np.ndarray, rng: np.random.Generator, per_batch: int, per_class: int) -> list[np.ndarray]:
    """One epoch of the authors' balanced batches: ``n // (per_batch * per_class)`` batches (at least one), each of
    ``per_batch`` classes drawn uniformly without replacement and ``per_class`` segments of each (with replacement
    when a class has fewer), shuffled. ``classes``: each segment's class index."""
    members = {int(c): np.flatnonzero(classes == c) for c in np.unique(classes)}
    keys = np.array(sorted(members))
    n_batches = max(1, len(classes) // (per_batch * per_class))
    out = []
    for _ in range(n_batches):
        chosen = rng.choice(keys, size=min(per_batch, len(keys)), replace=False)
        idx = np.concatenate([rng.choice(members[c], size=per_class, replace=len(members[c]) < per_class) for c in chosen])
        out.append(rng.permutation(idx))
    return out


def authors_r_peaks(x: np.ndarray, fs: float) -> list[np.ndarray]:
    """R peaks of each segment's second input lead (the first when there is one), as the authors find them:
    scipy find_peaks, at least 0.2 s apart, prominence >= max(0.1 mV, 0.4 std). Kept apart from the pipeline's
    detector (:func:`ecgrecon.signal.measures.detect_r_peaks`) on purpose: the views must be the authors'."""
    from scipy.signal import find_peaks  # here: scipy.signal costs ~1.2 s of import in every decoder job that never calls it

    ch = 1 if x.shape[1] > 1 else 0
    dist = int(0.2 * fs)
    return [find_peaks(s, distance=dist, prominence=max(0.1, 0.4 * float(np.std(s))))[0] for s in x[:, ch]]


def _roll(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Circular shift of each segment (all leads) by its own number of samples (np.roll per segment)."""
    t = x.shape[-1]
    idx = (np.arange(t)[None, :] - shifts[:, None]) % t
    return np.take_along_axis(x, np.broadcast_to(idx[:, None, :], x.shape), axis=2)


def basic_view(x: np.ndarray, rng: np.random.Generator, v: dict) -> np.ndarray:
    """Gaussian noise (``noise_mv``), a gain per lead N(1, ``scale_sd``), one circular shift in +-``max_shift``,
    each lead zeroed with probability ``drop_p``."""
    b, c, _ = x.shape
    x = x + rng.normal(0.0, float(v["noise_mv"]), size=x.shape).astype(np.float32)
    x = x * rng.normal(1.0, float(v["scale_sd"]), size=(b, c, 1)).astype(np.float32)
    s = int(v["max_shift"])
    x = _roll(x, rng.integers(-s, s + 1, size=b))
    return np.where((rng.random((b, c)) < float(v["drop_p"]))[:, :, None], np.float32(0.0), x).astype(np.float32)


def beat_view(x: np.ndarray, peaks: list[np.ndarray], rng: np.random.Generator, v: dict) -> np.ndarray:
    """A random R peak of each segment rolled to the centre (segments without a peak stay), then :func:`basic_view`."""
    t = x.shape[-1]
    shifts = np.array([t // 2 - int(rng.choice(p)) if len(p) else 0 for p in peaks])
    return basic_view(_roll(x, shifts), rng, v)


def knn_accuracy(z_train: torch.Tensor, y_train: np.ndarray, z_val: torch.Tensor, y_val: np.ndarray, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour (euclidean, majority vote, ties to the nearest) classifier."""
    d = torch.cdist(z_val.float(), z_train.float())
    nn_idx = d.topk(min(k, len(y_train)), largest=False).indices.cpu().numpy()
    votes = y_train[nn_idx]
    pred = np.array([np.bincount(v).argmax() if np.bincount(v).max() > 1 else v[0] for v in votes])
    return float((pred == y_val).mean())


# ---- encoder training ------------------------------------------------------------------------------------
def load_encoder_data(segments, folds, *, inputs, level: str) -> dict:
    """Input leads (mV) of the labelled train and val segments of the official fold, their code lists and the
    class (first code, sorted) of each."""
    meta, attrs = read_segment_meta(segments)
    rows = split_rows(meta, load_folds(folds, ENCODER_FOLD), segments)
    lists = label_lists(meta, level, segments)
    out = {"fs": float(attrs["fs"])}
    train_rows = np.array([i for i in rows["train"] if lists[i]], dtype=np.int64)
    if len(train_rows) < 2:
        raise ArtifactError(f"{segments}: {len(train_rows)} train segment(s) carry a {level} label; the encoder needs 2")
    codes = sorted({c for i in train_rows for c in lists[i]})
    out["codes"] = codes
    pos = {c: j for j, c in enumerate(codes)}
    for split, r in (("train", train_rows), ("val", np.array([i for i in rows["val"] if lists[i]], dtype=np.int64))):
        out[f"x_{split}"] = read_leads(segments, inputs, r) if len(r) else np.zeros((0, len(inputs), 0), np.float32)
        hot = np.zeros((len(r), len(codes)), dtype=bool)
        first = np.full(len(r), -1, dtype=np.int64)
        for k, i in enumerate(r):
            known = [pos[c] for c in lists[i] if c in pos]
            hot[k, known] = True
            first[k] = known[0] if known else -1
        out[f"y_{split}"], out[f"cls_{split}"] = hot, first
    return out


def fit_encoder(data: dict, *, cfg: dict, seed: int, device: str = "auto", state_path, log=print, epoch_hook=None):
    """Train the authors' encoder and head; returns (encoder, head, fit result) with the checkpointed weights."""
    dev = resolve_device(device)
    seed_everything(seed, dev)
    torch.manual_seed(derive_seed(seed, "paper-encoder-init"))
    enc = PaperEncoder(data["x_train"].shape[1], int(cfg["width"]), int(cfg["depth"])).to(dev)
    head = PaperHead(enc.embed_dim, int(cfg["proj_dim"])).to(dev)
    params = list(enc.parameters()) + list(head.parameters())
    lr = float(cfg["lr"])
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=float(cfg["weight_decay"]))
    xt, yt, ct = data["x_train"], torch.from_numpy(data["y_train"]), data["cls_train"]
    peaks = authors_r_peaks(xt, data["fs"])
    tau, views = float(cfg["temperature"]), cfg["views"]
    mode, every = cfg["checkpoint"], int(cfg["probe_every"])
    log(
        f"paper encoder: {len(xt)} labelled train segments, {len(data['codes'])} codes, {len(np.unique(ct))} classes; "
        f"batches {cfg['classes_per_batch']} classes x {cfg['per_class']}; checkpoint {mode}"
    )
    last = {"loss": float("nan")}

    def train_epoch(epoch: int) -> float:
        rng = np.random.default_rng([seed, 1, epoch])  # batches and views of an epoch: a pure function of (seed, epoch)
        total, batches = 0.0, draw_batches(ct, rng, int(cfg["classes_per_batch"]), int(cfg["per_class"]))
        for b in batches:
            v1 = beat_view(xt[b], [peaks[i] for i in b], rng, views["beat"])
            v2 = basic_view(xt[b], rng, views["basic"])
            z = head(enc(torch.from_numpy(np.concatenate([v1, v2])).to(dev)))
            pos = positive_mask(yt[b].repeat(2, 1), torch.arange(len(b)).repeat(2)).to(dev)  # a shared code (or the same segment)
            total += step(opt, contrastive_loss(z, pos, tau), clip=cfg["grad_clip"])
        if mode == "released" and (epoch + 1) % every == 0:
            # The released probe: one segment through the backbone in training mode (running BN statistics
            # move towards it), then the head's BatchNorm raises on a batch of one and the probe is skipped.
            with torch.no_grad():
                enc(torch.from_numpy(xt[:1]).to(dev))
        last["loss"] = total / len(batches)
        return last["loss"]

    def validate() -> dict:
        if mode == "released":
            return {"val_loss": last["loss"]}  # the epoch with the lowest training loss is kept
        if len(data["x_val"]) == 0:
            raise ArtifactError("encoder_paper.checkpoint knn_probe needs labelled validation segments")
        n = min(len(xt), 10000)
        zt = torch.cat([head(enc(torch.from_numpy(xt[lo : min(n, lo + 1024)]).to(dev))) for lo in range(0, n, 1024)])
        xv = data["x_val"]
        zv = torch.cat([head(enc(torch.from_numpy(xv[lo : lo + 1024]).to(dev))) for lo in range(0, len(xv), 1024)])
        acc = knn_accuracy(zt, ct[:n], zv, data["cls_val"])
        return {"val_loss": -acc, "knn_acc": acc}

    budget = Budget(
        int(cfg["max_epochs"]), int(cfg["patience"]), cfg["lr_schedule"], warmup=int(cfg["lr_warmup"]), floor=float(cfg["min_lr"]) / lr
    )
    settings = {"seed": seed, "device": dev.type, "codes": data["codes"], "cfg": cfg, "threads": torch.get_num_threads()}
    fp = fingerprint(settings, xt, data["x_val"], data["y_train"])
    result = fit({"encoder": enc, "head": head}, opt, train_epoch, validate, budget=budget, state_path=state_path, fp=fp, log=log,
                 epoch_hook=epoch_hook)  # fmt: skip
    enc.load_state_dict(result["best"]["encoder"])
    head.load_state_dict(result["best"]["head"])
    return enc.eval(), head.eval(), result


def train_encoder(segments, folds, out_model, out_log, out_png, *, inputs, level, cfg, seed, device="auto", log=print, epoch_hook=None):
    """Train and write encoder.pt (``design: paper``), train_log.csv and the loss-curve PNG (rule train_encoder_paper).

    ``level``: the label level whose shared labels make positives (the authors: SCP codes, ``code``)."""
    from ecgrecon.learn.train_encoder import write_encoder

    data = load_encoder_data(segments, folds, inputs=inputs, level=level)
    enc, head, result = fit_encoder(
        data, cfg=cfg, seed=seed, device=device, state_path=resume_path(out_model), log=log, epoch_hook=epoch_hook
    )
    settings = {
        "design": "paper",
        "inputs": [str(i) for i in inputs],
        "classes": list(data["codes"]),
        "level": level,
        "fs": data["fs"],
        "embed_dim": int(enc.embed_dim),
        "proj_dim": int(cfg["proj_dim"]),
        "width": int(cfg["width"]),
        "depth": int(cfg["depth"]),
        "temperature": float(cfg["temperature"]),
        "checkpoint": cfg["checkpoint"],
    }
    title = f"paper encoder (tau={cfg['temperature']}; checkpoint: {cfg['checkpoint']})"
    ckpt = write_encoder(enc, head, result, settings, seed, out_model, out_log, out_png, title=title)
    log(f"paper encoder: {ckpt['n_params']} + {ckpt['n_params_head']} (head) parameters; best epoch {ckpt['best_epoch']}")
    return ckpt


def load_encoder(path, device="cpu") -> tuple[PaperEncoder, dict]:
    ckpt = load_checkpoint(path, "encoder")
    enc = PaperEncoder(len(ckpt["inputs"]), int(ckpt["width"]), int(ckpt["depth"]))
    enc.load_state_dict(ckpt["encoder"])
    return enc.to(device).eval(), ckpt
