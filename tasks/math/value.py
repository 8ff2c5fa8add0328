"""The learned value v_φ of the ``value`` objective: P(correct | worked solution), differentiable in the tokens.

Trained on the base solver's own rollouts of Original / Simple training problems only (fresh problems of the
stream with ``hard_exposure = skill_rate = 0``; the committed splits are excluded by the stream), labelled by the
exact answer check. It never sees a Hard form or a test problem, so on Hard it is a label-free proxy whose
blind spot (the memorised method looks right) is measurable as proxy hacking. It reads a soft sequence, so the
gradient methods (tag, treeg-g, tds) can use it: (B, L) ids or (B, L, V) probabilities over real tokens
(``MaskedFamily.soft_x0``) -> (B,) probability of a correct answer.

Train directly: ``python3 -m tasks.math.value WEIGHTS_DIR --out RUN_DIR`` (writes ``WEIGHTS_DIR/value.pt``;
``bench pretrain --task math`` runs it after the solver).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from bench.train import RunDirs, TrainConfig, fit_supervised, seeded, summary
from bench.weights import load_state, write_manifest
from tasks.math import instances, rewards, stream, tokens
from tasks.math.sampling import sample_prompts

log = logging.getLogger(__name__)

VALUE = "value.pt"
CONFIG = dict(d=64, layers=2, heads=4, ff=4)
TINY = dict(d=8, layers=1, heads=2, ff=2)
ROLLOUTS, VAL_SHARE, ROLL_STEPS, ROLL_SEED = 6000, 0.1, 48, 4242
TRAIN = TrainConfig(steps=0, batch=128, lr=1e-3, warmup=50, lr_floor=0.05, weight_decay=0.01, clip=1.0, ema=0.99,
                    ema_warmup=True, ckpt_every=200, log_every=50, probe_every=200)
EPOCHS = 8


class ValueNet(nn.Module):
    """Soft-token transformer classifier: (B, L) ids or (B, L, V) probabilities -> (B, 2) logits (wrong, right)."""

    def __init__(self, vocab: int = tokens.V, length: int = tokens.L, d: int = 64, layers: int = 2, heads: int = 4,
                 ff: int = 4) -> None:
        super().__init__()
        self.vocab = vocab
        self.config = dict(vocab=vocab, length=length, d=d, layers=layers, heads=heads, ff=ff)
        self.embed = nn.Linear(vocab, d, bias=False)
        self.pos = nn.Parameter(torch.randn(length, d) * 0.02)
        layer = nn.TransformerEncoderLayer(d, heads, ff * d, 0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2))

    def soft(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L) ids -> (B, L, V) one-hot ([MASK] and other out-of-vocabulary ids -> a zero row); soft input kept."""
        if x.dtype != torch.long:
            return x[..., : self.vocab].float()
        hot = F.one_hot(x.clamp(0, self.vocab), self.vocab + 1).float()  # (B, L, V+1)
        return hot[..., : self.vocab]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(self.soft(x)) + self.pos[: x.shape[1]])  # (B, L, d)
        return self.head(h.mean(1))  # (B, 2)

    def prob(self, x: torch.Tensor) -> torch.Tensor:
        """P(correct): (B,)."""
        return self(x).softmax(-1)[:, 1]


def build_value(saved: dict[str, Any]) -> ValueNet:
    """ValueNet from a {"config", "state", ...} dict (eval mode, gradients off)."""
    net = ValueNet(**saved["config"])
    net.load_state_dict(saved["state"])
    return net.eval().requires_grad_(False)


def load_value(folder: Path, device: str | torch.device = "cpu") -> ValueNet:
    """The committed value net of ``folder`` (a missing or corrupt file is named in the error)."""
    return build_value(load_state(Path(folder), VALUE)).to(device)


def tiny_value(seed: int = 0) -> ValueNet:
    """Random-initialised miniature (no weight files)."""
    with seeded(seed):
        net = ValueNet(**TINY)
    return net.eval().requires_grad_(False)


