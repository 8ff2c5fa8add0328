"""`best-of-n` — best-of-N (standard baseline; TFG `bon_rate`, FK `potential_type='bon'`).

Update rule (methods.md §6): draw x0^(1..N) independently with `none`; return argmax_i r(x0^(i)), selected by the
proxy reward (scored later by the oracle). Engine form: A = N, K = 1, selection only at the end.
Cost: N·T·F + N·R (N = 1: no selection, no reward call). Budget b → the largest N with cost <= b·T
forward-equivalents.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from bench.search import SearchMethod, SearchSpec


@dataclass(frozen=True)
class Config:
    N: int = 4  # independent unguided samples per returned sample


class BestOfN(SearchMethod):
    key = "best-of-n"
    version = "2"
    paper = "best-of-N baseline"
    Config = Config

    def spec(self, cfg: Config) -> SearchSpec:
        return SearchSpec(A=cfg.N, K=1)

    def widen(self, cfg: Config, w: int) -> Config:
        return replace(cfg, N=w)


METHOD = BestOfN()
