"""`images_flow`: the images task on the flow twin (a velocity UNet on the linear path; same data, oracle, rewards)."""
TASK = "tasks.images_flow.task:ImagesFlowTask"
