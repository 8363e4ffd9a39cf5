"""The README's main job, for U-MixFormer-B0: the smoke profile learns the
built-in ADE20K-layout data well above chance (mIoU > 50 %) in minutes."""
from experiments.cli import main
from experiments.store import Store


def test_smoke_umixformer_b0_learns(tmp_path):
    rc = main(['table1', '--profile', 'smoke', '--rows', 'umixformer_mit-b0_ade20k', '--stages', 'train,test',
               '--runs-dir', str(tmp_path)])
    assert rc == 0
    (test, ) = [r for r in Store(str(tmp_path)).records() if r.stage == 'test']
    print(f"smoke U-MixFormer-B0 mIoU on the synthetic ADE20K validation set: {test.metrics['miou']:.2f}")
    assert test.metrics['miou'] > 50.0
