"""`molecules_cond`: the molecules task sampled from its ring-count conditional denoiser (D-CFG's network)."""
TASK = "tasks.molecules_cond.task:MoleculesCond"
