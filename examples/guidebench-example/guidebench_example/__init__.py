"""An example guidebench plugin: the task ``gmm1d`` and the method ``sir`` (entry points in pyproject.toml)."""
