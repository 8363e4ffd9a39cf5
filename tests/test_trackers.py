"""--tracker: mmengine's TensorBoard, MLflow and W&B (offline) backends beside the local
one, in the training and test stages; the same numbers as mmengine's scalars.json, and
no record key changes."""
import glob
import json
import os

import pytest

from conftest import TINY_TABLES
from experiments.cli import main
from experiments.cli.parser import parse_args
from experiments.cli.selection import select_tasks
from experiments.store import Store


@pytest.fixture(scope='module')
def tracked(tmp_path_factory):
    runs = tmp_path_factory.mktemp('tracked') / 'runs'
    old = {k: os.environ.get(k) for k in ('WANDB_MODE', 'MLFLOW_TRACKING_URI')}
    os.environ.pop('MLFLOW_TRACKING_URI', None)
    try:
        assert main(['tiny', '--tables', TINY_TABLES, '--profile', 'tiny', '--rows', 'umix-b0', '--stages',
                     'train,test', '--runs-dir', str(runs), '--tracker', 'tensorboard', '--tracker', 'mlflow',
                     '--tracker', 'wandb']) == 0
    finally:
        for k, v in old.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    recs = {r.stage: r for r in Store(str(runs)).records()}
    logged = [json.loads(line) for p in glob.glob(str(runs / recs['train'].artifacts['work_dir'] / '*' / 'vis_data' /
                                                       'scalars.json')) for line in open(p)]
    return runs, recs, sorted((d['iter'], d['loss']) for d in logged if 'loss' in d)


def test_keys_do_not_depend_on_trackers(tracked):
    runs, recs, _ = tracked
    planned = {t.key for t in select_tasks(parse_args(['plan', 'tiny', '--tables', TINY_TABLES, '--profile', 'tiny',
                                                       '--rows', 'umix-b0', '--runs-dir', str(runs)]))[4]}
    assert {r.key for r in recs.values()} <= planned


def test_tensorboard_events_hold_the_loss(tracked):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    runs, recs, loss = tracked
    (events, ) = glob.glob(str(runs / recs['train'].artifacts['work_dir'] / '*' / 'vis_data' / 'events.out.*'))
    acc = EventAccumulator(events)
    acc.Reload()
    assert [(e.step, pytest.approx(e.value, rel=1e-6)) for e in acc.Scalars('loss')] == loss


def test_mlflow_run_holds_the_loss_and_the_test_miou(tracked):
    from mlflow.tracking import MlflowClient
    runs, recs, loss = tracked
    os.environ.setdefault('MLFLOW_ALLOW_FILE_STORE', 'true')
    client = MlflowClient(tracking_uri='file://' + str(runs / 'mlruns'))
    exp = client.get_experiment_by_name('tiny')
    found = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    assert set(found) == {recs['train'].key, recs['test'].key}
    history = client.get_metric_history(found[recs['train'].key].info.run_id, 'loss')
    assert sorted((m.step, m.value) for m in history) == [(i, pytest.approx(v, rel=1e-6)) for i, v in loss]
    test_metrics = found[recs['test'].key].data.metrics
    assert test_metrics['mIoU'] == pytest.approx(recs['test'].metrics['miou'], abs=1e-6)


def test_wandb_writes_offline_runs(tracked):
    runs, recs, _ = tracked
    offline = glob.glob(str(runs / 'wandb' / 'wandb' / 'offline-run-*' / '*.wandb'))
    assert len(offline) == 2  # training and test, to `wandb sync` from a machine with network
