"""The paper's qualitative figure: for each encoder and dataset of a table, rows = the
chosen validation images (``experiments.data.samples``), columns = the image, its ground
truth, and each compared row's prediction, drawn by mmseg's ``SegLocalVisualizer``
with the dataset's palette. A prediction that was not kept is drawn as a grey panel
saying so, never as an empty image. The panels are pasted unresized (a large image
is subsampled by an integer stride), and the PNG records where each panel lies and
what it shows (``umixformer:panels``), so a figure can be checked pixel by pixel.
"""
import io
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from analysis.results import TableResults
from experiments.data.cityscapes_c import corrupted
from experiments.data.corruptions import CORRUPTIONS
from experiments.data.datasets import LAYOUTS
from experiments.data.samples import PICTURE_SEVERITY, choose, dataset_meta, overlay, prediction_name
from experiments.planning.tasks import Task
from experiments.registry.profiles import get_profile
from experiments.store import DONE, Record
from reports.contribution import Contribution

PANELS = 'umixformer:panels'
MAX_WIDTH = 400  # px per panel at most: larger images are subsampled by an integer stride
GAP = 4
HEADER = 20  # px: the column names


def ground_truth(dataset: str, label_path: str) -> np.ndarray:
    """The label as the model's classes index it (ADE20K: zero_label reduced, 0 -> 255)."""
    label = cv2.imread(label_path, cv2.IMREAD_UNCHANGED)
    if dataset == 'ade20k':
        label = label.astype(np.int16) - 1
        label[label < 0] = 255
    return label.astype(np.uint8)


def draw(image_rgb: np.ndarray, class_map: np.ndarray, dataset: str) -> np.ndarray:
    """One panel: the class map over the image, as SegLocalVisualizer draws it without text
    labels (``experiments.data.samples.overlay``: no torch, no mmseg)."""
    return overlay(image_rgb, class_map, dataset_meta(dataset)[1])


