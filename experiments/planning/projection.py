"""A task's hours projected from a calibration (``run-experiment calibrate``).

A calibration times one model's training iteration at its per-GPU batch and crop and
its inference on one image at the test size, on one device. What it depends on is its
*signature*: the model as configured (without its pretrained-weight paths: weights do
not change the speed), the batch, the crop, the test input, the training computation and
its options (AMP, ``--train-compile``). A task then costs:

* train: ``max_iters`` x s/iteration + the validations during training (every
  ``val_interval``) x validation images x s/image, per process;
* test: validation images x s/image; robustness: that for the clean images and each of
  the Cityscapes-C variants.

The data loader is assumed to keep up (the calibration feeds tensors): plan for enough
CPUs per GPU. Other stages keep the registry's estimate."""
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from experiments.core.keys import content_hash
from experiments.core.stages import stage_spec
from experiments.data.cityscapes_c import VARIANTS
from experiments.data.datasets import LAYOUTS, synthetic_params
from experiments.registry.profiles import Profile
from experiments.store import Store
from experiments.store.calibration import Calibrations
from umixformer_config.input_size import config_crop, measuring_hw

# what is timed (experiments.engine.compute.calibrate): change when the timing changes
CALIBRATION_VERSION = 'train_step(fused,grouped-adamw)+predict/v2'


def _without_weights(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_weights(v) for k, v in node.items() if k not in ('init_cfg', 'pretrained')}
    if isinstance(node, (list, tuple)):
        return [_without_weights(v) for v in node]
    return node


def test_hw(task) -> Tuple[int, int]:
    """The inference input the calibration times: the paper's measuring input (ADE20K: the
    crop; Cityscapes: 2048x1024), scaled as the profile scales the crop."""
    base_h, _ = config_crop(task.base_cfg)
    crop_h, _ = config_crop(task.cfg)
    h, w = measuring_hw(task.row.dataset, task.base_cfg)
    return (max(1, round(h * crop_h / base_h)), max(1, round(w * crop_h / base_h)))


def signature(task, made: Optional[Dict[tuple, str]] = None) -> str:
    """What a calibration of this task's model depends on (see the module doc). ``made``: the
    signatures already made in this call, by the model dict's identity and the other facts
    (the tasks of one row's seeds share that dict: one hash for them all)."""
    cfg = task.cfg
    facts = dict(batch=cfg.train_dataloader.batch_size, crop=config_crop(cfg), test_hw=test_hw(task),
                 optim_wrapper=cfg.optim_wrapper.get('type', 'OptimWrapper'), compile=cfg.get('train_compile', ''))
    key = (id(cfg.model), ) + tuple(facts.values())
    if made is not None and key in made:
        return made[key]
    sig = content_hash({'model': _without_weights(cfg.model.to_dict()), **facts, 'version': CALIBRATION_VERSION})[:16]
    if made is not None:
        made[key] = sig
    return sig


def val_images(task, store: Store) -> int:
    """The validation images a test pass reads: the built-in data's, or the official
    release's (a root is checked against those counts before any run)."""
    if task.data_root and store.is_builtin_root(task.data_root):
        return synthetic_params(task.row.dataset)['num_val']
    return LAYOUTS[task.row.dataset].official_counts['val']


def stage_seconds(task, cal: dict, images: int, robustness_images: Optional[int] = None) -> float:
    """Seconds one process of ``task`` takes by the calibration ``cal``, by its stage's cost
    model (``StageSpec.projected``)."""
    per_image = cal['seconds_per_image']
    model = stage_spec(task.stage).projected
    if model == 'training':
        loop = task.cfg.train_cfg
        iters, every = int(loop.get('max_iters', 0)), int(loop.get('val_interval', 0) or 0)
        validations = iters // every if 0 < every <= iters else 0
        return iters * cal['seconds_per_iter'] + validations * images * per_image
    if model == 'images':
        return images * per_image
    if model == 'corrupted-images':
        n = min(images, robustness_images or images)
        return n * (VARIANTS + 1) * per_image  # + the clean images
    raise ValueError(f'stage {task.stage}: unknown cost model {model!r}; known: training, images, corrupted-images')


@dataclass(frozen=True)
class Projection:
    seconds: Optional[float]  # per process; None: not calibrated
    device: str  # the calibration's device, or the device asked for
    signature: str
    # training: the calibrated step's peak memory on a GPU (None: not calibrated, or on a CPU)
    peak_memory_gb: Optional[float] = None

    @property
    def calibrated(self) -> bool:
        return self.seconds is not None


def project(task, store: Store, profile: Profile, device: str = '',
            made: Optional[Dict[tuple, str]] = None) -> Optional[Projection]:
    """The task's projected seconds on ``device`` (default: the profile's) from the store's
    calibrations, or None for a stage that is not projected."""
    if not stage_spec(task.stage).projected:
        return None
    want = device or profile.device
    sig = signature(task, made)
    cal = Calibrations(store.root).find(sig, want)
    if cal is None:
        return Projection(None, want, sig)
    seconds = stage_seconds(task, cal, val_images(task, store), profile.robustness_images)
    on_gpu = cal.get('peak_memory_of', '').startswith('cuda')
    return Projection(seconds, cal['device'], sig, cal.get('train_peak_memory_gb') if on_gpu else None)


def projections(tasks, store: Store, profile: Profile, device: str = '') -> Dict[str, Projection]:
    """Key -> projection of each projected task."""
    out, made = {}, {}
    for task in tasks:
        p = project(task, store, profile, device, made)
        if p is not None:
            out[task.key] = p
    return out
