"""The SELFIES route to molecule validity (issue 11): the same MDLM denoiser and recipe over SELFIES symbols.

A SELFIES string (Krenn et al. 2020, the ``selfies`` package) decodes to a valid molecule whatever its symbols,
so validity is no longer something the denoiser must learn. The question this experiment answers is what that
costs in the other bars (uniqueness, novelty, FCD to test): a model can be valid by construction and still far
from the data. Tokens are the SELFIES symbols of the QM9 molecules the task keeps, plus a real PAD (id 0); a
sample decodes only if its PADs form a suffix (the rule of the SMILES tokenisation, so the two are comparable).

``python -m tasks.molecules.selfies_route --out DIR [--steps N]`` trains into the run folder ``DIR`` on
``bench.train`` (resumable), samples 1000 unguided molecules at the task's default steps and writes
``DIR/selfies_route.json`` and ``DIR/training_curves_selfies.png``. It never touches the committed weights;
``--card`` then writes the finished run's numbers into the model card (markdown, outside the manifest).
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bench.train import Batcher, RunDirs, fit, masked, plot_curves, seeded, summary, val_loss_probe

log = logging.getLogger(__name__)

LENGTH = 24  # QM9's longest kept molecule is 21 SELFIES symbols


@dataclass(frozen=True)
class SelfiesVocab:
    """SELFIES symbols, PAD first; ``mask_id`` is the masked family's [MASK] (= number of real tokens)."""

    symbols: tuple[str, ...]

    @classmethod
    def of(cls, selfies_strings: list[str]) -> "SelfiesVocab":
        import selfies as sf

        return cls(("[PAD]", *sorted(sf.get_alphabet_from_selfies(selfies_strings))))

    @property
    def size(self) -> int:
        return len(self.symbols)

    @property
    def mask_id(self) -> int:
        return len(self.symbols)

    def encode(self, selfies_strings: list[str], length: int = LENGTH) -> torch.Tensor:
        """(N, length) ids; raises ValueError for a string longer than ``length`` symbols."""
        import selfies as sf

        index = {s: i for i, s in enumerate(self.symbols)}
        out = torch.zeros(len(selfies_strings), length, dtype=torch.long)  # (N, L), PAD = 0
        for i, s in enumerate(selfies_strings):
            ids = [index[t] for t in sf.split_selfies(s)]
            if len(ids) > length:
                raise ValueError(f"SELFIES longer than {length} symbols: {s}")
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, x0: torch.Tensor) -> list[str | None]:
        """Canonical SMILES per (N, L) id row; None where PAD is not a suffix or the molecule is empty."""
        import selfies as sf

        from tasks.molecules.data import canonical

        out: list[str | None] = []
        for row in x0.detach().to("cpu", torch.long).numpy():
            pads = np.nonzero(row == 0)[0]
            n = int(pads[0]) if len(pads) else len(row)
            if n == 0 or (row[n:] != 0).any() or (row >= self.size).any():
                out.append(None)
                continue
            smiles = sf.decoder("".join(self.symbols[i] for i in row[:n]))
            out.append(canonical(smiles) if smiles else None)
        return out


def corpus(smiles: list[str]) -> tuple[SelfiesVocab, torch.Tensor]:
    """The vocabulary and (N, LENGTH) ids of canonical SMILES (every QM9 molecule the task keeps encodes)."""
    import selfies as sf

    strings = [sf.encoder(s) for s in smiles]
    vocab = SelfiesVocab.of(strings)
    return vocab, vocab.encode(strings)


def sample_smiles(net: torch.nn.Module, vocab: SelfiesVocab, n: int, steps: int) -> list[str | None]:
    """n unguided samples (seed 0) decoded to canonical SMILES (None where invalid)."""
    from bench.diffusion.ancestral import sample_unguided
    from bench.diffusion.masked import MaskedFamily

    return vocab.decode(sample_unguided(MaskedFamily(net, LENGTH, vocab.size), n, steps, seed=0).cpu())  # (n, L)


