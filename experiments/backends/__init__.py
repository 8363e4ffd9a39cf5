"""Where tasks run: ``Backend``, ``BackendOptions``, ``register_backend``, ``backend_names``,
``get_backend`` (``base``); the local backend (``local``: ``LocalBackend``, ``run_local``);
what ``status`` says of each task (``status``: ``task_statuses``). SLURM is the top-level
``slurm`` package, registered in ``base`` by module path."""
