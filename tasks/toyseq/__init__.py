TASK = "tasks.toyseq.task:ToySeqTask"
