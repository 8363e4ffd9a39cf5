"""Pretrained weights for offline compute nodes: a manifest, a weights folder, fetch
(atomic, resumable, checked) from a local HTTP server, and a paper-profile run that
fails before anything starts when a file is missing or corrupt."""
import hashlib
import http.server
import os
import threading

import pytest

from conftest import DATA_DIR
from experiments.cli import main
from experiments.registry.weights import Weight, WeightsError, fetch, load_manifest, needed_files

TABLES = os.path.join(DATA_DIR, 'tables')
PAYLOAD = os.urandom(300_000)
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD at /good.pth and /bad.pth (wrong bytes) with Range support;
    /flaky.pth breaks off after 100 kB the first time."""
    calls = {'flaky': 0}

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.strip('/').split('.')[0]
        if name not in ('good', 'bad', 'flaky'):
            self.send_error(404)
            return
        body = PAYLOAD if name != 'bad' else PAYLOAD[::-1]
        start = int(self.headers['Range'].split('=')[1].rstrip('-')) if self.headers.get('Range') else 0
        self.send_response(206 if start else 200)
        self.send_header('Content-Length', str(len(body) - start))
        self.end_headers()
        if name == 'flaky' and self.calls['flaky'] == 0:
            self.calls['flaky'] += 1
            self.wfile.write(body[start:start + 100_000])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection drops mid-file
            return
        self.wfile.write(body[start:])


@pytest.fixture(scope='module')
def server():
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown()


def _w(server, name):
    return Weight(name, f'{name}.pth', f'{server}/{name}.pth', DIGEST[:8])


def test_fetch_checks_and_resumes(server, tmp_path):
    assert fetch(_w(server, 'good'), str(tmp_path)) == 'ok'
    assert (tmp_path / 'good.pth').read_bytes() == PAYLOAD
    with pytest.raises(WeightsError, match='expected .*removed it'):
        fetch(_w(server, 'bad'), str(tmp_path))
    assert not (tmp_path / 'bad.pth').exists() and not (tmp_path / 'bad.pth.part').exists()
    with pytest.raises(WeightsError, match='broke off.*resume from 100000 bytes'):
        fetch(_w(server, 'flaky'), str(tmp_path))
    assert not (tmp_path / 'flaky.pth').exists()  # never a half file under the real name
    assert fetch(_w(server, 'flaky'), str(tmp_path)) == 'ok'
    assert (tmp_path / 'flaky.pth').read_bytes() == PAYLOAD
    with pytest.raises(WeightsError, match='404'):
        fetch(Weight('gone', 'gone.pth', f'{server}/gone.pth', ''), str(tmp_path))


def test_manifest_covers_every_config_and_names_the_unknown():
    man = load_manifest()
    assert {'mit_b0_20220624-7e0fe6dd.pth', 'mscan_t_20230227-119e8c9f.pth',
            'lvt_imagenet_pretrained.pth.tar'} <= set(man)
    assert all(w.sha256_prefix == w.file.split('-')[-1].split('.')[0] for w in man.values() if w.url)
    assert man['lvt_imagenet_pretrained.pth.tar'].url == ''  # no known location: said, not guessed


def test_paper_run_fails_before_anything_on_missing_weights(server, tmp_path, capsys, monkeypatch):
    """The paper profile reads the weights folder only; a missing file stops the run
    before data checks or jobs, naming the file and the fetch command; `weights fetch`
    then gets it from the manifest's URL."""
    manifest = tmp_path / 'weights.toml'
    manifest.write_text(f'[[weights]]\nname = "mit_b0"\nfile = "mit_b0_20220624-7e0fe6dd.pth"\n'
                        f'url = "{server}/good.pth"\nsha256_prefix = "{DIGEST[:8]}"\n')
    monkeypatch.setenv('UMIX_WEIGHTS_MANIFEST', str(manifest))
    from experiments.data.datasets import generate_synthetic
    data = tmp_path / 'ade'
    generate_synthetic('ade20k', str(data))
    args = ['tiny', '--tables', TABLES, '--rows', 'umix-b0', '--stages', 'train', '--runs-dir', str(tmp_path / 'r'),
            '--data-root', f'ade20k={data}']
    assert main(args) == 2
    out = ' '.join(capsys.readouterr().out.split())
    assert 'pretrained weights not ready, nothing was started' in out
    assert 'mit_b0_20220624-7e0fe6dd.pth: missing; run-experiment weights fetch --weights-dir' in out
    assert not (tmp_path / 'r' / 'records').exists()
    assert main(['weights', 'fetch', 'tiny', '--tables', TABLES, '--runs-dir', str(tmp_path / 'r')]) == 0
    wdir = tmp_path / 'r' / 'weights'
    assert (wdir / 'mit_b0_20220624-7e0fe6dd.pth').read_bytes() == PAYLOAD
    (wdir / 'mit_b0_20220624-7e0fe6dd.pth').write_bytes(b'x' + PAYLOAD[1:])  # corrupted on disk
    assert main(['weights', 'verify', 'tiny', '--tables', TABLES, '--runs-dir', str(tmp_path / 'r')]) == 1
    assert 'corrupt' in capsys.readouterr().out


def test_paper_tasks_read_the_weights_folder(tmp_path):
    from experiments.registry.profiles import get_profile
    from experiments.registry.tables import get_table
    from experiments.store import Store
    from experiments.planning.tasks import plan
    t = get_table('table1')
    rows = [t.row('umixformer_mit-b0_ade20k'), t.row('umixformer_lvt_ade20k')]
    a = plan(rows, ['train'], None, get_profile('paper'), {}, Store(str(tmp_path)), weights_dir='/w1')
    b = plan(rows, ['train'], None, get_profile('paper'), {}, Store(str(tmp_path)), weights_dir='/w2')
    assert [x.cfg.model.backbone.init_cfg.checkpoint for x in a] == [
        '/w1/mit_b0_20220624-7e0fe6dd.pth', '/w1/lvt_imagenet_pretrained.pth.tar']
    assert [x.key for x in a] == [x.key for x in b]  # where the weights live is not part of the key
    assert needed_files(a[1].cfg.model) == ['lvt_imagenet_pretrained.pth.tar']
