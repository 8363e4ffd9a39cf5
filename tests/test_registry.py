"""Table files are validated on load; each error names file, row and field."""
import os
import textwrap

import pytest

from conftest import DATA_DIR
from experiments.cli import main
from experiments.registry.schema import RegistryError
from experiments.registry.tables import get_table, load_registry, load_table

GOOD_ROW = '''
[[rows]]
id = "r1"
method = "U-MixFormer"
dataset = "ade20k"
config = "umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py"
stages = ["train", "test"]
'''


def _write(tmp_path, body, name='t.toml'):
    path = tmp_path / name
    path.write_text('name = "t"\ntitle = "T"\n' + textwrap.dedent(body))
    return str(path)


def test_builtin_tables_load_with_published_values():
    tables = load_registry()
    t1 = tables['table1']
    row = t1.row('umixformer_mit-b0_ade20k')
    assert row.published == {'params_m': 6.1, 'gflops': 6.1, 'miou': 41.2}
    assert 'Table 1' in row.provenance
    assert all(r.cited and r.config is None for r in t1.rows if r.group == 'cited')
    swift = t1.row('swiftnetrn_resnet-18_cityscapes')
    assert 'params_m' in swift.published and 'gflops' in swift.published


@pytest.mark.parametrize('body,match', [
    ('[[rows]\nid = 1', r'malformed TOML'),
    (GOOD_ROW.replace('umixformer_mit-b0', 'umixformer_mit-b9'), r'row 1 \(r1\): field \'config\': no such config'),
    (GOOD_ROW.replace('"ade20k"', '"pascal"'), r'row 1 \(r1\): field \'dataset\': unknown dataset \'pascal\''),
    (GOOD_ROW.replace('"test"]', '"tset"]'), r'row 1 \(r1\): field \'stages\': unknown stage'),
    (GOOD_ROW.replace('["train", "test"]', '["test"]'), r"field 'stages': 'test' needs 'train'"),
    (GOOD_ROW + GOOD_ROW, r"row 2 \(r1\): field 'id': duplicate row id"),
    (GOOD_ROW.replace('method', 'methd'), r"row 1 \(r1\): unknown field\(s\) \['methd'\]"),
    (GOOD_ROW + 'published = { miou = "41" }\n', r"row 1 \(r1\): field 'published': miou must be a number"),
    (GOOD_ROW + 'published = { mIoU = 41.0 }\n', r"field 'published': unknown metric 'mIoU'"),
    (GOOD_ROW.replace('method = "U-MixFormer"\n', ''), r"row 1 \(r1\): missing field 'method'"),
    ('', r'no rows'),
    (GOOD_ROW.replace('id = "r1"', 'id = "r1,r2"'), r"field 'id': 'r1,r2' cannot be named by --rows"),
    (GOOD_ROW.replace('id = "r1"', 'id = "my row"'), r"field 'id': 'my row' cannot be named by --rows"),
    (GOOD_ROW + 'published = { miou = 412.0 }\n', r"field 'published': miou = 412.0 is above 100"),
    (GOOD_ROW + 'published = { miou_corrupted = 100.5 }\n', r"miou_corrupted = 100.5 is above 100"),
])
def test_validation_errors_name_file_row_field(tmp_path, body, match):
    path = _write(tmp_path, body)
    with pytest.raises(RegistryError, match=match) as err:
        load_table(path)
    assert str(path) in str(err.value)


def test_cited_row_takes_no_config(tmp_path):
    path = _write(tmp_path, GOOD_ROW + 'cited = true\n')
    with pytest.raises(RegistryError, match="a cited row never runs"):
        load_table(path)


def test_user_table_is_one_file(tmp_path, monkeypatch):
    _write(tmp_path, GOOD_ROW, 'mine.toml')
    monkeypatch.setenv('UMIX_TABLES', str(tmp_path))
    table = get_table('t')
    assert table.row('r1').config.endswith('umixformer_mit-b0_1xb16-160k_ade20k-512x512.py')
    # a config beside the table file is found too
    (tmp_path / 'my_variant.py').write_text(
        "_base_ = ['" + table.row('r1').config + "']\nmodel = dict(decode_head=dict(channels=64))\n")
    _write(tmp_path, GOOD_ROW.replace('umixformer/umixformer_mit-b0_1xb16-160k_ade20k-512x512.py',
                                      'my_variant.py'), 'mine.toml')
    assert get_table('t').row('r1').config == str(tmp_path / 'my_variant.py')


def test_duplicate_table_name_is_an_error(tmp_path):
    _write(tmp_path, GOOD_ROW.replace('name', 'name'), 'a.toml')
    (tmp_path / 'b.toml').write_text('name = "table1"\ntitle = "x"\n' + GOOD_ROW)
    with pytest.raises(RegistryError, match="table name 'table1' is already defined"):
        load_registry([str(tmp_path)])


@pytest.mark.parametrize('argv,match', [
    (['nosuchtable'], "unknown table 'nosuchtable'; known tables:"),
    (['plan', 'table1', '--rows', 'nosuchrow'], "table 'table1' has no row 'nosuchrow'"),
    (['plan', 'table1', '--rows', 'fcn_mobilenetv2_ade20k'], 'cited from another paper and never runs'),
    (['plan', 'table1', '--stages', 'trian'], "unknown stage(s) ['trian']"),
    (['plan', 'table1', '--profile', 'fast'], "unknown profile 'fast'"),
    (['plan', 'table1', '--data-root', 'coco=/x'], '--data-root takes DATASET=PATH'),
])
def test_cli_errors(argv, match, capsys):
    assert main(argv) == 2
    assert match in capsys.readouterr().out.replace('\n', '')


def test_missing_dataset_root_fails_before_any_job(tmp_path, capsys):
    runs = tmp_path / 'runs'
    rc = main(['tiny', '--tables', os.path.join(DATA_DIR, 'tables'), '--runs-dir', str(runs),
               '--rows', 'umix-b0', '--data-root', f'ade20k={tmp_path}/nowhere'])
    out = capsys.readouterr().out.replace('\n', '')
    assert rc == 2
    assert 'does not exist' in out and 'images/{training,validation}' in out
    assert not (runs / 'records').exists()
    (tmp_path / 'half' / 'images' / 'training').mkdir(parents=True)
    rc = main(['tiny', '--tables', os.path.join(DATA_DIR, 'tables'), '--runs-dir', str(runs),
               '--rows', 'umix-b0', '--data-root', f'ade20k={tmp_path}/half'])
    assert rc == 2
    assert 'missing folder' in capsys.readouterr().out.replace('\n', '')


@pytest.mark.parametrize('flag,value,said', [
    ('--seeds', '0,,1', "has an empty entry"), ('--rows', 'umix-b0,,umix-b0', 'has an empty entry'),
    ('--rows', 'umix-b0,umix-b0', 'names umix-b0 more than once'), ('--seeds', '1,2,1', 'names 1 more than once'),
    ('--stages', 'train,', 'has an empty entry')])
def test_a_list_with_a_hole_or_a_repeat_is_refused(capsys, flag, value, said):
    from experiments.cli import main
    with pytest.raises(SystemExit) as exit_:
        main(['plan', 'table1', flag, value])
    assert exit_.value.code == 2 and said in capsys.readouterr().err
