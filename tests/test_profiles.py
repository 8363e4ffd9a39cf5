"""What a profile changes in a row's run: the smoke profile's heads on the built-in data,
and the heap setting its trainings run under."""
import ctypes
import ctypes.util
import json
import subprocess
import sys

import numpy as np
import pytest
from mmseg.datasets.transforms import LoadAnnotations

from conftest import ROOT
from experiments.data.datasets import SYNTH_IGNORE, builtin_num_classes, generate_synthetic, LAYOUTS, files_with_suffix
from experiments.registry.profiles import get_profile
from experiments.registry.tables import get_table
from experiments.store import Store
from experiments.planning.tasks import plan


@pytest.mark.parametrize('dataset', ['ade20k', 'cityscapes'])
def test_builtin_num_classes_holds_every_label_the_data_loads_as(tmp_path, dataset):
    root = generate_synthetic(dataset, str(tmp_path / dataset), num_train=12, num_val=2)
    image_dir, label_dir = LAYOUTS[dataset].splits['train']
    load = LoadAnnotations(reduce_zero_label=dataset == 'ade20k')
    seen = set()
    for rel in files_with_suffix(f'{root}/{label_dir}', LAYOUTS[dataset].seg_suffix):
        out = load(dict(seg_map_path=f'{root}/{label_dir}/{rel}', reduce_zero_label=dataset == 'ade20k',
                        seg_fields=[]))
        seen |= set(np.unique(out['gt_seg_map']).tolist())
    seen.discard(255)  # ignored by the loss and the metric
    assert max(seen) == builtin_num_classes(dataset) - 1  # tight: the largest class is in the data
    assert SYNTH_IGNORE[dataset] in (0, 255)


def test_smoke_heads_are_sized_to_builtin_data_only(tmp_path):
    table = get_table('table1')
    row = table.row('umixformer_mit-b0_ade20k')
    store = Store(str(tmp_path / 'runs'))
    smoke = get_profile('smoke')
    (builtin, ) = [t for t in plan([row], ['train'], None, smoke, {}, store)]
    assert builtin.cfg.model.decode_head.num_classes == 21
    # a real dataset root under the smoke profile keeps the 150 ADE20K classes (labels up to 149)
    real = tmp_path / 'ade'
    generate_synthetic('ade20k', str(real), num_train=2, num_val=2)
    (own, ) = plan([row], ['train'], None, smoke, {'ade20k': str(real)}, store)
    assert own.cfg.model.decode_head.num_classes == 150
    assert own.key != builtin.key
    (paper, ) = plan([row], ['train'], None, get_profile('paper'), {'ade20k': str(real)}, store)
    assert paper.cfg.model.decode_head.num_classes == 150


# Run in a fresh interpreter: the heap of the test process holds free chunks left by earlier
# trainings, which glibc reuses before it maps anything.
HEAP_PROBE = """
import ctypes, ctypes.util, json
from experiments.engine.plugins.allocator import heap_kept
libc = ctypes.CDLL(ctypes.util.find_library('c'))
class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
                                               'fsmblks', 'uordblks', 'fordblks', 'keepcost')]
libc.mallinfo2.restype = Mallinfo2
def mapped_growth():  # of one 64 MiB malloc, as a large activation is
    before = libc.mallinfo2().hblkhd
    buf = ctypes.create_string_buffer(64 << 20)
    return libc.mallinfo2().hblkhd - before
out = {'default': mapped_growth()}
with heap_kept() as applied:
    out['applied'], out['kept'] = applied, mapped_growth()
out['after'] = mapped_growth()
print(json.dumps(out))
"""


def test_heap_kept_serves_large_blocks_from_the_heap_and_restores_glibc_defaults():
    if not hasattr(ctypes.CDLL(ctypes.util.find_library('c')), 'mallinfo2'):
        pytest.skip('not glibc >= 2.33 (no mallinfo2)')
    proc = subprocess.run([sys.executable, '-c', HEAP_PROBE], capture_output=True, text=True, cwd=ROOT,
                          check=True)
    got = json.loads(proc.stdout)
    assert got['default'] >= 64 << 20  # glibc's default: an mmap (and page faults) per large block
    assert got['applied'] and got['kept'] == 0  # from the heap, kept for the next step
    assert got['after'] >= 64 << 20  # the default is back after the training
