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
import contextlib
import copy
import os
import warnings
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from experiments.core.errors import SuiteError
from experiments.core.files import atomic_write, sha256_of
from experiments.data.samples import dataset_meta
from experiments.engine.compute.released import (Match, ReleasedError, convert_released, encoder_signature_from_config,
                                                 encoder_signature_from_state)
from experiments.engine.plugins.checkpoints import compare_keys
from experiments.planning.tasks import Task
from experiments.registry.profiles import get_profile
from experiments.store import DONE, Store

OPACITY = 0.5  # as image_demo.py
MIN_SIDE = 2  # mmseg's overlay indexes with a one-element tensor for a single pixel (IndexError)
CLASSES_AT_ONCE = 16  # classes resized to the image's size at a time (memory: 16 x H x W floats)
# mmseg places each class name by sorting that class's pixels in Python: 34 s of a 6000x4000
# overlay (8 s without names); larger images get the overlay without the names
NAMES_UP_TO = 2048 * 2048


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
    path = store.abs(rec.artifacts['checkpoint'])
    if not os.path.exists(path):
        why = (f'the {task.profile} profile removes its checkpoints once its run has read them'
               if not get_profile(task.profile).keep_checkpoints else 'it was removed or moved')
        raise PredictError(f'{task.row.table}/{task.row.id} (seed {task.seed}): the checkpoint {path} of its training '
                           f'is gone ({why}): train it with another profile, or give --checkpoint FILE')
    return path


def check_images(images: Sequence[str]) -> None:
    """Every image whole and of a usable size, before any model is built: a truncated
    JPEG decodes partly in OpenCV's imread (a warning) but fails in mmcv's loader."""
    import cv2
    from PIL import Image
    missing = [i for i in images if not os.path.isfile(i)]
    if missing:
        raise PredictError(f'no such image: {", ".join(missing)}')
    for path in images:
        try:
            with Image.open(path) as im:
                im.load()  # decodes all of it: a truncated or damaged file raises here
                w, h = im.size
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
            raise PredictError(f'{path} is damaged or not an image ({err}); nothing was predicted: download or '
                               'export it again') from None
        if min(w, h) < MIN_SIDE:
            raise PredictError(f'{path} is {w}x{h} pixels; predict takes images of at least {MIN_SIDE}x{MIN_SIDE}')
        if cv2.imread(path) is None:
            raise PredictError(f'{path} is not an image OpenCV can read')


def class_chunked_postprocess(model):
    """mmseg's ``postprocess_result`` for a single image, with the resize of the logits to
    the image's original size done ``CLASSES_AT_ONCE`` classes at a time and a running
    argmax: the same class map bit for bit (bilinear resizing treats each class alone;
    ties keep the lower class, as argmax does), without the C x H x W logits of the full
    image (14.4 GB for 150 classes at 6000x4000). Only the class map is kept."""
    import torch
    from mmengine.structures import PixelData
    from mmseg.models.utils import resize
    from mmseg.structures import SegDataSample
    original = model.postprocess_result

    def postprocess(seg_logits, data_samples=None):
        if data_samples is None or seg_logits.shape[1] == 1:
            return original(seg_logits, data_samples)
        _, C, H, W = seg_logits.shape
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            left, right, top, bottom = meta.get('img_padding_size', meta.get('padding_size', [0] * 4))
            logits = seg_logits[i:i + 1, :, top:H - bottom, left:W - right]
            if meta.get('flip'):
                logits = logits.flip(dims=(3, ) if meta.get('flip_direction') == 'horizontal' else (2, ))
            best = pred = None
            for c in range(0, C, CLASSES_AT_ONCE):
                part = resize(logits[:, c:c + CLASSES_AT_ONCE], size=meta['ori_shape'], mode='bilinear',
                              align_corners=model.align_corners, warning=False)[0]
                value, index = part.max(dim=0)  # the first of equal values, as argmax
                if best is None:
                    best, pred = value, index
                else:
                    better = value > best
                    best = torch.where(better, value, best)
                    pred = torch.where(better, index + c, pred)
            sample.set_data({'pred_sem_seg': PixelData(data=pred[None])})
        return data_samples
    model.postprocess_result = postprocess
    return model


