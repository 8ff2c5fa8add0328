TASK = "tasks.gmm.task:GMMTask"
