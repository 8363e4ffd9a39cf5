"""The job process: running one task into its record (executor), a SLURM task's exit
status and requeue (job), the process group of a multi-GPU row (distributed)."""