@contextlib.contextmanager
def quiet():
    """mmseg's and mmengine's chatter where the user sees it: the visualizer's warning that it
    saves nothing (it is not asked to) and the loader's 'Loads checkpoint by ...' line."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        yield


def fitting_rows(sd, candidates: Sequence[Task]) -> List[str]:
    """The rows of ``candidates`` (their test tasks) whose model ``sd`` fits exactly: those
    whose encoder and class count are the file's, then checked tensor by tensor."""
    from umixformer.apis import build_segmentor
    try:
        encoder = encoder_signature_from_state(sd)
    except ReleasedError:
        return []
    classes = sd.get('decode_head.conv_seg.weight')
    out: List[str] = []
    for t in candidates:
        model = t.cfg.model
        if encoder_signature_from_config(model.backbone) != encoder or (
                classes is not None and model.decode_head.get('num_classes') != classes.shape[0]):
            continue
        keys = compare_keys(build_segmentor(t.cfg).state_dict(), sd)
        if not (keys['missing'] or keys['other_shape'] or keys['unexpected']):
            out += [r for r in t.rows if r not in out]
    return out


def check_fit(task: Task, model, weights: str, others: Callable[[], Sequence[Task]]) -> None:
    """``weights`` give every tensor of the row's model and no other, or the file is refused in
    one line with the counts and the rows it fits (``others``: the table's other test tasks,
    planned only then): mmengine's strict load would end in a traceback of key lists."""
    from umixformer.safe_load import load, state_dict_of
    sd = state_dict_of(load(weights), weights)
    own = model.state_dict()
    keys = compare_keys(own, sd)
    if not (keys['missing'] or keys['other_shape'] or keys['unexpected']):
        return
    shape = ''
    if keys['other_shape']:
        k = keys['other_shape'][0]
        shape = f' (e.g. {k}: {list(sd[k].shape)} in the file, {list(own[k].shape)} in the model)'
    fits = fitting_rows(sd, [t for t in others() if t.row.id != task.row.id])
    where = (f'; it fits {", ".join(fits)}: use that row (--rows {fits[0].split("/", 1)[1]})' if fits else
             '; it fits no row of this table')
    raise PredictError(f'{weights} does not fit {task.row.table}/{task.row.id}: {len(keys["fits"])} of its model\'s '
                       f'{len(own)} tensors fit, {len(keys["other_shape"])} of another shape{shape}, '
                       f'{len(keys["missing"])} missing, {len(keys["unexpected"])} the model has not{where}')


def build(task: Task, weights: str, device: str, others: Callable[[], Sequence[Task]] = tuple):
    """The row's segmentor in test mode with ``weights`` (every tensor, checked first: see
    ``check_fit``), its test pipeline and its dataset's classes and palette."""
    from mmengine.runner import load_checkpoint
    from mmseg.apis import init_model

    import umixformer  # noqa: F401  (plugins, the safe checkpoint loader)
    cfg = copy.deepcopy(task.cfg)
    cfg.test_pipeline = [t for t in cfg.test_dataloader.dataset.pipeline if t.get('type') != 'LoadAnnotations']
    with quiet():
        model = init_model(cfg, None, device=device)
        check_fit(task, model, weights, others)
        load_checkpoint(model, weights, map_location=device, strict=True, logger='silent')
    classes, palette = dataset_meta(task.row.dataset)
    model.dataset_meta = dict(classes=classes, palette=palette)
    return class_chunked_postprocess(model)


def predict(task: Task, store: Store, images: Sequence[str], out_dir: str, checkpoint: Optional[str] = None,
            device: str = 'cpu', others: Callable[[], Sequence[Task]] = tuple) -> List[Tuple[str, bool]]:
    """Writes ``<out_dir>/<image stem>.png`` (the overlay) and ``<stem>.classes.png`` (the
    class map, uint8) per image; returns (overlay path, whether it names the classes)."""
    import cv2
    from mmseg.apis import inference_model, show_result_pyplot
    check_images(images)
    model = build(task, checkpoint_for(task, store, checkpoint), device, others)
    os.makedirs(out_dir, exist_ok=True)
    written = []
    for path in images:
        result = inference_model(model, path)
        stem = os.path.splitext(os.path.basename(path))[0]
        classes = result.pred_sem_seg.data.squeeze(0).cpu().numpy().astype(np.uint8)
        names = classes.size <= NAMES_UP_TO
        with quiet():
            overlay = show_result_pyplot(model, path, result, opacity=OPACITY, draw_gt=False, show=False,
                                         title=task.row.id, with_labels=names)  # RGB
        for name, rgb_or_map in ((f'{stem}.png', overlay[..., ::-1]), (f'{stem}.classes.png', classes)):
            atomic_write(os.path.join(out_dir, name), cv2.imencode('.png', rgb_or_map)[1].tobytes())
        written.append((os.path.join(out_dir, f'{stem}.png'), names))
    return written
