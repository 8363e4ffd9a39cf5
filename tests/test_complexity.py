"""Params and GFLOPs against the paper (and the spec's cross-checks of the
official code), counted the paper's way."""
import os

import pytest

from experiments.registry.tables import get_table
from umixformer.complexity import build_segmentor, count_flops, count_flops_jit, load_config, main, measure
from umixformer_config.input_size import CITYSCAPES_TEST_HW, measuring_hw

TABLE1 = get_table('table1')
# (row, tolerance in percent on published params and GFLOPs)
ROWS = [('umixformer_mit-b0_ade20k', 1.0), ('umixformer_lvt_ade20k', 1.0),
        ('umixformer_mscan-t_ade20k', 1.0), ('umixformer_mit-b1_ade20k', 1.0),
        ('umixformer_mit-b2_ade20k', 1.0), ('umixformer-s_mscan-s_ade20k', 1.0),
        ('feedformer_mit-b0_ade20k', 1.5), ('feedformer_lvt_ade20k', 1.5),
        ('feedformer_mit-b2_ade20k', 1.5), ('segformer_mit-b1_ade20k', 1.0),
        ('segformer_mit-b2_ade20k', 1.0)]


@pytest.mark.parametrize('row_id,tol', ROWS)
def test_table1_row_matches_paper(row_id, tol):
    row = TABLE1.row(row_id)
    c = measure(build_segmentor(row.config), measuring_hw(row.dataset, load_config(row.config)))
    for value, metric in ((c.params_published_layout_m, 'params_m'), (c.gflops, 'gflops')):
        pub = row.published[metric]
        assert abs(value - pub) / pub * 100 <= tol, (metric, value, pub)


@pytest.mark.parametrize('config,gflops,params_m', [
    # the spec's counts of the official code / of mmsegmentation 1.2.2
    ('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py', 6.16, 6.14),
    ('umixformer/umixformer_mit-b1_1xb16-160k_ade20k-512x512.py', 17.89, 24.05),
    ('umixformer/umixformer_mit-b2_1xb16-160k_ade20k-512x512.py', 40.06, 35.85),
    ('segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py', 8.51, 3.75),
])
def test_cross_checks_at_512(config, gflops, params_m):
    from conftest import CONFIG_DIR
    c = measure(build_segmentor(f'{CONFIG_DIR}/{config}'), (512, 512))
    assert round(c.gflops, 2) == gflops
    assert round(c.params_published_layout_m, 2) == params_m


def test_cityscapes_b0_cross_check():
    row = TABLE1.row('umixformer_mit-b0_cityscapes')
    c = measure(build_segmentor(row.config), CITYSCAPES_TEST_HW)
    assert round(c.gflops, 2) == 101.65
    # effective params: the dead modules are not built
    assert c.params < c.params_published_layout


def _row_configs():
    from experiments.registry.tables import load_registry
    return sorted({row.config for table in load_registry().values() for row in table.rows
                   if 'complexity' in row.stages})


@pytest.mark.parametrize('config', _row_configs(), ids=lambda p: os.path.basename(p)[:-3])
def test_fast_counter_equals_flop_analyzer(config):
    """The meta-tensor counter gives FlopAnalyzer's count exactly, for the model
    of every row that measures complexity (small input: the handles are shape
    formulas, so equality here is equality at the paper's sizes)."""
    from experiments.planning.configs import load_base_config
    model = build_segmentor(load_base_config(config))
    assert count_flops(model, (64, 96)) == count_flops_jit(model, (64, 96))


def test_a_model_that_needs_data_falls_back_to_flop_analyzer():
    """A user's model that reads a value (impossible on meta tensors) is still
    counted, by FlopAnalyzer on real tensors, with the same convention."""
    import torch

    class NeedsData(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)

        def forward(self, x):
            y = self.conv(x)
            return y * float(y.mean().item() > -1e9)  # .item(): no meta kernel can answer

    model = NeedsData()
    with pytest.warns(UserWarning, match='meta-tensor count failed'):
        assert count_flops(model, (16, 20)) == count_flops_jit(model, (16, 20)) == 3 * 8 * 9 * 16 * 20


def test_one_measuring_size_for_the_tool_and_the_stage(capsys):
    """umixformer-complexity and the complexity stage read one statement of the paper's
    input size: the B5 640 recipe is counted at 640x640 by both (the tool counted it at 512)."""
    from experiments.cli.parser import parse_args
    from experiments.cli.selection import select_tasks
    from conftest import CONFIG_DIR
    config = f'{CONFIG_DIR}/umixformer/umixformer_mit-b5_1xb16-160k_ade20k-640x640.py'
    args = parse_args(['plan', 'table2', '--rows', 'umixformer_mit-b5_ade20k', '--stages', 'complexity'])
    (task, ) = select_tasks(args)[4]
    assert task.input_hw == (640, 640) and task.base_cfg.filename == config
    assert main([config]) == 0
    assert 'GFLOPs at 640x640' in capsys.readouterr().out
