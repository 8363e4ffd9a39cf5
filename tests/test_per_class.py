"""Per-class IoU in the test record (the numbers mmseg's logged class table shows) and
training curves read from mmengine's scalar logs."""
import math
import os
import re

import pytest

from experiments.store import Store


def _records(runs):
    recs = {r.stage: r for r in Store(str(runs)).records()}
    return recs['train'], recs['test']


def test_test_record_holds_the_logged_per_class_iou(tiny_trained):
    runs, _ = tiny_trained
    _, test = _records(runs)
    per_class = test.metrics['per_class_iou']
    from mmseg.datasets import ADE20KDataset
    assert sorted(per_class) == sorted(ADE20KDataset.METAINFO['classes'])
    present = [v for v in per_class.values() if v is not None]
    assert present and all(0 <= v <= 100 for v in present)
    assert sum(present) / len(present) == pytest.approx(test.metrics['miou'], abs=0.01)
    # the same numbers as the class table mmseg printed into the task's log
    log = open(Store(str(runs)).abs(test.log)).read()
    for name in ('wall', 'building', 'sky'):
        m = re.search(rf'\|\s+{name}\s+\|\s+([\d.]+|nan)\s+\|', log)
        logged = float(m[1])
        assert (per_class[name] is None and math.isnan(logged)) or per_class[name] == logged


