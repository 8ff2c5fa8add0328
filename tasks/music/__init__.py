TASK = "tasks.music.task:MusicTask"
