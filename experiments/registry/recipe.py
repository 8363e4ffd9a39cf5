"""A run's recipe: the facts of how a row was trained and evaluated that decide its
numbers, read by one function from a resolved config (the run's, kept in its record)
and from the row's config as the authors published it (the paper's run), so that each
difference is a fact with both values, never a guess.

Each fact is an ``Ingredient``, registered here (``INGREDIENTS``, in the order a
sentence names them); a plugin adds one with ``ingredient(...)``. What the configs do not
state (the authors' GPUs and software, the official dataset sizes) is in ``PAPER``, each
with its source in ``../shared/spec/official-runs.md``.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from experiments.data.datasets import LAYOUTS
from experiments.registry.weights import needed_files
from umixformer_config.input_size import measuring_hw


@dataclass(frozen=True)
class Ingredient:
    """One fact of a recipe.

    Args:
        name: Its key in a record's ``recipe``.
        label: How a sentence names it ("iterations", "crop").
        kinds: The stage config kinds whose numbers depend on it (``StageSpec.config``:
            'training', 'evaluation'; a test's mIoU depends on both).
        read: The value from a resolved config (JSON: numbers, strings, lists), or None
            where the config does not state it.
        show: The value as a sentence shows it (None included: not stated).
    """
    name: str
    label: str
    kinds: Tuple[str, ...]
    read: Callable[[Any], Any]
    show: Callable[[Any], str] = str


def _said(value: Any) -> str:
    return 'not set' if value is None else str(value)


INGREDIENTS: Dict[str, Ingredient] = {}


def ingredient(name: str, label: str, kinds: Sequence[str], read: Callable[[Any], Any],
               show: Callable[[Any], str] = _said) -> Ingredient:
    """Registers a fact of the recipe (a later registration of the name replaces it)."""
    INGREDIENTS[name] = Ingredient(name, label, tuple(kinds), read, show)
    return INGREDIENTS[name]


def _transform(cfg, loader: str, kind: str) -> Optional[dict]:
    pipeline = ((cfg.get(loader) or {}).get('dataset') or {}).get('pipeline') or []
    for t in pipeline:
        if t.get('type') == kind:
            return t
        for inner in t.get('transforms') or []:  # TestTimeAug
            for u in inner if isinstance(inner, list) else [inner]:
                if isinstance(u, dict) and u.get('type') == kind:
                    return u
    return None


def _hw(value) -> str:
    return 'x'.join(str(int(v)) for v in value) if isinstance(value, (list, tuple)) else str(value)


def _iters(cfg) -> Optional[int]:
    return (cfg.get('train_cfg') or {}).get('max_iters')


def _crop(cfg) -> Optional[List[int]]:
    t = _transform(cfg, 'train_dataloader', 'RandomCrop')
    return list(t['crop_size']) if t and t.get('crop_size') else None


def _test_scale(cfg) -> Optional[List[int]]:
    t = _transform(cfg, 'test_dataloader', 'Resize')
    return list(t['scale']) if t and isinstance(t.get('scale'), (list, tuple)) else None


def _inference(cfg) -> Optional[str]:
    test = (cfg.get('model') or {}).get('test_cfg') or {}
    mode = test.get('mode')
    if mode == 'slide':
        return f"slide {_hw(test.get('crop_size'))} stride {_hw(test.get('stride'))}"
    return mode


def _classes(cfg) -> Optional[int]:
    head = (cfg.get('model') or {}).get('decode_head') or {}
    head = head[0] if isinstance(head, list) else head
    return head.get('num_classes')


def _precision(cfg) -> str:
    return 'mixed (AMP)' if (cfg.get('optim_wrapper') or {}).get('type') == 'AmpOptimWrapper' else 'fp32'


def _eval_images(cfg) -> Optional[int]:
    return ((cfg.get('test_dataloader') or {}).get('dataset') or {}).get('indices')


def _pretrained(cfg) -> List[str]:
    return needed_files(cfg.get('model') or {})


ingredient('iterations', 'iterations', ('training',), _iters, lambda v: f'{v:,}' if v else _said(v))
ingredient('batch_per_gpu', 'batch per GPU', ('training',),
           lambda cfg: (cfg.get('train_dataloader') or {}).get('batch_size'))
ingredient('crop', 'crop', ('training',), _crop, lambda v: _hw(v) if v else _said(v))
ingredient('lr', 'learning rate', ('training',), lambda cfg: ((cfg.get('optim_wrapper') or {}).get('optimizer') or {})
           .get('lr'), lambda v: f'{v:g}' if v is not None else _said(v))
ingredient('precision', 'precision', ('training',), _precision)
ingredient('pretrained', 'encoder weights', ('training',), _pretrained,
           lambda v: ', '.join(v) if v else 'none (from scratch)')
ingredient('classes', 'classes', ('training', 'evaluation'), _classes)
ingredient('test_scale', 'test scale', ('evaluation',), _test_scale, lambda v: _hw(v) if v else _said(v))
ingredient('inference', 'inference', ('evaluation',), _inference)
ingredient('eval_images', 'evaluated images', ('evaluation',), _eval_images,
           lambda v: 'all' if v is None else f'the first {v}')


def read_recipe(cfg, kinds: Sequence[str]) -> Dict[str, Any]:
    """The facts of ``cfg`` that stages of these config kinds depend on."""
    return {i.name: i.read(cfg) for i in INGREDIENTS.values() if set(i.kinds) & set(kinds)}


# What the configs do not say, as the spec states it (official-runs.md).
PAPER = {
    # README.md: "All our models were trained using 2 A100 GPUs"; one process per GPU or
    # not: UNKNOWN, so the global batch is the config's batch x 1 or x 2
    'processes': (1, 2),
    'processes_source': 'official README: "2 A100 GPUs"; one process per GPU or not is UNKNOWN',
    'environment': {'torch': '1.13.0', 'cuda': '11.0', 'gpu': 'A100'},
    'environment_source': 'official README (eb96bab): "CUDA 11.0 and pytorch 1.13.0"; 2 A100 GPUs',
}


def official_counts(dataset: str) -> Mapping[str, int]:
    return LAYOUTS[dataset].official_counts if dataset in LAYOUTS else {}


def paper_measuring(dataset: str, cfg) -> List[int]:
    """(H, W) the paper measured complexity and latency at."""
    return list(measuring_hw(dataset, cfg))