def test_per_class_chart_table_and_latex(tmp_path):
    """U-MixFormer vs SegFormer and vs FeedFormer at MiT-B0: the sorted per-class
    differences (averaged over the seeds both have) drawn, listed and compiled."""
    import base64
    import subprocess
    from conftest import require_tool
    from experiments.registry.tables import get_table
    from reports.plots import drawn
    from analysis.results import read_results
    from reports.render import render_table
    from test_verdicts import fabricate
    table = get_table('table1')
    ids = ('umixformer_mit-b0_ade20k', 'segformer_mit-b0_ade20k', 'feedformer_mit-b0_ade20k')
    rows = [table.row(i) for i in ids]
    iou = {'umixformer_mit-b0_ade20k': {'wall': 70.0, 'sky': 90.0, 'car': 50.0, 'tree': None},
           'segformer_mit-b0_ade20k': {'wall': 72.0, 'sky': 85.0, 'car': 40.0, 'tree': 60.0},
           'feedformer_mit-b0_ade20k': {'wall': 69.0, 'sky': 91.0, 'car': 45.0, 'tree': 61.0}}

    def metrics(t):
        if t.stage != 'test':
            return {'iters': 1} if t.stage == 'train' else None
        shift = 1.0 if t.seed == 1 else 0.0  # two seeds: the means are compared
        per = {k: (v + shift if v is not None else None) for k, v in iou[t.row.id].items()}
        return {'miou': 50.0, 'per_class_iou': per}
    store = Store(str(tmp_path / 'runs'))
    tasks = fabricate(store, table, rows, metrics, [0, 1])
    out = render_table(read_results(table, tasks, store, 'paper'), str(tmp_path / 'out'), formats=['html', 'latex'])
    html = open(out['html']).read()
    assert 'Per-class IoU: U-MixFormer vs SegFormer (MiT-B0, ade20k)' in html
    # tree is absent from a U-MixFormer run: not compared; car +10 is the largest gain, wall -2 the loss
    assert '<td class="text">car</td><td>50.50</td><td>40.50</td><td>+10.00</td>' in html
    assert '<td class="text">wall</td><td>70.50</td><td>72.50</td><td>-2.00</td>' in html and '>tree<' not in html
    images = dict(re.findall(r'<img alt="([\w-]+)" src="data:image/png;base64,([^"]+)"', html))
    bars = [s for s in drawn(base64.b64decode(images['per-class-umixformer_mit-b0_ade20k-vs-segformer_mit-b0_ade20k']))
            if s['label'] == 'bar']
    assert [b['x'][1] for b in bars] == [10.0, 5.0, -2.0]  # sorted: car, sky, wall
    assert 'per-class-umixformer_mit-b0_ade20k-vs-feedformer_mit-b0_ade20k' in images
    tex = open(out['latex']).read()
    assert 'car & 50.50 & 40.50 & +10.00' in tex
    pdflatex = require_tool('pdflatex', 'LaTeX report test')
    folder = tmp_path / 'out'
    proc = subprocess.run([pdflatex, '-interaction=nonstopmode', '-halt-on-error', 'table1.standalone.tex'],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_training_curves_are_the_logged_scalars(tiny_trained, tmp_path):
    import base64
    import json
    import glob
    import shutil
    from experiments.cli import main
    from reports.plots import drawn
    from conftest import TINY_TABLES
    runs, data = tiny_trained
    copy = tmp_path / 'runs'
    shutil.copytree(runs, copy)
    assert main(['report', 'tiny', '--tables', TINY_TABLES, '--profile', 'tiny', '--runs-dir', str(copy),
                 '--format', 'html', '--data-root', f'ade20k={data}']) == 0
    html = open(copy / 'reports' / 'tiny' / 'tiny.html').read()
    images = dict(re.findall(r'<img alt="([\w-]+)" src="data:image/png;base64,([^"]+)"', html))
    series = {s['label']: s for s in drawn(base64.b64decode(images['curves-umix-b0']))}
    train, _ = _records(copy)
    logged = [json.loads(line) for path in glob.glob(str(copy / train.artifacts['work_dir'] / '*' / 'vis_data' /
                                                          'scalars.json')) for line in open(path)]
    points = sorted((d['iter'], d['loss']) for d in logged if 'loss' in d)
    assert list(zip(series['seed 0 loss']['x'], series['seed 0 loss']['y'])) == points and points[-1][0] == 60
    # the validation mmengine's loop runs at the last iteration: mIoU at step 60
    val = [(d['step'], d['mIoU']) for d in logged if 'mIoU' in d]
    assert list(zip(series['seed 0 val mIoU']['x'], series['seed 0 val mIoU']['y'])) == val and val[0][0] == 60


def test_qualitative_figure_shows_the_stored_predictions(tiny_trained, tmp_path):
    """Image, ground truth and each row's stored prediction, drawn by SegLocalVisualizer:
    the pixels under each panel are the visualizer's drawing of the stored class map; a
    row whose test failed is a grey panel saying so; the LaTeX figure compiles."""
    import base64
    import shutil
    import subprocess
    import cv2
    import numpy as np
    from conftest import TINY_TABLES, require_tool
    from experiments.cli import main
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import select_tasks
    from experiments.data.samples import choose, prediction_name
    from reports.qualitative import draw, panels
    runs, data = tiny_trained
    copy = tmp_path / 'runs'
    shutil.copytree(runs, copy)
    _, test = _records(copy)
    kept = sorted(os.listdir(copy / test.artifacts['predictions']))
    assert kept == sorted(prediction_name(i) for i in choose('ade20k', data, 4, 0)) and len(kept) == 4
    # a second row of the same encoder, without its test: shown as missing
    tables = tmp_path / 'tables'
    tables.mkdir()
    (tables / 'tiny.toml').write_text(open(os.path.join(TINY_TABLES, 'tiny.toml')).read() + '''
[[rows]]
id = "segformer-b0"
method = "SegFormer"
encoder = "MiT-B0"
dataset = "ade20k"
config = "segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py"
published = { miou = 37.4 }
''')
    args = ['--tables', str(tables), '--profile', 'tiny', '--runs-dir', str(copy), '--data-root', f'ade20k={data}']
    from experiments.store import Record
    seg_test = next(t for t in select_tasks(parse_args(['plan', 'tiny', '--rows', 'segformer-b0'] + args))[4]
                    if t.stage == 'test')
    Store(str(copy)).put(Record(key=seg_test.key, stage='test', status='failed', config=seg_test.row.config,
                                config_hash=seg_test.config_hash, profile='tiny', seed=0, dataset='ade20k',
                                rows=list(seg_test.rows), error='RuntimeError: made by the test'))
    assert main(['report', 'tiny', '--format', 'html,latex'] + args) == 0
    html = open(copy / 'reports' / 'tiny' / 'tiny.html').read()
    images = dict(re.findall(r'<img alt="([\w-]+)" src="data:image/png;base64,([^"]+)"', html))
    name = next(k for k in images if k.startswith('qualitative-ade20k'))
    png = base64.b64decode(images[name])
    meta = panels(png)
    grid = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    shown = [p for p in meta['panels'] if p['prediction']]
    assert len(shown) == 4 and meta['columns'][:2] == ['image', 'ground truth']
    for p in shown:
        image = cv2.imread(os.path.join(data, 'images', 'validation', p['image']))[..., ::-1].copy()
        expect = draw(image, cv2.imread(p['prediction'], cv2.IMREAD_UNCHANGED), 'ade20k')[::p['stride'], ::p['stride']]
        assert np.array_equal(grid[p['y']:p['y'] + p['h'], p['x']:p['x'] + p['w']], expect)
    missing = [p for p in meta['panels'] if p['column'] not in ('image', 'ground truth', 'umix-b0')]
    assert meta['columns'] == ['image', 'ground truth', 'umix-b0', 'segformer-b0']  # fcn: another encoder
    assert len(missing) == 4 and all(p['prediction'] is None for p in missing)
    crop = grid[missing[0]['y']:missing[0]['y'] + missing[0]['h'], missing[0]['x']:missing[0]['x'] + missing[0]['w']]
    assert (crop == 128).mean() > 0.9  # grey, with its text
    tex = open(copy / 'reports' / 'tiny' / 'tiny.tex').read()
    assert '\\includegraphics' in tex and 'Qualitative results, ade20k' in tex
    pdflatex = require_tool('pdflatex', 'LaTeX report test')
    proc = subprocess.run([pdflatex, '-interaction=nonstopmode', '-halt-on-error', 'tiny.standalone.tex'],
                          cwd=copy / 'reports' / 'tiny', capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:]


@pytest.mark.parametrize('dataset', ['ade20k', 'cityscapes'])
def test_panels_are_drawn_as_seglocalvisualizer_draws_them(dataset):
    """The report draws a class map without mmseg (no torch on a login node): the same
    classes and palette as mmseg's dataset class, and the same pixels as its visualizer,
    labels past the palette (255) included."""
    import numpy as np
    import torch
    from mmengine.structures import PixelData
    from mmseg.datasets import ADE20KDataset, CityscapesDataset
    from mmseg.structures import SegDataSample
    from mmseg.visualization import SegLocalVisualizer
    from experiments.data.samples import dataset_meta
    from reports.qualitative import draw
    meta = (ADE20KDataset if dataset == 'ade20k' else CityscapesDataset).METAINFO
    classes, palette = dataset_meta(dataset)
    assert classes == tuple(meta['classes']) and palette == [list(c) for c in meta['palette']]
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (67, 91, 3), dtype=np.uint8)
    class_map = rng.integers(0, len(classes) + 3, (67, 91)).astype(np.uint8)
    class_map[0, :5] = 255
    vis = SegLocalVisualizer.get_instance(f'test-panel-{dataset}', alpha=0.5)
    vis.set_dataset_meta(classes=classes, palette=palette, dataset_name=dataset)
    sample = SegDataSample()
    sample.pred_sem_seg = PixelData(data=torch.from_numpy(class_map.astype(np.int64))[None])
    vis.add_datasample('panel', image, sample, draw_gt=False, draw_pred=True, show=False, with_labels=False)
    assert np.array_equal(draw(image, class_map, dataset), vis.get_image())
