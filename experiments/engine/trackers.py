"""Experiment trackers users already use, as mmengine's own visualisation backends.

    run-experiment run TABLE --tracker tensorboard [--tracker mlflow] [--tracker wandb]

``--tracker`` sets ``$UMIX_TRACKERS`` for the jobs it starts (local, or SLURM through
sbatch's exported environment); the training and test stages then add the backends to
the config's visualizer beside its ``LocalVisBackend``. Trackers change where numbers
are logged, never what is computed: they are not in any record key.

* tensorboard: ``TensorboardVisBackend``, event files under each run's ``vis_data/``.
* mlflow: ``MLflowVisBackend``, experiment = the table, run = the record key, tracking
  URI ``$MLFLOW_TRACKING_URI`` (a server, say) or a file store ``file://<runs>/mlruns``.
* wandb: ``WandbVisBackend``, project ``$WANDB_PROJECT`` (default umixformer), run name =
  the record key, offline unless ``$WANDB_MODE`` says otherwise (compute nodes have no
  network: ``wandb sync`` uploads later).
"""
import os
from typing import Dict, List, Sequence

from experiments.core.errors import UsageError

TRACKERS = ('tensorboard', 'mlflow', 'wandb')
ENV = 'UMIX_TRACKERS'


def requested() -> List[str]:
    """The trackers of ``$UMIX_TRACKERS`` (comma-separated), checked."""
    names = [n for n in os.environ.get(ENV, '').split(',') if n]
    unknown = sorted(set(names) - set(TRACKERS))
    if unknown:
        raise UsageError(f'${ENV} names unknown tracker(s) {unknown}; known: {", ".join(TRACKERS)}')
    return names


def set_requested(names: Sequence[str]) -> None:
    """What ``--tracker`` does: the jobs started from here log to these trackers."""
    requested_names = list(dict.fromkeys(names))
    if requested_names:
        os.environ[ENV] = ','.join(requested_names)


def backends(table: str, key: str, runs_root: str) -> List[Dict]:
    """mmengine vis backend configs of the requested trackers for one task."""
    out = []
    for name in requested():
        if name == 'tensorboard':
            out.append(dict(type='TensorboardVisBackend'))
        elif name == 'mlflow':
            uri = os.environ.get('MLFLOW_TRACKING_URI')
            if not uri:  # a local file store in the runs folder (MLflow >= 3 asks for the opt-in)
                uri = 'file://' + os.path.join(runs_root, 'mlruns')
                os.environ.setdefault('MLFLOW_ALLOW_FILE_STORE', 'true')
            out.append(dict(type='MLflowVisBackend', exp_name=table, run_name=key, tracking_uri=uri))
        elif name == 'wandb':
            out.append(dict(type='WandbVisBackend', init_kwargs=dict(
                project=os.environ.get('WANDB_PROJECT', 'umixformer'), name=key, group=table,
                mode=os.environ.get('WANDB_MODE', 'offline'), dir=os.path.join(runs_root, 'wandb'))))
    return out


def with_trackers(visualizer: Dict, table: str, key: str, runs_root: str) -> Dict:
    """The config's visualizer with the requested backends added (unchanged without any)."""
    extra = backends(table, key, runs_root)
    if not extra:
        return visualizer
    vis = dict(visualizer)
    vis['vis_backends'] = list(vis.get('vis_backends') or [dict(type='LocalVisBackend')]) + extra
    return vis
