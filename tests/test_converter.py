"""Official checkpoint layout -> ours: same logits as the spec's reference."""
import os

import pytest
import torch

from conftest import DATA_DIR
from spec_reference import official_head_logits, read_official_layout
from test_heads_official import random_state
from umixformer.converters import convert_official_checkpoint, convert_official_state_dict
from umixformer.converters.official import ConversionError, main as convert_main
from umixformer.models.decode_heads import UMixFormerHead

LAYOUT = read_official_layout(os.path.join(DATA_DIR, 'official-checkpoint-keys.txt'))
VARIANTS = {
    'APFormerHead2': dict(num_classes=150, kv_stride=32, query_pool=1, kv_norm=False),
    'APFormerHeadCity': dict(num_classes=19, kv_stride=64, query_pool=2, kv_norm=True),
}


def _official_state(section, seed=0):
    sd = random_state(LAYOUT[section], seed)
    g = torch.Generator().manual_seed(seed)
    sd['backbone.layers.0.0.projection.weight'] = torch.randn(32, 3, 7, 7, generator=g)
    return sd


def _head(**kw):
    return UMixFormerHead(in_channels=[32, 64, 160, 256], in_index=[0, 1, 2, 3], channels=128,
                          dropout_ratio=0.1, norm_cfg=dict(type='BN', requires_grad=True),
                          align_corners=False, **kw).eval()


def _feats(hw=(32, 48), seed=1):
    g = torch.Generator().manual_seed(seed)
    H, W = hw
    return [torch.randn(2, c, H // s, W // s, generator=g)
            for c, s in zip((32, 64, 160, 256), (1, 2, 4, 8))]


@pytest.mark.parametrize('section', sorted(VARIANTS))
def test_round_trip_matches_spec_reference(section):
    official = _official_state(section)
    converted = convert_official_state_dict(official)
    head_sd = {k[len('decode_head.'):]: v for k, v in converted.items()
               if k.startswith('decode_head.')}
    head = _head(**VARIANTS[section])
    head.load_state_dict(head_sd, strict=True)
    assert converted['backbone.layers.0.0.projection.weight'] is official[
        'backbone.layers.0.0.projection.weight']
    feats = _feats()
    ref_sd = {k[len('decode_head.'):]: v for k, v in official.items() if k.startswith('decode_head.')}
    with torch.no_grad():
        ours = head(feats)
        ref = official_head_logits(ref_sd, feats)
        head.blocks.apply(lambda m: setattr(m, 'fused', False) if hasattr(m, 'fused') else None)
        plain = head(feats)
    assert ours.shape == (2, VARIANTS[section]['num_classes'], 32, 48)
    assert torch.allclose(ours, ref, atol=1e-4, rtol=1e-4), (ours - ref).abs().max()
    assert torch.allclose(plain, ref, atol=1e-4, rtol=1e-4)
    # dropped: conv_seg (2 keys) + per block attn.sr and attn.norm (ADE) or attn.sr2 (City)
    assert len(official) - len(converted) == (18 if section == 'APFormerHead2' else 10)


def test_unexpected_key_is_named():
    sd = _official_state('APFormerHead2')
    sd['decode_head.attn_c4.attn.rel_pos.weight'] = torch.zeros(3)
    with pytest.raises(ConversionError, match=r"decode_head\.attn_c4\.attn\.rel_pos\.weight"):
        convert_official_state_dict(sd)
    with pytest.raises(ConversionError, match='neither backbone nor decode_head'):
        convert_official_state_dict({'neck.x': torch.zeros(1), **_official_state('APFormerHead2')})


def test_command_writes_atomically_and_refuses_overwrite(tmp_path, capsys):
    src, dst = tmp_path / 'official.pth', tmp_path / 'converted.pth'
    torch.save({'state_dict': _official_state('APFormerHeadCity'), 'meta': {}}, src)
    assert convert_main([str(src), str(dst)]) == 0
    assert 'unused official keys dropped' in capsys.readouterr().out
    loaded = torch.load(dst, weights_only=False)['state_dict']
    assert 'decode_head.conv_seg.weight' in loaded and 'decode_head.linear_pred.weight' not in loaded
    with pytest.raises(FileExistsError):
        convert_official_checkpoint(str(src), str(dst))
    assert not [p for p in os.listdir(tmp_path) if p.endswith('.part')]
