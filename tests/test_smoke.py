"""The README's main job, for U-MixFormer-B0: the smoke profile learns the
built-in ADE20K-layout data well above chance (mIoU > 50 %) in minutes, and its
console looks as the README's "What you will see" says."""
import re

from conftest import ROOT
from experiments.cli import main
from experiments.store import Store

MMENGINE_LINE = re.compile(r'^\d{2}/\d{2} \d{2}:\d{2}:\d{2} - mmengine - ')


def _shape(line: str) -> str:
    """A console line with its numbers, hashes and timings blanked."""
    line = re.sub(r'-[0-9a-f]{10}-', '-H-', line.rstrip())
    return re.sub(r'\d+(\.\d+)?', '#', line)


def _readme_lines(row: str):
    text = open(f'{ROOT}/README.md', encoding='utf-8').read()
    block = text.split('<!-- console: make demo -->', 1)[1].split('```text\n', 1)[1].split('```', 1)[0]
    return [l for l in block.splitlines() if row in l or re.match(r'^  (train|test) \d', l)]


def test_smoke_umixformer_b0_learns(tmp_path, capsys):
    rc = main(['table1', '--profile', 'smoke', '--rows', 'umixformer_mit-b0_ade20k', '--stages', 'train,test',
               '--runs-dir', str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0
    (test, ) = [r for r in Store(str(tmp_path)).records() if r.stage == 'test']
    print(f"smoke U-MixFormer-B0 mIoU on the synthetic ADE20K validation set: {test.metrics['miou']:.2f}")
    assert test.metrics['miou'] > 50.0
    # the console: one start and one end line per task, progress lines, no mmengine logging
    lines = out.splitlines()
    assert not [l for l in lines if MMENGINE_LINE.match(l)], 'mmengine logging reached the console'
    assert len([l for l in lines if l.startswith('start ')]) == len([l for l in lines if l.startswith('done ')]) == 2
    got = {_shape(l) for l in lines}
    missing = [l for l in _readme_lines('table1/umixformer_mit-b0_ade20k') if _shape(l) not in got]
    assert not missing, 'README console excerpt no longer matches the console:\n' + '\n'.join(missing)
