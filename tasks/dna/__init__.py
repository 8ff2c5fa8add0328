"""DNA enhancer task: real 200 bp DHS sequences, masked diffusion, cell-type / JASPAR / synthetic-activity rewards."""
TASK = "tasks.dna.task:Dna"
