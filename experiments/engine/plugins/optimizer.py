"""AdamW that updates all parameter groups of equal settings in one call.

mmengine's ``DefaultOptimWrapperConstructor`` gives every parameter its own group
when the config has a ``paramwise_cfg`` (the official recipe: norm and position
parameters without weight decay, the head at 10x the learning rate), so torch's
AdamW runs its update once per parameter: 253 calls per step for U-MixFormer-B0
(on a GPU, a handful of kernel launches each). ``GroupedAdamW`` keeps those groups
(the optimizer state, the checkpoints and mmengine's schedulers see exactly what
they see with ``AdamW``) and, for the step only, merges the groups whose settings
are equal, so each set is updated in one call of torch's own update. Every
parameter gets the same arithmetic as with ``AdamW`` (torch's update is elementwise
per parameter and picks its implementation, single-tensor or foreach, from the
device as before): ``tests/test_fused_training.py`` checks the parameters after
optimizer steps are bit-identical.
"""
from typing import Callable, Optional

import torch
from mmseg.registry import OPTIMIZERS

# the group settings torch's Adam/AdamW read in a step; groups equal in all of them share one update
_SETTINGS = ('lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'maximize', 'foreach', 'capturable', 'differentiable',
             'fused', 'decoupled_weight_decay')


def _setting_key(group: dict) -> tuple:
    # a tensor learning rate (capturable schedules) is compared by identity, never by value
    return tuple(id(v) if isinstance(v, torch.Tensor) else v for v in (group.get(k) for k in _SETTINGS))


@OPTIMIZERS.register_module()
class GroupedAdamW(torch.optim.AdamW):
    """``torch.optim.AdamW`` with one update per set of equal group settings.

    Args: those of ``torch.optim.AdamW``.
    """

    def add_param_group(self, param_group: dict) -> None:
        # torch checks a new group against a set of every earlier group's parameters, made
        # anew for each group: quadratic in mmengine's one group per parameter (MiT-B5's 850
        # groups: 0.7 s per training). The same checks, against a set kept across calls.
        earlier = self.param_groups
        self.param_groups = earlier[-1:]  # torch's own checks; one earlier group for its names rule
        try:
            super().add_param_group(param_group)
            (group, ) = self.param_groups[len(earlier[-1:]):]
        finally:
            self.param_groups = earlier
        # (the groups list it was made for, its length then, the parameters): made again when
        # param_groups was replaced or changed since (load_state_dict, a copy)
        seen = self.__dict__.get('_grouped_seen')
        if seen is None or seen[0] is not earlier or seen[1] != len(earlier):
            seen = (earlier, len(earlier), {p for g in earlier for p in g['params']})
        if not seen[2].isdisjoint(group['params']):
            raise ValueError('some parameters appear in more than one parameter group')
        earlier.append(group)
        seen[2].update(group['params'])
        self._grouped_seen = (earlier, len(earlier), seen[2])

    def step(self, closure: Optional[Callable] = None):
        groups = self.param_groups
        merged = {}
        for group in groups:
            merged.setdefault(_setting_key(group), dict(group, params=[]))['params'].extend(group['params'])
        self.param_groups = list(merged.values())
        try:
            return super().step(closure)
        finally:
            self.param_groups = groups


def grouped(optim_wrapper: dict) -> dict:
    """The optim_wrapper config with ``AdamW`` stepped by ``GroupedAdamW`` (any other
    optimizer unchanged): how the suite trains (``run_train``, ``calibrate``)."""
    optimizer = optim_wrapper.get('optimizer') or {}
    if optimizer.get('type') not in ('AdamW', torch.optim.AdamW):
        return optim_wrapper
    return dict(optim_wrapper, optimizer=dict(optimizer, type='GroupedAdamW'))
