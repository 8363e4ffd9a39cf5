"""Experiment trackers users already use, as mmengine's own visualisation backends.

    run-experiment run TABLE --tracker tensorboard [--tracker mlflow] [--tracker wandb]

``--tracker`` is a runtime option (``experiments.planning.options``): it travels with each
task (``Task.runtime``) and its command, which is what a SLURM job runs; the training and
test stages then add the backends to the config's visualizer beside its
``LocalVisBackend``. Trackers change where numbers are logged, never what is computed:
they are in no record key and no record's settings.

* tensorboard: ``TensorboardVisBackend``, event files under each run's ``vis_data/``.
* mlflow: ``MLflowVisBackend``, experiment = the table, run = the record key, tracking
  URI ``$MLFLOW_TRACKING_URI`` (a server, say) or a file store ``file://<runs>/mlruns``.
* wandb: ``WandbVisBackend``, project ``$WANDB_PROJECT`` (default umixformer), run name =
  the record key, offline unless ``$WANDB_MODE`` says otherwise (compute nodes have no
  network: ``wandb sync`` uploads later).
"""
import os
from typing import Dict, List, Sequence


def backends(names: Sequence[str], table: str, key: str, runs_root: str) -> List[Dict]:
    """mmengine vis backend configs of these trackers for one task."""
    out = []
    for name in names:
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


def with_trackers(visualizer: Dict, names: Sequence[str], table: str, key: str, runs_root: str) -> Dict:
    """The config's visualizer with these trackers' backends added (unchanged without any)."""
    extra = backends(names, table, key, runs_root)
    if not extra:
        return visualizer
    vis = dict(visualizer)
    vis['vis_backends'] = list(vis.get('vis_backends') or [dict(type='LocalVisBackend')]) + extra
    return vis
