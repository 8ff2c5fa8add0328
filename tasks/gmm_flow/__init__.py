"""`gmm_flow`: the gmm toy under the linear flow path (the flow family's exact twin of `gmm`)."""
TASK = "tasks.gmm_flow.task:GMMFlowTask"
