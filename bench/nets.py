"""Network backbones shared by task packages (a task's ``net.py`` names and configures one for its data)."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F


def identity_attention(mha: nn.MultiheadAttention, h: torch.Tensor) -> torch.Tensor:
    """Self-attention with its map replaced by the identity (PAG; softmax(QKᵀ) -> I): ``out_proj(V)``,
    (B, L, d) -> (B, L, d). Every query attends to itself only, so the output is the value projection."""
    d = mha.embed_dim
    w_v = mha.in_proj_weight[2 * d:]  # (d, d) the V block of the packed in-projection
    b_v = mha.in_proj_bias[2 * d:] if mha.in_proj_bias is not None else None
    return mha.out_proj(F.linear(h, w_v, b_v))  # (B, L, d)


class PerturbableLayer(nn.TransformerEncoderLayer):
    """``nn.TransformerEncoderLayer`` (same parameters and state-dict keys) with a ``perturb`` switch: when set,
    the self-attention block is ``identity_attention`` (the perturbed branch of PAG); otherwise unchanged."""

    perturb: bool = False

    def forward(self, src: torch.Tensor, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        if not self.perturb:
            return super().forward(src, src_mask, src_key_padding_mask, is_causal=is_causal)
        x = src  # (B, L, d)
        if self.norm_first:
            x = x + self.dropout1(identity_attention(self.self_attn, self.norm1(x)))
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self.dropout1(identity_attention(self.self_attn, x)))
        return self.norm2(x + self._ff_block(x))


@contextlib.contextmanager
def perturbed(layers: list[nn.Module]) -> Iterator[None]:
    """Within the block, each of ``layers`` (modules with a ``perturb`` flag) uses identity self-attention."""
    for layer in layers:
        layer.perturb = True
    try:
        yield
    finally:
        for layer in layers:
            layer.perturb = False


class SelfAttention2d(nn.Module):
    """Residual multi-head self-attention over the H·W positions of a feature map: (B, C, H, W) -> same.
    ``perturb`` (PAG): the attention map is the identity, so the block adds ``out_proj(V)``. ``capture`` (SAG):
    the forward also stores ``saliency`` (B, H, W), the attention each position receives, summed over queries
    and averaged over heads (its mean over positions is 1)."""

    perturb: bool = False
    capture: bool = False

    def __init__(self, channels: int, heads: int = 4, groups: int = 8) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, H·W, C)
        if self.perturb:
            out = identity_attention(self.attn, h)  # (B, H·W, C)
        elif self.capture:
            out, amap = self.attn(h, h, h, need_weights=True, average_attn_weights=True)  # (B, HW, C), (B, HW, HW)
            self.saliency = amap.sum(1).reshape(b, hgt, wid)  # (B, H, W) attention received per key
        else:
            out = self.attn(h, h, h, need_weights=False)[0]  # (B, H·W, C)
        return x + out.transpose(1, 2).reshape(b, c, hgt, wid)


@contextlib.contextmanager
def captured(layer: SelfAttention2d) -> Iterator[Callable[[], torch.Tensor]]:
    """Within the block, ``layer`` stores its saliency map on every forward; yields a reader of the latest one
    (B, H, W). Outside it the layer runs without attention weights (the fused path)."""
    layer.capture = True

    def read() -> torch.Tensor:
        if getattr(layer, "saliency", None) is None:
            raise RuntimeError("no saliency captured: run the network inside the block first")
        return layer.saliency
    try:
        yield read
    finally:
        layer.capture, layer.saliency = False, None


class TokenTransformer(nn.Module):
    """Bidirectional pre-LN transformer MDLM denoiser: (B, L) ids in [0, V] (V = [MASK]) or a (B, L, V+1) soft
    one-hot (the differentiable path; the embedding is ``onehot @ embedding.weight``) -> logits (B, L, V).
    Time-agnostic (absorbing-state diffusion needs no t input); ``t`` is accepted and ignored.

    PAG switch: ``with net.attention_perturbed(): ...`` runs the ``pag_layers`` (default: the middle layer) with
    identity self-attention (``PerturbableLayer``); the weights are untouched."""

    def __init__(self, vocab: int, length: int, d: int = 128, layers: int = 4, heads: int = 4,
                 ff: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.vocab, self.length = vocab, length
        self.config = dict(vocab=vocab, length=length, d=d, layers=layers, heads=heads, ff=ff)
        self.embed = nn.Embedding(vocab + 1, d)
        self.pos = nn.Parameter(torch.randn(length, d) * 0.02)
        layer = PerturbableLayer(d, heads, ff * d, dropout, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        self.pag_layers: tuple[int, ...] = (layers // 2,)  # PAG's perturbed layers (one middle layer)

    @contextlib.contextmanager
    def attention_perturbed(self) -> Iterator[None]:
        """Within the block, the ``pag_layers`` use identity self-attention."""
        with perturbed([self.encoder.layers[i] for i in self.pag_layers]):
            yield

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, L, V). ``x``: (B, L) long ids or (B, L, V+1) float probabilities; ``t`` unused."""
        return self.logits(self.embed_tokens(x))  # (B, L, V)

    def embed_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Token embeddings (B, L, d) of (B, L) long ids or of a (B, L, V+1) soft one-hot."""
        if x.dtype == torch.long:
            return self.embed(x)  # (B, L, d)
        return x.to(self.embed.weight.dtype) @ self.embed.weight  # (B, L, V+1) @ (V+1, d) -> (B, L, d)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Input embeddings (B, L, d) -> logits (B, L, V): positions added, encoder, norm, head."""
        h = self.encoder(h + self.pos[: h.shape[1]])  # (B, L, d)
        return self.head(self.norm(h))  # (B, L, V)
