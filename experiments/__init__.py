"""The suite: the paper's tables as data, planned into records, computed, compared.

Packages by concept, in layers; each imports only the layers below it (and the model
library ``umixformer``, below them all, over its torch-free half ``umixformer_config``:
configs and input sizes, all that the read side needs of it), which ``tests/test_layering.py`` checks:

* ``core``: facts every layer shares: the stages (``StageSpec``), the record-key grammar,
  the metric catalogue, the ``UMIX_*`` variables, device identity, atomic files,
  provenance, signals, errors, the console;
* ``store``: records, the store, leases;
* ``data``: dataset roots (layouts, the built-in data, preparation from the archives,
  checks), evaluation pipelines, corruptions and Cityscapes-C;
* ``registry``: the tables and their rows, tolerances, profiles, pretrained weights;
* ``planning``: the option table -> tasks with record keys; the commands that reproduce them;
* ``engine``: the job side: the computations (``compute``), mmengine plug-ins
  (``plugins``), the process that runs a task (``process``);
* ``backends``: where tasks run (local; SLURM in the top-level ``slurm`` package) and
  what ``status`` says of them;
* then ``analysis`` (a table's results as cells, frames and verdicts), ``reports`` (HTML, LaTeX, plots) and, on top,
  ``cli`` (``run-experiment``), a thin layer of one module per command.
"""
# lowest first; packages on one level do not import each other
LAYERS = (
    ('umixformer_config', ),
    ('umixformer', ),
    ('experiments.core', ),
    ('experiments.store', ),
    ('experiments.data', ),
    ('experiments.registry', ),
    ('experiments.planning', ),
    ('experiments.engine', ),
    ('experiments.backends', ),
    ('slurm', 'analysis'),
    ('reports', ),
    ('experiments.cli', ),
)
