"""The job side: what runs a task, in three concepts.

* ``compute``: the computations: ``compute.stages`` (the functions the stage specs name),
  ``latency``, ``released`` (released checkpoints), ``predict``, ``export`` (ONNX), ``calibrate``;
* ``plugins``: the mmengine plug-ins those configure: ``hooks`` (preemption, exact resume),
  ``resume`` (``PositionedRunner``), ``optimizer`` (``GroupedAdamW``), ``checkpoints``
  (atomic writing, ``compare_keys``), ``trackers``, ``per_class`` (``PerClassIoUMetric``),
  ``qualitative`` (``KeepPredictionsHook``), ``corruption`` (``CityscapesCCorruption``), ``allocator``
  (memory settings);
* ``process``: the process that runs one task: ``executor`` (``run_task``, ``LeaseHeld``),
  ``job`` (a SLURM task's exit status), ``distributed`` (a multi-GPU row's process group).

Nothing is imported here: importing a concept loads torch and mmseg only where needed."""
