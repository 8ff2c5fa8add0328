TASK = "tasks.images.task:ImagesTask"
