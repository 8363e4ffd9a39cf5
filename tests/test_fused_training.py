"""Training with the fused computation (``umixformer.optimize.set_fused``: fused attention in
the MiT encoder and the head, the projected-first fuse) is the official function: one step
from the same weights and batch gives the same loss, gradients and updated parameters, to
float64 rounding (1e-10) and within a stated float32 tolerance; and a 200-step training
follows the official computation's loss curve. The optimizer the suite trains with
(``GroupedAdamW``: AdamW stepped once per set of equal group settings) gives bit-identical
parameters and state to the config's AdamW."""
import copy
import os

import pytest
import torch
from conftest import CONFIG_DIR
from mmengine.optim import build_optim_wrapper
from test_training_step import batch

from experiments.engine.plugins.optimizer import GroupedAdamW, grouped
from umixformer.apis import load_config
from umixformer.complexity import build_segmentor
from umixformer.optimize import computation, set_fused

FAMILIES = ['umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',  # fused encoder and head, fast fuse
            'segformer/segformer_mit-b0_1xb16-160k_ade20k-512x512.py',  # fused encoder (mmseg's head)
            'feedformer/feedformer_lvt_1xb16-160k_ade20k-512x512.py']  # fused head attention (LVT encoder)
# float32: the largest gradient difference, relative to the largest gradient of the model
FLOAT32_GRAD_TOLERANCE = 1e-5  # measured: at most 1.0e-6 (float64: 1.5e-15)


def _step(config, fused, dtype, seed=0):
    """(loss, {name: grad}, {name: param after one SGD step}, model) of one training step. SGD,
    not AdamW: Adam's first step moves every weight by lr x sign(grad), so a gradient
    that is zero up to rounding would move by +-lr either way (the 200-step test below
    runs the config's AdamW)."""
    torch.manual_seed(seed)
    model = build_segmentor(os.path.join(CONFIG_DIR, config), eval_mode=False).train().to(dtype)
    set_fused(model, fused)
    imgs, samples = batch(model.decode_head.num_classes)
    optim = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.manual_seed(1)  # the same drop-path and dropout draws in both computations
    loss = model(imgs.to(dtype), samples, mode='loss')['decode.loss_ce']
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    optim.step()
    return float(loss), grads, {n: p.detach().clone() for n, p in model.named_parameters()}, model


@pytest.mark.parametrize('config', FAMILIES)
def test_one_step_is_the_official_step(config):
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, FLOAT32_GRAD_TOLERANCE)):
        loss_o, grads_o, params_o, _ = _step(config, False, dtype)
        loss_f, grads_f, params_f, model = _step(config, True, dtype)
        assert any(v for v in computation(model).values()), 'nothing fused: the test compares a model with itself'
        assert grads_o.keys() == grads_f.keys()
        scale = max(g.abs().max().item() for g in grads_o.values())
        worst = max((grads_o[n] - grads_f[n]).abs().max().item() for n in grads_o) / scale
        assert abs(loss_o - loss_f) <= tol * max(1.0, abs(loss_o)), (dtype, loss_o, loss_f)
        assert worst <= tol, f'{dtype}: gradients differ by {worst:.3g} of the largest'
        moved = max((params_o[n] - params_f[n]).abs().max().item() for n in params_o)
        assert moved <= 10 * tol, f'{dtype}: parameters after the step differ by {moved:.3g}'


def test_200_steps_follow_the_official_loss_curve():
    """The same 200 AdamW steps (the config's optimizer, param groups and all) on the
    learnable two-region batch: per step the fused computation's loss stays within 2 % of
    the official computation's (float32 rounding, amplified by 200 updates)."""
    config = FAMILIES[0]
    curves = {}
    for fused in (False, True):
        torch.manual_seed(0)
        model = build_segmentor(os.path.join(CONFIG_DIR, config), eval_mode=False).train()
        set_fused(model, fused)
        cfg = load_config(os.path.join(CONFIG_DIR, config))
        # the official run's AdamW, or as the suite trains: GroupedAdamW
        optim = build_optim_wrapper(model, grouped(cfg.optim_wrapper) if fused else cfg.optim_wrapper)
        imgs, samples = batch(model.decode_head.num_classes, hw=(32, 32))
        torch.manual_seed(1)
        curve = []
        for _ in range(200):
            loss = model(imgs, samples, mode='loss')['decode.loss_ce']
            optim.update_params(loss)
            curve.append(loss.item())
        curves[fused] = curve
    rel = [abs(a - b) / a for a, b in zip(curves[False], curves[True])]
    assert max(rel) <= 0.02, f'worst {max(rel):.4f} at step {rel.index(max(rel))}'
    assert curves[True][-1] < 0.2 * curves[True][0]  # and it learns


