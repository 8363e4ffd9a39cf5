"""The image demo: a row's model on your images, as the official ``demo/image_demo.py``.

    run-experiment predict TABLE --rows ROW IMAGE... [--checkpoint FILE] [--out DIR] [--device cpu|cuda]

The weights are the row's finished training (its record's checkpoint, the seed of
``--seeds`` or the row's first) or ``--checkpoint FILE``: a released checkpoint in the
official layout (converted as ``evaluate`` converts it) or one of this suite's. Both are
read as data only. The model is the row's test configuration and each image goes
through the test stage's own pipeline (``mmseg.apis.inference_model``), so a prediction
here equals the test stage's for the same image. The overlay (the dataset's palette,
opacity 0.5, class names) is drawn by mmseg's ``show_result_pyplot``.
"""
import copy
import os
from typing import List, Optional, Sequence

import numpy as np

from experiments.core.errors import SuiteError
from experiments.core.files import atomic_write, sha256_of
from experiments.data.samples import dataset_meta
from experiments.engine.released import Match, convert_released
from experiments.planning.tasks import Task
from experiments.store import DONE, Store

OPACITY = 0.5  # as image_demo.py


class PredictError(SuiteError, ValueError):
    """The row, its weights or an image cannot be used."""


def checkpoint_for(task: Task, store: Store, checkpoint: Optional[str]) -> str:
    """The weights file: ``checkpoint`` (converted from the official layout when it is
    one), else the row's finished training."""
    if checkpoint:
        from umixformer.converters.official import ConversionError, identify_official_state_dict
        from umixformer.safe_load import load, state_dict_of
        sd = state_dict_of(load(checkpoint), checkpoint)  # refuses a file that holds code
        try:
            identify_official_state_dict(sd)
        except ConversionError:
            return os.path.abspath(checkpoint)  # this suite's layout: loaded strictly below
        return convert_released(Match(path=checkpoint, sha256=sha256_of(checkpoint)), store.root)
    rec = store.get(task.needs) if task.needs else None
    if rec is None or rec.status != DONE:
        raise PredictError(f'{task.row.table}/{task.row.id} (seed {task.seed}) has no finished training in '
                           f'{store.root}: run it first, or give a released checkpoint with --checkpoint FILE')
    return store.abs(rec.artifacts['checkpoint'])


def build(task: Task, weights: str, device: str):
    """The row's segmentor in test mode with ``weights`` (strict), its test pipeline and
    its dataset's classes and palette."""
    from mmengine.runner import load_checkpoint
    from mmseg.apis import init_model

    import umixformer  # noqa: F401  (plugins, the safe checkpoint loader)
    cfg = copy.deepcopy(task.cfg)
    cfg.test_pipeline = [t for t in cfg.test_dataloader.dataset.pipeline if t.get('type') != 'LoadAnnotations']
    model = init_model(cfg, None, device=device)
    load_checkpoint(model, weights, map_location=device, strict=True)
    classes, palette = dataset_meta(task.row.dataset)
    model.dataset_meta = dict(classes=classes, palette=palette)
    return model


def predict(task: Task, store: Store, images: Sequence[str], out_dir: str, checkpoint: Optional[str] = None,
            device: str = 'cpu') -> List[str]:
    """Writes ``<out_dir>/<image stem>.png`` (the overlay) and ``<stem>.classes.png`` (the
    class map, uint8) per image; returns the overlay paths."""
    import cv2
    from mmseg.apis import inference_model, show_result_pyplot
    missing = [i for i in images if not os.path.isfile(i)]
    if missing:
        raise PredictError(f'no such image: {", ".join(missing)}')
    model = build(task, checkpoint_for(task, store, checkpoint), device)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for path in images:
        if cv2.imread(path) is None:
            raise PredictError(f'{path} is not an image OpenCV can read')
        result = inference_model(model, path)
        stem = os.path.splitext(os.path.basename(path))[0]
        overlay = show_result_pyplot(model, path, result, opacity=OPACITY, draw_gt=False, show=False,
                                     title=task.row.id)  # RGB
        classes = result.pred_sem_seg.data.squeeze(0).cpu().numpy().astype(np.uint8)
        for name, rgb_or_map in ((f'{stem}.png', overlay[..., ::-1]), (f'{stem}.classes.png', classes)):
            atomic_write(os.path.join(out_dir, name), cv2.imencode('.png', rgb_or_map)[1].tobytes())
        written.append(os.path.join(out_dir, f'{stem}.png'))
    return written