def run(out: Path, steps: int, seed: int = 0, quick: bool = False, device: str = "cpu") -> dict:
    """Train the SELFIES denoiser into ``out`` and measure it (see the module docstring)."""
    from tasks.molecules import chem, data, models
    from tasks.molecules.card import DEFAULT_STEPS
    from tasks.molecules.net import SmilesDenoiser
    from tasks.molecules.pretrain import BASE_CONFIG, DENOISER, SEEDS, prepare

    torch.set_num_threads(1)
    smiles, _, sp = prepare(quick)
    vocab, x = corpus(smiles)  # (N, L)
    cfg = DENOISER.with_(seed=seed + SEEDS["denoiser"], device=device, steps=steps,
                         **({"warmup": 1, "log_every": 1} if quick else {}))
    with seeded(cfg.seed):
        net = SmilesDenoiser(vocab.size, LENGTH, **BASE_CONFIG)
    loss = masked(vocab.mask_id)
    n_probe, n_final = (8, 16) if quick else (128, 1000)
    train_set = {smiles[i] for i in sp["train"]}
    probe_steps = 16 if quick else DEFAULT_STEPS
    extra = lambda net, step: {  # noqa: E731  (validity only: the probe needs no fingerprints)
        "q_validity": sum(s is not None for s in sample_smiles(net, vocab, n_probe, probe_steps)) / n_probe}
    probe = val_loss_probe(loss, (x[sp["val"]][: 256 if quick else 2048],), extra=extra)
    runs = RunDirs(Path(out))
    res = fit("selfies_denoiser", net, loss, Batcher((x[sp["train"]],), cfg.batch), cfg,
              runs.train("selfies_denoiser"), probe)
    t0 = time.time()
    fcd = None if quick else models.load_models(data.WEIGHTS_DIR).fcd  # ChemNet statistics of the test split
    q = chem.set_quality(sample_smiles(res.net.cpu(), vocab, n_final, probe_steps), train_set, fcd)
    report = {"train": summary(res, cfg), "val_elbo": res.last("val_loss"), "n": n_final,
              "steps": DEFAULT_STEPS, "quality": q, "measure_wall_s": time.time() - t0, "vocab": list(vocab.symbols),
              "quick": quick}
    (runs.root / "selfies_route.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_curves({"selfies_denoiser": res}, runs.root / "training_curves_selfies.png")
    return report


CARD_BEGIN, CARD_END = "<!-- selfies-route: written by tasks/molecules/selfies_route.py -->", "<!-- /selfies-route -->"
FIGURE = Path("docs/figures/molecules_selfies_curves.png")  # beside the card, outside the manifest's folder
BARS = {"validity": 0.90, "uniqueness": 0.95, "novelty": 0.50, "fcd": 1.0}  # issue 11; FCD is an upper bound


def real_reference(weights: Path, n: int = 1000, seed: int = 0) -> dict[str, float]:
    """The data row: n train molecules (a fixed draw) scored like samples; novelty is 0 by construction."""
    from tasks.molecules import chem, data, models

    m = models.load_models(weights)
    train = data.read_smiles_gz(Path(weights) / models.TRAIN_SMILES)
    pick = [train[i] for i in np.random.default_rng(seed).choice(len(train), n, replace=False)]
    return chem.set_quality(pick, m.train_smiles, m.fcd)


def card_section(report: dict, smiles: dict, real: dict) -> str:
    """The card's section: the bars, the SMILES model, the SELFIES route and real data side by side."""
    keys = ["validity", "uniqueness", "novelty", "diversity", "fcd"]
    row = lambda name, q: f"| {name} | " + " | ".join(f"{q.get(k, float('nan')):.3f}" for k in keys) + " |"  # noqa
    bar = "| bar | " + " | ".join(f"{'<=' if k == 'fcd' else '>='} {BARS[k]:.2f}" if k in BARS else "-"
                                   for k in keys) + " |"
    tr, sq = report["train"], report["quality"]
    met = lambda q: [k for k in BARS if (q[k] <= BARS[k] if k == "fcd" else q[k] >= BARS[k])]  # noqa: E731
    closer = "closer to" if sq["fcd"] < smiles["fcd"] else "further from"
    reading = (f"SELFIES meets {len(met(sq))} of the {len(BARS)} bars ({', '.join(met(sq)) or 'none'}), SMILES "
               f"{len(met(smiles))} ({', '.join(met(smiles)) or 'none'}); its FCD ({sq['fcd']:.2f} against "
               f"{smiles['fcd']:.2f}) is {closer} the data"
               + (": its validity is not a better fit of the distribution." if closer[0] == "f" else "."))
    return f"""{CARD_BEGIN}
## Quality bars (issue 11) and the SELFIES route

1000 unguided samples at {report['steps']} steps, seed 0; uniqueness of the valid, novelty of the unique valid
against the train split; FCD against the test split's ChemNet statistics. The data row is 1000 train molecules.

| model | {' | '.join(keys)} |
|---|{'---|' * len(keys)}
{bar}
{row("SMILES `denoiser.pt` (committed)", smiles)}
{row(f"SELFIES, {tr['steps']:,} steps ({tr['wall_s'] / 60:.0f} min, 1 thread)", report['quality'])}
{row("real (train molecules)", real)}

{reading}

The SELFIES route (`python -m tasks.molecules.selfies_route --out DIR --steps N`) trains the same network and
recipe over {len(report['vocab'])} SELFIES tokens (length {LENGTH}, PAD must be a suffix as for SMILES) on
`bench.train`; its curves (val ELBO and the validity of 128 samples) are `{FIGURE.as_posix()}`. Its weights are not
committed and no task samples it: switching the benchmark's tokenisation changes every molecules record.
{CARD_END}
"""


def write_section(run_dir: Path, weights: Path) -> None:
    """Write the section into ``weights/MODEL_CARD.md`` (markdown only: the manifest is untouched) and copy the
    run's curves to ``FIGURE``."""
    import shutil

    from bench.weights import put_card_section

    report = json.loads((Path(run_dir) / "selfies_route.json").read_text())
    if report.get("quick"):
        raise ValueError(f"{run_dir} is a --quick run: its numbers are not the route's")
    smiles = json.loads((Path(weights) / "pretrain_info.json").read_text())["quality"]
    put_card_section(Path(weights) / "MODEL_CARD.md", CARD_BEGIN, CARD_END,
                     card_section(report, smiles, real_reference(weights)))
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(run_dir) / "training_curves_selfies.png", FIGURE)


def main() -> None:
    """CLI (see the module docstring)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="run folder (an existing one resumes)")
    ap.add_argument("--steps", type=int, default=8000, help="training steps (the SMILES denoiser's recipe otherwise)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true", help="3,000 molecules, a few steps (smoke test)")
    ap.add_argument("--card", action="store_true",
                    help="only write the finished run's section into the committed model card (and its figure)")
    args = ap.parse_args()
    if args.steps < 1:
        ap.error(f"--steps must be a positive integer, got {args.steps}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.card:
        from tasks.molecules.data import WEIGHTS_DIR
        write_section(args.out, WEIGHTS_DIR)
        return
    print(json.dumps(run(args.out, args.steps, args.seed, args.quick, args.device)["quality"], indent=2))


if __name__ == "__main__":
    main()
