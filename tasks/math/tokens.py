"""PerturbArith tokens: the small vocabulary and the fixed prompt / answer layout.

Text is tokenised character-level for digits and operators, with single tokens for keywords (``SUM``, ``STEP``,
``COUNT``, ``MOD``, ``min``, ``x``) and the controlled RATE words. A sequence has the fixed length ``L``:

    positions [0, P)   prompt: PAD… Q <problem> A   (right-aligned, so A is always at P−1; never masked)
    positions [P, L)   answer: <step>;<step>;…#<answer> PAD…   (the region a sampler fills)

Every instance has the same free positions [P, L), so one prompt mask serves a whole batch. ``PAD`` is a real
token (id 0); the masked family's [MASK] is ``MASK_ID = V`` (outside the vocabulary). ``decode`` never raises:
malformed rows (out-of-range ids, a broken layout) come back with ``ok=False``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # torch is imported lazily: the generator and the data files do not need it
    import torch

L = 64  # sequence length
P = 16  # prompt region width (Q … A)
ANSWER_LEN = L - P

PAD = "<pad>"
NAMES = ("ANA", "BEN", "CAL", "DIA", "EVE", "FAY")
WORDS = ("MOD", "SUM", "STEP", "COUNT", "min", "x", "has", "buys", "gives", "packs", "of") + NAMES
SYMBOLS = ("+", "-", "*", "/", "=", ";", "#", "(", ")", "|", "^", ",", "..", "?")
DIGITS = tuple("0123456789")
VOCAB: tuple[str, ...] = (PAD, "Q", "A") + DIGITS + SYMBOLS + WORDS
V = len(VOCAB)
MASK_ID = V
TOKEN_ID = {tok: i for i, tok in enumerate(VOCAB)}
PAD_ID, Q_ID, A_ID = TOKEN_ID[PAD], TOKEN_ID["Q"], TOKEN_ID["A"]
HASH_ID, SEMI_ID = TOKEN_ID["#"], TOKEN_ID[";"]

_TOKEN_RE = re.compile(r"\s*(\.\.|[A-Za-z]+|\d|[+\-*/=;#()|^,?])")
_SPACED = set(WORDS) | set(DIGITS) | {"?"}  # two adjacent spaced tokens get one space if either is a word


class TokenError(ValueError):
    """Text that is not in the vocabulary, or a problem / solution too long for the layout."""


def tokenize(text: str) -> list[str]:
    """Tokens of ``text``; raises TokenError on characters or words outside the vocabulary."""
    return list(_tokenize(text))


@lru_cache(maxsize=1 << 16)
def _tokenize(text: str) -> tuple[str, ...]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None or m.group(1) not in TOKEN_ID:
            raise TokenError(f"cannot tokenise {text!r} at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return tuple(out)


def detokenize(tokens: Sequence[str]) -> str:
    """Canonical text: a space only between two adjacent word/digit tokens where at least one is a word."""
    out = []
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else None
        if prev in _SPACED and tok in _SPACED and (prev not in DIGITS or tok not in DIGITS):
            out.append(" ")
        out.append(tok)
    return "".join(out)


def n_tokens(text: str) -> int:
    """Number of tokens of ``text``."""
    return len(tokenize(text))


def encode_prompt(problem: str) -> list[int]:
    """The P prompt ids: PAD… Q <problem> A."""
    toks = tokenize(problem)
    if len(toks) + 2 > P:
        raise TokenError(f"problem {problem!r} has {len(toks)} tokens; the prompt region holds {P - 2}")
    return [PAD_ID] * (P - 2 - len(toks)) + [Q_ID] + [TOKEN_ID[t] for t in toks] + [A_ID]


def encode(problem: str, solution: str | None = None) -> list[int]:
    """The L ids of one sequence; the answer region is the solution + PAD, or all [MASK] when solution is None."""
    ids = encode_prompt(problem)
    if solution is None:
        return ids + [MASK_ID] * ANSWER_LEN
    toks = tokenize(solution)
    if len(toks) > ANSWER_LEN:
        raise TokenError(f"solution {solution!r} has {len(toks)} tokens; the answer region holds {ANSWER_LEN}")
    return ids + [TOKEN_ID[t] for t in toks] + [PAD_ID] * (ANSWER_LEN - len(toks))


def encode_batch(problems: Sequence[str], solutions: Sequence[str] | None = None) -> torch.Tensor:
    """(N, L) long: full sequences, or prompts with a masked answer region when ``solutions`` is None."""
    import torch

    sols = solutions if solutions is not None else [None] * len(problems)
    return torch.tensor([encode(p, s) for p, s in zip(problems, sols)], dtype=torch.long)  # (N, L)


def prompt_mask() -> torch.Tensor:
    """(L,) bool: True on the fixed prompt positions [0, P)."""
    import torch

    return torch.arange(L) < P


@dataclass(frozen=True)
class Decoded:
    """One decoded row. ``problem``/``solution`` are canonical text (``solution`` None while any answer token is
    masked); ``ok`` is False for out-of-range ids, a broken prompt, or PAD inside the solution."""

    problem: str | None
    solution: str | None
    masked: int  # number of [MASK] tokens in the answer region
    ok: bool


def _prompt_text(ids: Sequence[int]) -> str | None:
    """The problem text of P prompt ids, or None when the layout PAD… Q … A is broken."""
    k = 0
    while k < len(ids) and ids[k] == PAD_ID:
        k += 1
    body = ids[k:]
    if len(body) < 3 or body[0] != Q_ID or body[-1] != A_ID or any(i >= V for i in body):
        return None
    inner = body[1:-1]
    if any(i in (PAD_ID, Q_ID, A_ID) for i in inner):
        return None
    return detokenize([VOCAB[i] for i in inner])


def answer_tokens(ids: Sequence[int]) -> list[str | None]:
    """Answer-region tokens with None for [MASK] (and for out-of-range ids, shown as None too)."""
    return [VOCAB[i] if 0 <= i < V else None for i in ids[P:]]


def decode(ids: Sequence[int]) -> Decoded:
    """Decode one row of L ids; never raises."""
    ids = [int(i) for i in ids]
    if len(ids) != L or any(i < 0 or i > MASK_ID for i in ids):
        return Decoded(None, None, 0, False)
    problem = _prompt_text(ids[:P])
    ans = ids[P:]
    masked = sum(i == MASK_ID for i in ans)
    n = len(ans)
    while n and ans[n - 1] == PAD_ID:
        n -= 1
    body = ans[:n]
    ok = problem is not None and PAD_ID not in body and not any(i in (Q_ID, A_ID) for i in body)
    solution = detokenize([VOCAB[i] for i in body]) if masked == 0 and ok else None
    return Decoded(problem, solution, masked, ok)


def render(ids: Sequence[int]) -> str:
    """Human-readable row: tokens joined, [MASK] as '_', PAD dropped; for logs and figures."""
    toks = [VOCAB[i] if 0 <= i < V else "_" for i in (int(j) for j in ids) if i != PAD_ID]
    return detokenize(toks)
