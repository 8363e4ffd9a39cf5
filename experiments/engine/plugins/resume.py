"""Resume without reading the data again: the training stream positioned, not replayed.

mmengine's ``IterBasedTrainLoop`` resumes by calling ``next()`` on the data loader once
per iteration already trained, so every skipped batch is read, decoded and augmented
(hours at iteration 100,000). Here the training data loader is built so that its
position is all a resume needs:

* ``PositionedSampler`` yields this rank's share of the sampler's index stream (the same
  order, from the same seed) from any position on, each index carrying its position in
  the whole stream;
* ``SeededDataset`` draws each sample's augmentation from generators seeded by (the run's
  seed, the position), so the draws do not depend on which process or worker loads the
  sample, what it loaded before, or how many processes share the stream (N processes
  with batch B draw what one process with batch N x B draws); the loading process's own
  generators are left as they were (the model's dropout draws stay the training's own).

On resume (``ExactResumeHook``) the sampler starts at ``iteration x batch``, the skipped
``next()`` calls return at once, and the generators are restored from the checkpoint: the
run continues with exactly the batches and draws of an uninterrupted one. The draws'
scheme is in every training's record key (``experiments.planning.tasks.TRAINING_DRAWS``).
"""
import copy
import itertools
import random
from typing import Any, Iterator

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import InfiniteSampler
from mmengine.runner import Runner
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler


class Position(int):
    """A dataset index that also says where in the sampler's stream it stands."""

    position: int

    def __new__(cls, index: int, position: int) -> 'Position':
        obj = super().__new__(cls, index)
        obj.position = position
        return obj

    def __reduce__(self):  # to loader workers, with its position
        return Position, (int(self), self.position)


class PositionedSampler(Sampler):
    """This rank's share of an ``InfiniteSampler``'s index stream (from its seed, rank after
    rank as mmengine deals it), from this rank's ``start``-th index on, as ``Position``
    indices that hold their place in the whole stream.

    Args:
        sampler (InfiniteSampler): the training's sampler (its seed, shuffle, rank).
    """

    def __init__(self, sampler: InfiniteSampler) -> None:
        self.sampler = sampler
        self.seed = sampler.seed
        self.rank, self.world_size = sampler.rank, sampler.world_size
        self.start = 0

    def __iter__(self) -> Iterator[Position]:
        stream = enumerate(self.sampler._infinite_indices())  # a fresh stream from the seed (mmengine's order)
        mine = itertools.islice(stream, self.rank + self.start * self.world_size, None, self.world_size)
        for position, index in mine:
            yield Position(index, position)

    def __len__(self) -> int:
        return len(self.sampler)


class SeededDataset(Dataset):
    """A dataset whose ``Position`` items are loaded under generators seeded by (seed,
    position); plain indices load as they are.

    Args:
        dataset: the training dataset.
        seed (int): the run's seed.
    """

    def __init__(self, dataset: Any, seed: int) -> None:
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:  # metainfo, pipeline, ...
        if name == 'dataset':
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, idx):
        position = getattr(idx, 'position', None)
        if position is None:
            return self.dataset[idx]
        saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
        seeds = np.random.SeedSequence([self.seed, position]).generate_state(3)
        random.seed(int(seeds[0]))
        np.random.seed(int(seeds[1]))
        torch.random.default_generator.manual_seed(int(seeds[2]))  # the CPU generator only
        try:
            return self.dataset[int(idx)]
        finally:
            random.setstate(saved[0])
            np.random.set_state(saved[1])
            torch.set_rng_state(saved[2])


def positioned(loader: Any) -> Any:
    """The training loader rebuilt over ``PositionedSampler`` and ``SeededDataset`` (the
    same batch size, workers, collate and worker init); any other loader as it is."""
    if not (isinstance(loader, DataLoader) and isinstance(loader.sampler, InfiniteSampler)
            and type(loader.batch_sampler) is BatchSampler):
        return loader
    sampler = PositionedSampler(loader.sampler)
    extra = dict(prefetch_factor=loader.prefetch_factor) if loader.num_workers else {}
    return DataLoader(SeededDataset(loader.dataset, sampler.seed), batch_size=loader.batch_size,
                      sampler=sampler, num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      pin_memory=loader.pin_memory, drop_last=loader.drop_last, timeout=loader.timeout,
                      worker_init_fn=loader.worker_init_fn, multiprocessing_context=loader.multiprocessing_context,
                      generator=loader.generator, persistent_workers=loader.persistent_workers,
                      pin_memory_device=loader.pin_memory_device, **extra)


class _FormattedOnce(Config):
    """A Runner's config whose text is made once per content and not run through yapf:
    mmengine formats it (0.44 s on a CPU) for every checkpoint it saves and every log of
    it, a fifth of a check-profile task (Table 1's check: 24 of 121 s). The text is
    mmengine's own, unwrapped (still a config file that loads); it is kept beside the
    content it was made from (``repr`` of the dict, a millisecond), so a config changed
    later still gets its own text."""

    @property
    def pretty_text(self) -> str:
        content = repr(self._cfg_dict)
        kept = self.__dict__.get('_umix_text')
        if kept is None or kept[0] != content:
            wrap = self.__dict__.get('_format_python_code', True)
            self.__dict__['_format_python_code'] = False
            try:
                kept = (content, Config.pretty_text.fget(self))
            finally:
                self.__dict__['_format_python_code'] = wrap
            self.__dict__['_umix_text'] = kept
        return kept[1]


class PositionedRunner(Runner):
    """mmengine's Runner whose training loader is positioned (see the module's doc), and
    whose config text is formatted once (``_FormattedOnce``)."""

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'PositionedRunner':
        if type(cfg) is Config:  # a shallow copy of another class: mmengine deep-copies it (keeping the class)
            cfg = copy.copy(cfg)
            object.__setattr__(cfg, '__class__', _FormattedOnce)  # Config's own setattr writes keys
        return super().from_cfg(cfg)

    @staticmethod
    def build_dataloader(dataloader: Any, seed: Any = None, diff_rank_seed: bool = False) -> Any:
        return positioned(Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed))


class SkipTo:
    """The loop's data iterator on resume: the ``n`` skipped ``next()`` calls of mmengine's
    loop return at once (the stream already starts after them); then the generators are
    restored from the checkpoint and batches pass through."""

    def __init__(self, iterator: Any, n: int, restore) -> None:
        self._it, self._n, self._restore = iterator, n, restore

    def __iter__(self):
        return self

    def __next__(self):
        if self._n > 0:
            self._n -= 1
            return None
        if self._restore is not None:
            restore, self._restore = self._restore, None
            restore()
        return next(self._it)

    def __getattr__(self, name):  # the rest of mmengine's iterator
        return getattr(self._it, name)


def resume_at(loop: Any, restore) -> bool:
    """Positions a resumed IterBasedTrainLoop's data at its iteration without loading;
    ``restore`` (the generators' states) runs before the first new batch. False when the
    loop's loader is not positioned (it is then replayed)."""
    sampler = getattr(loop.dataloader, 'sampler', None)
    if not isinstance(sampler, PositionedSampler):
        return False
    sampler.start = loop.iter * loop.dataloader.batch_size  # this rank's samples already trained
    fresh = type(loop.dataloader_iterator)(loop.dataloader)  # mmengine's infinite iterator, from the new start
    loop.dataloader_iterator = SkipTo(fresh, loop.iter, restore)
    return True
