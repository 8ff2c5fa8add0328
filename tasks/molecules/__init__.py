TASK = "tasks.molecules.task:Molecules"
