"""mmengine plug-ins the stages configure: hooks, the grouped optimizer, trackers, checkpoint
writing and exact resume, memory settings, the per-class metric."""
