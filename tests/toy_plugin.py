"""A user's extension of the suite, from outside ``experiments/``: one stage, one option,
one metric and one backend, each declared in one place (imported through
``UMIX_PLUGINS=toy_plugin``; ``tests/test_extending.py`` runs them through every command).
Importing it loads no model code (``status`` and ``plan`` stay light): its computation and
its figure name their functions, imported when a task runs or a report is made.

* the stage ``tensors`` counts the parameter tensors of a row's model (model-only: no
  training, no data), times ``--tensor-scale``, and draws them in the report (``tensors``);
* the option ``--tensor-scale N`` is in that stage's keys (its hash, and ``-xN``);
* the metric ``param_tensors`` is what tables list and publish of it;
* the backend ``subprocess`` runs each task as its own ``run-experiment`` process (as a
  scheduler's job would), each within its own option ``--subprocess-timeout S``, and
  remembers its "jobs" for ``status``.
"""
import json
import os
import subprocess
import sys
from typing import Dict, Sequence

from experiments.backends.base import Backend, register_backend
from experiments.core.files import atomic_write
from experiments.core.metrics import Metric, register_metric
from experiments.core.stages import Figure, StageSpec, register_stage
from experiments.planning.options import Option, register_option
from experiments.store import Store

register_stage(StageSpec('tensors', compute='toy_plugin:count_tensors', model_only=True, gpu_hours=0.01,
                         minutes={'tiny': 0.1}, key_facts=lambda options, identity: {'counter': 'named_parameters/v1'},
                         figures=(Figure('toy_plugin:tensor_bars', {'metric': 'param_tensors'}), )))


def count_tensors(task, store):
    from umixformer.complexity import build_segmentor  # the model library, loaded when it runs
    model = build_segmentor(task.base_cfg)
    tensors = sum(1 for _ in model.named_parameters())
    return {'param_tensors': tensors * task.options['tensor_scale'], 'scale': task.options['tensor_scale']}, {}, None


def tensor_bars(results, stage, metric):
    """The report's figure of the stage: ``metric`` per row, as measured."""
    import io

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from reports.contribution import Contribution
    rows = [(t.row.id, rec.metrics[metric]) for t, rec in results.stage_records(stage, done=True)]
    if not rows:
        return Contribution()
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.barh([r for r, _ in rows], [v for _, v in rows], label='measured')
    ax.set_xlabel(metric)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', metadata={'toy:bars': json.dumps(dict(rows))})  # what it drew, for the test
    plt.close(fig)
    return Contribution(figures={'tensors': buf.getvalue()})


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f'--tensor-scale takes a positive integer, got {text}')
    return value


register_option(Option('tensor_scale', 1, 'tensors: multiply the count by this', ('tensors', ), parse=_positive,
                       key_suffix=lambda value: f'-x{value}'))
register_metric(Metric('param_tensors', 'tensors', 'param_tensors', '', 'Param. tensors', False, tolerance=1.0,
                       approximate_tolerance=2.0, digits=0, summary='{} parameter tensors'))


class SubprocessBackend(Backend):
    """Each task in its own ``run-experiment`` process, one after another."""
    name = 'subprocess'

    def run(self, table, tasks, store: Store, console, report) -> int:
        queue = _queue(store)
        failed = 0
        for task in tasks:
            if store.is_done(task.key):
                continue
            job = f'sub-{len(queue) + 1}'
            log = os.path.join(store.root, 'subprocess', f'{job}.log')
            os.makedirs(os.path.dirname(log), exist_ok=True)
            timeout = self.options.settings.get('subprocess_timeout', 3600)
            with open(log, 'w') as f:
                rc = subprocess.call([sys.executable, '-m', 'experiments.cli'] + self.argv_for(task), stdout=f,
                                     stderr=subprocess.STDOUT, timeout=timeout)
            queue[task.key] = dict(job=job, log=log, state='COMPLETED' if rc == 0 else 'FAILED')
            atomic_write(os.path.join(store.root, 'subprocess', 'jobs.json'), json.dumps(queue))
            console.print(f'{job}: {task.label} exited {rc} (limit {timeout} s)')
            failed += rc != 0 or not store.is_done(task.key)
        report()
        return 1 if failed else 0

    @staticmethod
    def jobs(store: Store, keys: Sequence[str]) -> Dict[str, dict]:
        return {k: v for k, v in _queue(store).items() if k in set(keys)}


def _queue(store: Store) -> Dict[str, dict]:
    path = os.path.join(store.root, 'subprocess', 'jobs.json')
    return json.load(open(path)) if os.path.exists(path) else {}


register_backend('subprocess', 'toy_plugin:SubprocessBackend', options=(
    Option('subprocess_timeout', 3600, 'subprocess: seconds a task may take', (), commands=frozenset({'run'}),
           parse=int),
))
__all__ = ['SubprocessBackend', 'count_tensors', 'tensor_bars']
