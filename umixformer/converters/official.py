"""Convert official U-MixFormer checkpoints to this project's UMixFormerHead layout.

Every official head of ``layouts.OFFICIAL_HEADS`` is accepted: the Table 1/2
heads (APFormerHead2, APFormerHeadCity, APFormerHeadMulti) and the ablation
heads (APFormerHead, APFormerHeadSingle, APFormerHead2_rebuttal, the fedaa81
APFormerHeadMulti). The head is identified from the keys and shapes; a layout
that fits none is an error. Modules the official forward never uses are
dropped (per head: see ``OfficialHead.dead``); ``linear_pred`` becomes
``conv_seg``. Keys outside ``decode_head.`` (the encoder) keep their names.
"""
from umixformer_config.errors import UmixformerError
import argparse
import os
import re
import tempfile
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Tuple

import torch

from ..safe_load import CheckpointError, load, state_dict_of
from .layouts import OfficialHead, UnknownLayoutError, conv_positions, identify

HEAD = 'decode_head.'


class ConversionError(UmixformerError, ValueError):
    """A key of the official checkpoint has no place in this layout."""


def _rules(head: OfficialHead, num_taps: int) -> List[Tuple[re.Pattern, Optional[Callable]]]:
    """(pattern, new name or None to drop) for the keys after ``decode_head.``."""
    block = {str(stage): i for i, stage in enumerate(head.decoded_stages)}  # attn_cN -> blocks.i
    positions = conv_positions(head, num_taps)
    attn = {'q': 'attn.q', 'kv': 'attn.kv', 'proj': 'attn.proj'}
    if not head.ade_attention:
        attn.update({'sr1': 'attn.q_sr', 'norm1': 'attn.q_norm', 'norm2': 'attn.kv_norm'})
    live = '|'.join(block)

    def cat_key(m) -> str:
        pool = 0 if m[1] is None else int(m[1]) - 1  # APFormerHead's one cat_key: pool 0
        conv = positions[pool][int(m[2] or 0)]
        return f'kv_pools.{pool}.convs.{conv}.{m[3]}'

    P = re.compile
    return [(P(d), None) for d in head.dead] + [
        (P(rf'attn_c([{live}])\.(norm[123])\.(weight|bias)'), lambda m: f'blocks.{block[m[1]]}.{m[2]}.{m[3]}'),
        (P(rf'attn_c([{live}])\.attn\.({"|".join(attn)})\.(weight|bias)'),
         lambda m: f'blocks.{block[m[1]]}.{attn[m[2]]}.{m[3]}'),
        (P(rf'attn_c([{live}])\.mlp\.(fc1|fc2)\.(weight|bias)'), lambda m: f'blocks.{block[m[1]]}.ffn.{m[2]}.{m[3]}'),
        (P(rf'attn_c([{live}])\.mlp\.dwconv\.dwconv\.(weight|bias)'),
         lambda m: f'blocks.{block[m[1]]}.ffn.dwconv.{m[2]}'),
        # cat_keyK feeds decoder stage K (deepest first); its sr_list holds the
        # convs of the sources that have one, in source order, then the taps
        (P(r'cat_key([1-4])?\.sr_list(?:\.(\d+))?\.(weight|bias)'), cat_key),
        (P(r'linear_fuse\.conv\.(weight|bias)'), lambda m: f'fuse.conv.{m[1]}'),
        (P(r'linear_fuse\.bn\.(weight|bias|running_mean|running_var|num_batches_tracked)'),
         lambda m: f'fuse.bn.{m[1]}'),
        (P(r'linear_pred\.(weight|bias)'), lambda m: f'conv_seg.{m[1]}'),
    ]


def identify_official_state_dict(state_dict: Mapping[str, torch.Tensor]) -> Tuple[OfficialHead, Dict]:
    """The official head of a segmentor state dict and its widths (see ``layouts.identify``)."""
    head_sd = {k[len(HEAD):]: v for k, v in state_dict.items() if k.startswith(HEAD)}
    if not head_sd:
        raise ConversionError('no decode_head.* keys: not a segmentor checkpoint')
    try:
        return identify(head_sd)
    except UnknownLayoutError as err:
        raise ConversionError(str(err)) from None


def convert_official_state_dict(state_dict: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Official layout -> UMixFormerHead layout (see the module docstring).

    Raises:
        ConversionError: for an unknown head layout, or naming the first key
            that fits no rule of the identified head.
    """
    head, info = identify_official_state_dict(state_dict)
    num_taps = len(info['in_channels']) - 4
    rules = _rules(head, num_taps)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    for key in state_dict:
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
                    try:
                        out[HEAD + target(m)] = state_dict[key]
                    except IndexError:
                        raise ConversionError(f'unexpected key {key!r}: the official {head.name} layout '
                                              'has no such key/value conv') from None
                break
        else:
            raise ConversionError(f'unexpected key {key!r} for the official {head.name} layout')
    return out


def convert_official_checkpoint(src: str, dst: str, overwrite: bool = False) -> Dict[str, int]:
    """Reads a checkpoint file (a state dict, or a dict with ``state_dict``),
    writes the converted one atomically to ``dst``; returns key counts."""
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(f'{dst} exists; pass overwrite=True (--overwrite) to replace it')
    state = state_dict_of(load(src), src)  # data only: a crafted file is refused, not run
    converted = convert_official_state_dict(state)
    payload = {'state_dict': converted, 'meta': {'converted_from': os.path.abspath(src)}}
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dst)) or '.', suffix='.part')
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)  # mkstemp makes 0600: respect the umask
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
    except (ConversionError, CheckpointError, FileExistsError, FileNotFoundError) as err:
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

    U-MixFormer heads (``layouts.dead_params``): per block a 1x1 conv on the
    keys/values (and, ADE20K attention, a LayerNorm), the base class's
    conv_seg, and per ablation head its dead modules. FeedFormer: conv_seg.
    """
    from ..models.decode_heads import FeedFormerHead, UMixFormerHead
    from .layouts import dead_params

    head = getattr(model, 'decode_head', model)
    if isinstance(head, FeedFormerHead):
        return head.num_classes * _OFFICIAL_CONV_SEG_IN['FeedFormerHead'] + head.num_classes
    if not isinstance(head, UMixFormerHead):
        return 0
    return dead_params(head, _OFFICIAL_CONV_SEG_IN['UMixFormerHead'])