# torch's default on the CPU (single-tensor), and foreach: its default on a GPU, run here on the CPU
@pytest.mark.parametrize('foreach', [None, True], ids=['cpu-default', 'foreach-as-on-gpu'])
def test_grouped_adamw_is_the_configs_adamw_bit_for_bit(foreach):
    """The config's optim_wrapper (AdamW, one param group per parameter from its paramwise_cfg)
    against the same with GroupedAdamW, under the config's schedulers: parameters and optimizer
    state equal bit for bit after every step, the same groups, fewer update calls; each one's
    state_dict resumes the other (checkpoints of either kind resume)."""
    import importlib
    import unittest.mock

    from mmengine.optim.scheduler import LinearLR, PolyLR
    cfg = load_config(os.path.join(CONFIG_DIR, FAMILIES[0]))
    cfg.optim_wrapper.optimizer.foreach = foreach
    torch.manual_seed(0)
    base = build_segmentor(cfg, eval_mode=False).train()
    models = [base, copy.deepcopy(base)]
    optims = [build_optim_wrapper(models[0], copy.deepcopy(cfg.optim_wrapper)),
              build_optim_wrapper(models[1], grouped(cfg.optim_wrapper))]
    assert type(optims[0].optimizer) is torch.optim.AdamW and type(optims[1].optimizer) is GroupedAdamW
    groups = optims[0].optimizer.param_groups
    # 253 groups of 3 settings: the encoder with and without weight decay, the head at 10x lr
    assert len(groups) == 253 and len({(g['lr'], g['weight_decay']) for g in groups}) == 3
    scheds = [[LinearLR(o, start_factor=1e-6, by_epoch=False, begin=0, end=3),
               PolyLR(o, eta_min=0.0, power=1.0, by_epoch=False, begin=3, end=8)] for o in optims]
    calls = {}
    adam_module = importlib.import_module('torch.optim.adam')  # where Adam.step finds the update
    real = adam_module.adam

    def counted(*args, **kwargs):  # torch's update, once per call of it
        calls['n'] = calls.get('n', 0) + 1
        return real(*args, **kwargs)

    def step(k, i):
        gen = torch.Generator().manual_seed(i)
        for p in models[k].parameters():
            p.grad = torch.randn(p.shape, generator=gen)
        optims[k].step()
        for s in scheds[k]:
            s.step()

    def same():
        a, b = (o.optimizer.state_dict() for o in optims)
        assert a['param_groups'] == b['param_groups']
        assert all(torch.equal(a['state'][i][n], b['state'][i][n]) for i in a['state'] for n in a['state'][i])
        return all(torch.equal(p, q) for p, q in zip(models[0].parameters(), models[1].parameters()))

    for i in range(6):
        with unittest.mock.patch.object(adam_module, 'adam', counted):
            calls.clear()
            step(0, i)
            official = calls['n']
            calls.clear()
            step(1, i)
            ours = calls['n']
        assert (official, ours) == (253, 3)
        assert same(), f'parameters differ after step {i + 1}'
    # crosswise resume: each continues from the other's state
    states = [o.optimizer.state_dict() for o in optims]
    optims[0].optimizer.load_state_dict(states[1])
    optims[1].optimizer.load_state_dict(states[0])
    for i in range(6, 8):
        step(0, i)
        step(1, i)
        assert same(), f'parameters differ after resumed step {i + 1}'


def test_grouped_adamw_checks_its_groups_as_torch_does_in_linear_time():
    """mmengine gives every parameter its own group; torch's add_param_group checks each new one
    against all earlier ones anew (quadratic: 0.7 s per MiT-B5 training). GroupedAdamW makes the
    same groups and refuses the same inputs, in a fraction of the time."""
    import time
    params = [torch.nn.Parameter(torch.zeros(3)) for _ in range(600)]
    spent, built = {}, {}
    for cls in (torch.optim.AdamW, GroupedAdamW):
        start = time.perf_counter()
        built[cls] = cls([{'params': [p], 'lr': 1e-3 * (1 + i % 3)} for i, p in enumerate(params)], lr=1e-3)
        spent[cls] = time.perf_counter() - start
        for bad in ([{'params': [params[0]]}, {'params': [params[0]]}],  # one parameter in two groups
                    [{'params': [('a', params[0])]}, {'params': [params[1]]}]):  # names in some groups only
            with pytest.raises(ValueError) as err:
                cls(bad, lr=1e-3)
            assert str(err.value) == str(pytest.raises(ValueError, torch.optim.AdamW, bad, lr=1e-3).value)
        opt = built[cls]
        opt.load_state_dict(opt.state_dict())  # new group dicts: the check still sees every parameter
        with pytest.raises(ValueError, match='more than one parameter group'):
            opt.add_param_group({'params': [params[7]]})
        opt.add_param_group({'params': [torch.nn.Parameter(torch.zeros(2))]})
    a, b = (built[c].state_dict()['param_groups'] for c in (torch.optim.AdamW, GroupedAdamW))
    assert a == b and len(a) == 601
    assert spent[GroupedAdamW] < 0.25 * spent[torch.optim.AdamW], spent
