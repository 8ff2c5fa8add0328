"""`math`: PerturbArith, a CPU-scale MATH-Perturb analogue (see /work/shared/specs/perturbarith.md).

Six procedurally generated families (LIN, ABS, SUM, MODPOW, RATE, MINSQ) with Original / Simple / Hard variants
paired by ``problem_id``; the committed splits live in ``data/``. Modules: ``tokens`` (vocabulary and the fixed
prompt / answer layout), ``generator`` (splits, assertions, manifest), ``stream`` (on-the-fly training data with the
``hard_exposure`` / ``contamination`` knobs), ``rewards`` (r_exact oracle, r_check and r_step proxies, shortcut
detection), ``metrics`` (per-split accuracy, Drop_H, Gap_SH, GC, shortcut and proxy-hacking rates, pass@k).
The task class is ``task.MathTask`` (``task.py``); the base model is ``net`` / ``models`` / ``pretrain`` / ``card``.
"""

TASK = "tasks.math.task:MathTask"
