"""DNA enhancer task (groundwork): real 200 bp DHS sequences, JASPAR motif scoring, a synthetic MPRA function.

Not registered yet (no ``TASK`` line): the base model and the task class come on the shared training stack.
"""
