"""How the run behind a record differs from the paper's run of its row: each difference a
fact with the paper's value and the run's (``experiments.registry.recipe``), never a
guess. The paper's run is the row's config as written (what the authors published) and
what the spec states beyond it (``recipe.PAPER``); the run's is the record's ``recipe``,
read from its resolved config and data when it ran, its options (``settings``) and how
it ran (resumes, packages, device).

    differs from the paper's recipe in: built-in data (...), iterations 320 (paper 160,000), ...
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from experiments.core.stages import stage_spec
from experiments.planning.options import option_table
from experiments.registry.recipe import INGREDIENTS, PAPER, official_counts, paper_measuring, read_recipe
from experiments.registry.rows import Row
from experiments.store import Record
from umixformer_config.configs import read_config

RECIPE, ENVIRONMENT = 'recipe', 'environment'


@dataclass(frozen=True)
class Deviation:
    """One way a run differs from the paper's: ``kind`` is 'recipe' (what was computed) or
    'environment' (the software and hardware it ran on)."""
    name: str
    label: str
    paper: str
    run: str
    kind: str = RECIPE
    source: str = ''  # where the paper's value is stated, when not in the row's config

    def __str__(self) -> str:
        return f'{self.label} {self.run} (paper {self.paper})'

    def as_dict(self) -> Dict[str, str]:
        return dict(name=self.name, label=self.label, paper=self.paper, run=self.run, kind=self.kind,
                    source=self.source)


def paper_recipe(row: Row, kinds) -> Dict[str, Any]:
    """The facts of the row's config as written (the authors' run)."""
    return read_recipe(read_config(row.config), kinds) if row.config else {}


def _pairs(counts: Dict[str, int]) -> str:
    """'20,210/2,000 train/val pairs'"""
    return '/'.join(f'{n:,}' for n in counts.values()) + ' ' + '/'.join(counts) + ' pairs'


def deviations(rec: Record, row: Row) -> Optional[List[Deviation]]:
    """How the run that made ``rec`` differs from the paper's run of ``row``, recipe first;
    None when the record keeps no recipe (made before recipes were kept)."""
    if rec.recipe is None:
        return None
    kinds = stage_spec(rec.stage).depends_on()
    run, paper = rec.recipe, paper_recipe(row, kinds)
    out: List[Deviation] = []
    data = run.get('data')
    if isinstance(data, dict):
        official = dict(official_counts(rec.dataset))
        pairs = {k: int(v) for k, v in (data.get('pairs') or {}).items()}
        if data.get('builtin'):
            out.append(Deviation('data', 'data', _pairs(official), f'built-in synthetic, {_pairs(pairs)}'))
        elif pairs != official:
            out.append(Deviation('data', 'data', _pairs(official), f'{data.get("root")}, {_pairs(pairs)}'))
    for name, ing in INGREDIENTS.items():
        if name in paper and name in run and run[name] != paper[name] and _comparable(run[name], paper[name]):
            out.append(Deviation(name, ing.label, _show(ing, paper[name]), _show(ing, run[name])))
    measured = measured_input(rec, row)
    if measured:
        out.append(measured)
    if 'global_batch' in run:
        out += _batch(run, paper, row)
    for opt in option_table():  # an option that changed the key: the paper ran the default
        value = rec.settings.get(opt.recorded, opt.default)
        if opt.in_key != 'none' and not opt.runtime and opt.recorded in rec.settings and value != opt.default:
            out.append(Deviation(f'option:{opt.name}', opt.flag, f'{opt.default}', f'{value}'))
    if rec.resumed_from:
        out.append(Deviation('resumed', 'resumed', 'one run', f'from {rec.resumed_from}'))
    return out + environment(rec)


def _wxh(hw) -> str:
    return f'{int(hw[1])}x{int(hw[0])}'


def measured_input(rec: Record, row: Row) -> Optional[Deviation]:
    """The input a complexity count or a timing was measured at (``input_hw``: (H, W), or a
    list of them), where it is not the paper's (the table's) measuring input."""
    hw = rec.metrics.get('input_hw')
    if not hw or not row.config or not isinstance(hw, list):
        return None
    shapes = hw if isinstance(hw[0], list) else [hw]
    paper = paper_measuring(rec.dataset, read_config(row.config))
    if all(list(s) == paper for s in shapes):
        return None
    return Deviation('input', 'input', _wxh(paper), ', '.join(dict.fromkeys(_wxh(s) for s in shapes)))


def _comparable(a: Any, b: Any) -> bool:
    return a is not None or b is not None


def _show(ing, value: Any) -> str:
    try:
        return ing.show(value)
    except (TypeError, ValueError):
        return str(value)


def _batch(run: Dict[str, Any], paper: Dict[str, Any], row: Row) -> List[Deviation]:
    """The GPUs and the global batch: the authors trained on 2 A100s, and whether as one
    process per GPU (global batch = the config's x 2) or as one is UNKNOWN; so a run on
    another count of processes, or of another global batch, differs or may differ. Stated
    for the U-MixFormer rows only: the spec names no GPUs for the rows quoted from others."""
    per_gpu = paper.get('batch_per_gpu')
    if not per_gpu or not row.method.startswith('U-MixFormer'):
        return []
    possible = [per_gpu * p for p in PAPER['processes']]
    processes = run.get('processes', 1)
    if processes == max(PAPER['processes']) and run['global_batch'] in possible:
        return []
    return [Deviation('global_batch', 'GPUs and global batch',
                      f'2 A100, global batch {" or ".join(map(str, possible))} (UNKNOWN which)',
                      f'{processes} process(es), global batch {run["global_batch"]}', source=PAPER['processes_source'])]


def environment(rec: Record) -> List[Deviation]:
    """The software and hardware, against the authors' where the spec states them."""
    env = PAPER['environment']
    out = []
    torch = rec.packages.get('torch', '')
    if torch and torch.split('+')[0] != env['torch']:
        out.append(Deviation('torch', 'torch', env['torch'], torch, ENVIRONMENT))
    cuda = _cuda(torch)
    if cuda and cuda != env['cuda']:
        out.append(Deviation('cuda', 'CUDA', env['cuda'], cuda, ENVIRONMENT))
    if rec.device and env['gpu'] not in rec.device:
        out.append(Deviation('device', 'device', env['gpu'], rec.device, ENVIRONMENT))
    return out


def _cuda(torch: str) -> str:
    """The CUDA of a torch build, from its version's local part ('2.1.0+cu121': 12.1)."""
    local = torch.partition('+')[2]
    if local == 'cpu':
        return 'none (CPU build)'
    if local.startswith('cu') and local[2:].isdigit() and len(local) > 3:
        return f'{local[2:-1]}.{local[-1]}'
    return ''


def in_words(devs: Optional[List[Deviation]], compact: bool = False) -> str:
    """One line: "differs from the paper's recipe in: ..." (``compact``: the facts' names
    only), the environment after it; "the paper's recipe" for a run with none."""
    if devs is None:
        return 'its recipe is not recorded (a record of an older version of the suite)'
    recipe = [d for d in devs if d.kind == RECIPE]
    env = [d for d in devs if d.kind == ENVIRONMENT]
    if compact:
        return ("differs from the paper's recipe in: " + ', '.join(d.label for d in recipe) if recipe
                else "the paper's recipe") + (f' (environment: {", ".join(d.label for d in env)})' if env else '')
    text = ("differs from the paper's recipe in: " + ', '.join(map(str, recipe)) if recipe
            else "the paper's recipe")
    if env:
        text += '; environment: ' + ', '.join(f'{d.label} {d.run}' for d in env)
    return text