def rollouts(denoiser: nn.Module, n: int, seed: int = ROLL_SEED, steps: int = ROLL_STEPS) -> tuple[torch.Tensor,
                                                                                                   torch.Tensor]:
    """n base-model solutions of fresh Original / Simple stream problems and their exact labels: (n, L), (n,)."""
    probs = stream.TrainStream(stream.TrainConfig(seed=seed, hard_exposure=0.0, skill_rate=0.0)).take(n)
    x0 = sample_prompts(denoiser, instances.prompt_ids(probs), steps, seed=seed)  # (n, L)
    y = rewards.ExactOracle([p.answer for p in probs])(x0, torch.arange(n)).long()  # (n,)
    return x0, y


def train_value(denoiser: nn.Module, runs: RunDirs, seed: int = 0, quick: bool = False,
                device: str = "cpu", folder: str = "value") -> tuple[ValueNet, dict[str, Any]]:
    """Roll out, train v_φ (cross-entropy, balanced by the data), save ``value.pt``; returns (net, summary).
    ``folder``: the training folder under ``train/``; name it after the denoiser checkpoint it rolls out (a
    finished folder is reused as is, so another denoiser needs another folder)."""
    n = 64 if quick else ROLLOUTS
    x0, y = rollouts(denoiser.to(device), n, steps=4 if quick else ROLL_STEPS)
    x0, y = x0.cpu(), y.cpu()
    n_val = max(8, int(VAL_SHARE * n))
    with seeded(seed):
        net = ValueNet(**CONFIG)
    cfg = TRAIN.with_(seed=seed, device=device, **({"steps": 3, "warmup": 1, "log_every": 1} if quick else {}))
    res = fit_supervised("value", net, x0[n_val:], y[n_val:], "ce", cfg, runs.train(folder),
                         epochs=None if quick else EPOCHS, val=(x0[:n_val], y[:n_val]))
    with torch.no_grad():
        p = res.net.prob(x0[:n_val])  # (n_val,)
    acc = float(((p > 0.5).long() == y[:n_val]).float().mean())
    info = {**summary(res, cfg), "rollouts": n, "positive_rate": float(y.float().mean()), "val_rows": n_val,
            "val_acc": acc, "val_auc": auc(p, y[:n_val]), "config": CONFIG}
    torch.save({"config": res.net.config, "state": res.net.state_dict(), "info": info}, runs.weights / VALUE)
    log.info("value: positive rate %.3f, val acc %.3f, AUC %.3f", info["positive_rate"], acc, info["val_auc"])
    return res.net, info


def auc(score: torch.Tensor, y: torch.Tensor) -> float:
    """ROC AUC by ranks (ties half); NaN with one class only."""
    pos, neg = score[y == 1], score[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    gt = (pos[:, None] > neg[None, :]).float().mean() + 0.5 * (pos[:, None] == neg[None, :]).float().mean()
    return float(gt)


def main() -> None:
    """CLI: ``python3 -m tasks.math.value WEIGHTS_DIR --out RUN_DIR [--quick] [--threads N]``."""
    from tasks.math.models import load_denoiser

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(a.threads)
    runs = RunDirs(a.out)
    _, info = train_value(load_denoiser(a.weights), runs, quick=a.quick)
    if a.quick:  # a smoke run never lands next to real weights
        print(f"value: {runs.weights / VALUE} (quick; {a.weights} untouched) {info}")
        return
    dst = a.weights / VALUE
    dst.write_bytes((runs.weights / VALUE).read_bytes())
    pinfo = a.weights / "pretrain_info.json"  # the card reads the value's numbers from here
    if pinfo.exists():
        import json

        meta = json.loads(pinfo.read_text())
        meta["value"] = info
        pinfo.write_text(json.dumps(meta, indent=2) + "\n")
    write_manifest(a.weights)
    print(f"value: {dst} {info}")


if __name__ == "__main__":
    main()
