"""Convert official U-MixFormer checkpoints (APFormerHead2 / APFormerHeadCity and
their "-multi" variants) to this project's UMixFormerHead layout.

Modules the official forward never uses are dropped (the attention's ``sr`` and
``norm`` in the ADE20K head, ``sr2`` in the Cityscapes head, the base class's
``conv_seg``); ``linear_pred`` becomes ``conv_seg``. Keys outside
``decode_head.`` (the MiT encoder) keep their names. Any other key is an error.
"""
import argparse
import os
import re
import tempfile
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch

HEAD = 'decode_head.'
# official decoder block attn_cN feeds decoder stage N; ours are numbered deepest first
_BLOCK = {'4': 0, '3': 1, '2': 2, '1': 3}


class ConversionError(ValueError):
    """A key of the official checkpoint has no place in this layout."""


def _head_kind(keys: List[str]) -> str:
    return 'cityscapes' if any('.attn.sr1.' in k for k in keys) else 'ade20k'


def _rules(kind: str, offset: int) -> List[Tuple[re.Pattern, Optional[Callable]]]:
    """(pattern, new name or None to drop) for the keys after ``decode_head.``."""
    attn = {'q': 'attn.q', 'kv': 'attn.kv', 'proj': 'attn.proj'}
    if kind == 'cityscapes':
        attn.update({'sr1': 'attn.q_sr', 'norm1': 'attn.q_norm', 'norm2': 'attn.kv_norm'})
        dead = r'sr2'
    else:
        dead = r'sr|norm'
    P = re.compile
    return [
        (P(r'attn_c([1-4])\.(norm[123])\.(weight|bias)'),
         lambda m: f'blocks.{_BLOCK[m[1]]}.{m[2]}.{m[3]}'),
        (P(rf'attn_c([1-4])\.attn\.({"|".join(attn)})\.(weight|bias)'),
         lambda m: f'blocks.{_BLOCK[m[1]]}.{attn[m[2]]}.{m[3]}'),
        (P(rf'attn_c[1-4]\.attn\.({dead})\.(weight|bias)'), None),
        (P(r'attn_c([1-4])\.mlp\.(fc1|fc2)\.(weight|bias)'),
         lambda m: f'blocks.{_BLOCK[m[1]]}.ffn.{m[2]}.{m[3]}'),
        (P(r'attn_c([1-4])\.mlp\.dwconv\.dwconv\.(weight|bias)'),
         lambda m: f'blocks.{_BLOCK[m[1]]}.ffn.dwconv.{m[2]}'),
        # cat_keyK feeds decoder stage K (deepest first); sr_list holds the convs
        # of the sources with pool ratio > 1, in source order, then the taps
        (P(r'cat_key([1-4])\.sr_list\.(\d+)\.(weight|bias)'),
         lambda m: f'kv_pools.{int(m[1]) - 1}.convs.{int(m[2]) + offset}.{m[3]}'),
        (P(r'linear_fuse\.conv\.(weight|bias)'), lambda m: f'fuse.conv.{m[1]}'),
        (P(r'linear_fuse\.bn\.(weight|bias|running_mean|running_var|num_batches_tracked)'),
         lambda m: f'fuse.bn.{m[1]}'),
        (P(r'linear_pred\.(weight|bias)'), lambda m: f'conv_seg.{m[1]}'),
        (P(r'conv_seg\.(weight|bias)'), None),
    ]


def convert_official_state_dict(state_dict: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Official layout -> UMixFormerHead layout (see the module docstring).

    Raises:
        ConversionError: naming the first key that fits no rule.
    """
    keys = list(state_dict)
    head_keys = [k[len(HEAD):] for k in keys if k.startswith(HEAD)]
    if not head_keys:
        raise ConversionError('no decode_head.* keys: not a segmentor checkpoint')
    kind = _head_kind(head_keys)
    # the ADE20K head's deepest source has pool ratio 1 and no conv
    rules = _rules(kind, offset=1 if kind == 'ade20k' else 0)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key in keys:
        if not key.startswith(HEAD):
            if key.startswith(('backbone.', 'auxiliary_head.', 'data_preprocessor.')):
                out[key] = state_dict[key]
                continue
            raise ConversionError(f'unexpected key {key!r}: neither backbone nor decode_head')
        name = key[len(HEAD):]
        for pattern, target in rules:
            m = pattern.fullmatch(name)
            if m:
                if target is not None:
                    out[HEAD + target(m)] = state_dict[key]
                break
        else:
            raise ConversionError(f'unexpected key {key!r} for the official {kind} head layout')
    return out


def convert_official_checkpoint(src: str, dst: str, overwrite: bool = False) -> Dict[str, int]:
    """Reads a checkpoint file (a state dict, or a dict with ``state_dict``),
    writes the converted one atomically to ``dst``; returns key counts."""
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(f'{dst} exists; pass overwrite=True (--overwrite) to replace it')
    ckpt = torch.load(src, map_location='cpu', weights_only=False)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, Mapping):
        raise ConversionError(f'{src}: no state dict inside')
    converted = convert_official_state_dict(state)
    payload = {'state_dict': converted, 'meta': {'converted_from': os.path.abspath(src)}}
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dst)) or '.', suffix='.part')
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return {'read': len(state), 'written': len(converted), 'dropped': len(state) - len(converted)}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog='umixformer-convert',
        description='Convert an official U-MixFormer checkpoint to this project\'s layout.')
    parser.add_argument('src', help='official checkpoint (.pth)')
    parser.add_argument('dst', help='where to write the converted checkpoint')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing dst')
    args = parser.parse_args(argv)
    try:
        counts = convert_official_checkpoint(args.src, args.dst, args.overwrite)
    except (ConversionError, FileExistsError, FileNotFoundError) as err:
        parser.exit(2, f'umixformer-convert: error: {err}\n')
    print(f'{args.dst}: {counts["written"]} keys written, {counts["dropped"]} unused official '
          f'keys dropped (of {counts["read"]})')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())


# The official heads' BaseDecodeHead ``channels`` (only their dead conv_seg
# uses it): 256 in the U-MixFormer configs (SegFormer base), 128 in FeedFormer's.
_OFFICIAL_CONV_SEG_IN = {'UMixFormerHead': 256, 'FeedFormerHead': 128}


def official_unused_params(model: torch.nn.Module) -> int:
    """Parameters the official layout of ``model``'s decode head carries but
    never uses (0 for heads of other families).

    U-MixFormer (per block, with kv width T): the ADE20K head's attention
    builds a 1x1 conv T->T and a LayerNorm(T), the Cityscapes head a 1x1 conv
    T->T; both build the base class's conv_seg besides linear_pred.
    FeedFormer: only the base class's conv_seg.
    """
    from ..models.decode_heads import FeedFormerHead, UMixFormerHead

    head = getattr(model, 'decode_head', model)
    if not isinstance(head, UMixFormerHead):
        return 0
    kind = type(head).__name__ if isinstance(head, FeedFormerHead) else 'UMixFormerHead'
    n = head.num_classes * _OFFICIAL_CONV_SEG_IN[kind] + head.num_classes
    if kind == 'UMixFormerHead':
        for block in head.blocks:
            t = block.norm2.normalized_shape[0]
            n += t * t + t  # the unused pooled-kv conv
            if block.attn.query_pool == 1:
                n += 2 * t  # the ADE20K head's unused LayerNorm
    return n
