"""The positioned training stream (experiments.engine.plugins.resume): what a resume relies on."""
import itertools
import random

import numpy as np
import torch
from mmengine.dataset import InfiniteSampler

from experiments.engine.plugins.resume import Position, PositionedSampler, SeededDataset


def _sampler(world_size=1, rank=0, start=0):
    inner = InfiniteSampler(list(range(10)), seed=3)
    inner.rank, inner.world_size = rank, world_size
    s = PositionedSampler(inner)
    s.start = start
    return s


def _take(sampler, n):
    return [(int(x), x.position) for x in itertools.islice(iter(sampler), n)]


def test_the_stream_is_mmengines_and_any_start_is_its_tail():
    one = _take(_sampler(), 24)
    inner = InfiniteSampler(list(range(10)), seed=3)
    assert [i for i, _ in one] == list(itertools.islice(iter(inner), 24))  # mmengine's order, from its seed
    assert [p for _, p in one] == list(range(24))
    assert _take(_sampler(start=7), 17) == one[7:]  # a resume at sample 7 continues exactly there


def test_ranks_share_the_stream_as_one_process_would_see_it():
    one = _take(_sampler(), 24)
    r0, r1 = _take(_sampler(2, 0), 12), _take(_sampler(2, 1), 12)
    assert sorted(r0 + r1, key=lambda x: x[1]) == one  # the same indices at the same positions
    assert r0 == [x for x in one if x[1] % 2 == 0]  # dealt rank after rank, as mmengine deals them
    assert _take(_sampler(2, 1, start=3), 9) == r1[3:]  # rank 1 resumed after its 3rd sample


class _Draws:
    def __len__(self):
        return 10

    def __getitem__(self, idx):
        return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_draws_are_a_function_of_the_position_and_leave_the_callers_generators():
    ds = SeededDataset(_Draws(), seed=0)
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    before = random.random(), float(np.random.rand()), float(torch.rand(()))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    a = ds[Position(4, 7)]
    assert ds[Position(2, 7)] == a  # the same position, whatever the index or what was loaded before
    assert ds[Position(4, 8)] != a
    assert SeededDataset(_Draws(), seed=1)[Position(4, 7)] != a
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == before  # untouched