def _missing(h: int, w: int, text: str) -> np.ndarray:
    panel = np.full((h, w, 3), 128, np.uint8)
    for i, line in enumerate(text.split('\n')):
        cv2.putText(panel, line, (6, 18 + 16 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return panel


def _groups(results: TableResults, stage: str) -> Dict[Tuple[str, str], List[Tuple[Task, Record]]]:
    """(dataset, encoder) -> each row's task of ``stage`` and its record (seed 0, else the
    lowest, per row; rows never run left out)."""
    out: Dict[Tuple[str, str], Dict[str, Tuple[Task, Record]]] = {}
    for t, rec in sorted(((t, r) for t, r in results.stage_records(stage) if t.data_root and r is not None),
                         key=lambda p: (p[0].seed is None, p[0].seed or 0)):
        out.setdefault((t.row.dataset, t.row.encoder), {}).setdefault(t.row.id, (t, rec))
    return {k: list(v.values()) for k, v in out.items()}


def figure(dataset: str, encoder: str, tests: Sequence[Tuple[Task, Record]], results: TableResults) -> Optional[bytes]:
    """The grid PNG for one dataset and encoder (``tests``: each row's test task and its
    record), or None when no image can be shown."""
    root = tests[0][0].data_root
    layout = LAYOUTS[dataset]
    profile = get_profile(tests[0][0].profile)
    images = choose(dataset, root, profile.qualitative_images, profile.qualitative_seed)
    if not images:
        return None
    img_dir, seg_dir = (os.path.join(root, d) for d in layout.splits['val'])
    rows = []
    for name in images:
        stem = name[:-len(layout.img_suffix)]
        image = cv2.imread(os.path.join(img_dir, name))[..., ::-1].copy()
        h, w = image.shape[:2]
        cells = [('image', None, image),
                 ('ground truth', None, draw(image, ground_truth(dataset, os.path.join(seg_dir, stem + layout.seg_suffix)),
                                             dataset))]
        for t, rec in tests:
            pred_dir = rec.artifacts.get('predictions') if rec.status == DONE else None
            path = os.path.join(results.store.abs(pred_dir), prediction_name(name)) if pred_dir else None
            if path and os.path.isfile(path):
                cells.append((t.row.id, path, draw(image, cv2.imread(path, cv2.IMREAD_UNCHANGED), dataset)))
            else:
                why = f'test {rec.status}' if rec.status != DONE else 'no prediction kept'
                cells.append((t.row.id, None, _missing(h, w, f'{t.row.id}:\n{why}')))
        rows.append((name, name, cells))
    canvas, panels = _compose(rows, header_from=0)
    return _png(canvas, dict(dataset=dataset, encoder=encoder, columns=[c[0] for c in rows[0][2]], panels=panels))


def _compose(rows: List[Tuple[str, str, list]], header_from: int) -> Tuple[np.ndarray, List[dict]]:
    """Pastes rows of (label, source file or None, RGB panel) cells unresized (each row
    subsampled by one integer stride to at most MAX_WIDTH per panel) under a header of
    the first row's column names (from cell ``header_from`` on). Returns the canvas and
    where each panel lies (``rows``: (row label, image name, cells))."""
    placed, panels, y = [], [], HEADER
    for row_label, image_name, cells in rows:
        stride = max(1, -(-cells[0][2].shape[1] // MAX_WIDTH))
        x = 0
        for label, source, panel in cells:
            small = np.ascontiguousarray(panel[::stride, ::stride])
            panels.append(dict(image=image_name, row=row_label, column=label, prediction=source, x=x, y=y,
                               w=small.shape[1], h=small.shape[0], stride=stride))
            placed.append(small)
            x += small.shape[1] + GAP
        y += placed[-1].shape[0] + GAP
    width = max(p['x'] + p['w'] for p in panels)
    canvas = np.full((y - GAP, width, 3), 255, np.uint8)
    for p, panel in zip(panels, placed):
        canvas[p['y']:p['y'] + p['h'], p['x']:p['x'] + p['w']] = panel
    for p in panels[header_from:len(rows[0][2])]:  # the column names above the first row
        cv2.putText(canvas, p['column'], (p['x'] + 2, HEADER - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return canvas, panels


def _png(canvas_rgb: np.ndarray, meta: dict) -> bytes:
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_text(PANELS, json.dumps(meta))
    buf = io.BytesIO()
    Image.fromarray(canvas_rgb).save(buf, format='png', pnginfo=info)
    return buf.getvalue()


def panels(png: bytes) -> dict:
    """What a qualitative figure shows and where (see the module doc)."""
    from PIL import Image
    return json.loads(Image.open(io.BytesIO(png)).text[PANELS])


def figures(results: TableResults, stage: str) -> Contribution:
    """qualitative-<dataset>-<encoder> -> PNG (also in the LaTeX report), one column per row
    whose evaluation by ``stage`` has a record (a failed one, or one without kept
    predictions, is a grey panel saying so; rows never run are left out); none for a group
    where no evaluation finished."""
    out = Contribution()
    for (dataset, encoder), tests in _groups(results, stage).items():
        if not os.path.isdir(tests[0][0].data_root or '') or not any(rec.status == DONE for _, rec in tests):
            continue  # nothing evaluated: no figure of grey panels
        png = figure(dataset, encoder, tests, results)
        if png:
            name = f'qualitative-{dataset}-{encoder}'.replace(' ', '')
            meta = panels(png)
            out.figures[name] = png
            out.latex[name] = f'{meta["dataset"]}, {meta["encoder"]}: ' + ', '.join(meta['columns']) + \
                ' (left to right)'
    return out


def robustness_figure(results: TableResults, stage: str) -> Contribution:
    """One Cityscapes validation image, clean and under every Cityscapes-C corruption at
    ``PICTURE_SEVERITY`` (re-made by the on-the-fly corruption, so no files are needed),
    with each model's prediction ``stage`` kept for it."""
    png = _robustness_picture([(t, rec) for t, rec in results.stage_records(stage, done=True)
                               if rec.artifacts.get('predictions') and t.data_root], results)
    return Contribution(figures={'robustness-pictures': png} if png else {})


def _robustness_picture(done: List[Tuple[Task, Record]], results: TableResults) -> Optional[bytes]:
    if not done:
        return None
    t0, rec0 = done[0]
    picture, protocol = rec0.metrics.get('picture_image'), rec0.metrics.get('protocol', 'segformer')
    img_dir = os.path.join(t0.data_root, LAYOUTS['cityscapes'].splits['val'][0])
    if not picture or not os.path.isfile(os.path.join(img_dir, picture)):
        return None
    path = os.path.join(img_dir, picture)
    clean_bgr = cv2.imread(path)
    rows = []
    for corruption, severity in [('clean', 0)] + [(c, PICTURE_SEVERITY) for c in CORRUPTIONS]:
        bgr = clean_bgr if severity == 0 else corrupted(clean_bgr.copy(), path, corruption, severity, protocol=protocol)
        image = np.ascontiguousarray(bgr[..., ::-1])
        label = f'{corruption} {severity}' if severity else 'clean'
        cells = [(label, None, image)]
        for t, rec in done:
            pred = os.path.join(results.store.abs(rec.artifacts['predictions']), f'{corruption}-{severity}',
                                prediction_name(picture))
            cells.append((t.row.id, pred, draw(image, cv2.imread(pred, cv2.IMREAD_UNCHANGED), 'cityscapes'))
                         if os.path.isfile(pred) else
                         (t.row.id, None, _missing(*image.shape[:2], f'{t.row.id}:\nno prediction kept')))
        rows.append((label, picture, cells))
    canvas, panels = _compose(rows, header_from=1)
    for p in panels:  # the corruption's name on its image
        if p['column'] == p['row']:
            cv2.putText(canvas, p['row'], (p['x'] + 3, p['y'] + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255),
                        1, cv2.LINE_AA)
    return _png(canvas, dict(dataset='cityscapes', columns=['image'] + [t.row.id for t, _ in done], panels=panels))
