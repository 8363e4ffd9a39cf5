"""The SLURM backend, apart from the suite's core: ``profile`` (the cluster profile),
``cluster`` (what the scheduler is asked), ``submission`` (the submit side: sbatch array
scripts, dependencies) and ``backend`` (the ``--backend slurm`` class). The job side is
``python -m experiments.cli exec-task`` (``experiments.engine.process.job``)."""
