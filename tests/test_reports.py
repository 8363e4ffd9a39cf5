"""Reports: HTML (looked at in headless Chromium), LaTeX (compiled with
pdflatex), CSV; missing values stay missing; provenance per row."""
import os
import subprocess

import pandas as pd
import pytest

from conftest import DATA_DIR, require_tool
from experiments.cli import main
from reports.render import latex_escape

TABLES = os.path.join(DATA_DIR, 'tables')


@pytest.fixture(scope='module')
def report_dir(tmp_path_factory):
    runs = tmp_path_factory.mktemp('runs')
    # measured: complexity of the ADE20K row; nothing for the Cityscapes row
    assert main(['tiny', '--tables', TABLES, '--runs-dir', str(runs), '--stages', 'complexity']) == 0
    assert main(['report', 'all', '--tables', TABLES, '--runs-dir', str(runs)]) == 0
    return runs / 'reports' / 'paper'


def test_csv_keeps_missing_values_missing(report_dir):
    df = pd.read_csv(report_dir / 'tiny.csv')
    ade = df[df['row'] == 'umix-b0'].iloc[0]
    city = df[df['row'] == 'umix-b0-city'].iloc[0]
    assert ade['gflops'] == pytest.approx(6.16, abs=0.01) and ade['gflops_published'] == 6.1
    assert pd.isna(city['gflops']) and pd.isna(city['miou'])  # not run: missing, never 0
    assert pd.isna(ade['miou'])
    assert len(ade['config_hash']) == 10 and ade['git_revision'] and ade['device']


def test_latex_is_booktabs_bold_best_and_compiles(report_dir, tmp_path):
    tex = (report_dir / 'tiny.tex').read_text()
    assert '\\toprule' in tex and '\\midrule' in tex and '\\bottomrule' in tex
    assert '\\textbf{6.16}' in tex  # the only (so best) measured GFLOPs
    assert ' & -- & ' in tex  # a missing value
    pdflatex = require_tool('pdflatex', 'LaTeX report test')
    out = subprocess.run([pdflatex, '-interaction=nonstopmode', '-halt-on-error', 'tiny.standalone.tex'],
                         cwd=report_dir, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:]
    assert (report_dir / 'tiny.standalone.pdf').stat().st_size > 1000


def test_latex_escaping():
    assert latex_escape('A&B_1 50% #2 {x} ~ ^ \\') == (
        r'A\&B\_1 50\% \#2 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{}')
    assert latex_escape('✓ ü Δ ± 漢') == r'\checkmark{} ü $\Delta$ $\pm$ [cjk unified ideograph-6f22]'


def test_latex_of_non_ascii_titles_and_rows_compiles(tmp_path):
    """A user's table whose title and row names hold symbols and accents."""
    pdflatex = require_tool('pdflatex', 'LaTeX report test')
    body = open(os.path.join(TABLES, 'tiny.toml')).read()
    body = body.replace('name = "tiny"', 'name = "umlaut"').replace('Tiny test table', 'Größe ✓ — Δ ± ≈ µ → 漢字')
    body = body.replace('method = "FCN"', 'method = "FCN ✓ (Müller et al.) …"')
    (tmp_path / 'tables').mkdir()
    (tmp_path / 'tables' / 'umlaut.toml').write_text(body)
    out = tmp_path / 'out'
    assert main(['report', 'umlaut', '--tables', str(tmp_path / 'tables'), '--runs-dir', str(tmp_path / 'runs'),
                 '--format', 'latex', '--out', str(out)]) == 0
    res = subprocess.run([pdflatex, '-interaction=nonstopmode', '-halt-on-error', 'umlaut.standalone.tex'],
                         cwd=out, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:]
    assert 'Größe \\checkmark{}' in (out / 'umlaut.standalone.tex').read_text()


def test_report_of_an_empty_store_says_so(tmp_path, capsys):
    assert main(['report', 'all', '--tables', TABLES, '--runs-dir', str(tmp_path / 'runs'), '--format', 'csv']) == 0
    out = ' '.join(capsys.readouterr().out.split())
    assert f'{tmp_path / "runs"} holds no results' in out and 'published values only' in out


def test_html_pages_render_in_chromium(report_dir):
    html = (report_dir / 'tiny.html').read_text()
    assert 'data:image/png;base64,' in html  # the efficiency plot, embedded
    assert '&mdash;' in html and 'config ' in html
    index = (report_dir / 'index.html').read_text()
    assert 'href="tiny.html"' in index and 'href="table1.html"' in index
    chromium = require_tool('chromium', 'HTML report screenshot test')
    shot = report_dir / 'tiny.png'
    out = subprocess.run(
        [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         f'--user-data-dir={report_dir / ".chromium"}', '--window-size=1280,900', f'--screenshot={shot}',
         (report_dir / 'tiny.html').as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    print(f'screenshot of the report page: {shot}')


@pytest.mark.parametrize('page', ['index.html', 'table1.html', 'table2.html', 'ablation_kv.html', 'latency.html'])
def test_pages_read_at_laptop_width_without_sideways_scrolling(report_dir, tmp_path, page):
    """At 1000 px the widest table fits: the page never scrolls sideways."""
    chromium = require_tool('chromium', 'HTML report width test')
    probe = tmp_path / page
    html = (report_dir / page).read_text()
    probe.write_text(html.replace('</body>', '<script>document.title = "W" + document.documentElement.scrollWidth '
                                  '+ "/" + window.innerWidth;</script></body>'))
    out = subprocess.run(
        [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         f'--user-data-dir={tmp_path / ".chromium"}', '--window-size=1000,900', '--dump-dom', probe.as_uri()],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    scroll, width = out.stdout.split('<title>W', 1)[1].split('</title>', 1)[0].split('/')
    assert int(scroll) <= int(width), f'{page}: {scroll} px wide in a {width} px window'


def test_builtin_miou_is_never_drawn_on_the_papers_axes():
    """Figure 1 on the built-in data shows the published points only; on real data the
    measured ones beside them (read back from the PNG's record of its artists)."""
    from reports.plots import drawn, efficiency_scatter
    df = pd.DataFrame([dict(dataset='ade20k', method='U-MixFormer', gflops=6.16, gflops_published=6.1, miou=56.24,
                            miou_published=41.2)])
    paper = drawn(efficiency_scatter(df, 'gflops', 'miou', 'ade20k', 'paper', comparable=True))
    assert {(s['label'], s['y'][0]) for s in paper} == {('U-MixFormer (paper)', 41.2),
                                                       ('U-MixFormer (reproduced, paper)', 56.24)}
    smoke = drawn(efficiency_scatter(df, 'gflops', 'miou', 'ade20k', 'smoke', comparable=False))
    assert [(s['label'], s['y']) for s in smoke] == [('U-MixFormer (paper)', [41.2])]


def test_each_page_gets_the_chart_that_fits(tmp_path):
    """An ablation table: each variant's paired difference to the reference with its
    interval (no Figure 1); the latency table: latency as measured, per device."""
    import base64
    import re
    from reports.plots import drawn
    from analysis.results import read_results
    from reports.render import render_table
    from test_verdicts import fabricate
    from experiments.registry.tables import get_table
    from experiments.store import Store
    table = get_table('ablation_unet')
    rows = [table.row('umixformer_mit-b0_ade20k'), table.row('parallel')]
    miou = {('umixformer_mit-b0_ade20k', s): v for s, v in enumerate((41.0, 41.6, 40.8))}
    miou.update({('parallel', s): v for s, v in enumerate((40.1, 40.6, 40.0))})
    store = Store(str(tmp_path / 'runs'))
    tasks = fabricate(store, table, rows, lambda t: {'miou': miou[(t.row.id, t.seed)]} if t.stage == 'test'
                       else {'iters': 1} if t.stage == 'train' else None, [0, 1, 2])
    out = render_table(read_results(table, tasks, store, 'paper'), str(tmp_path / 'out'), formats=['html'])
    html = open(out['html']).read()
    images = dict(re.findall(r'<img alt="([\w-]+)" src="data:image/png;base64,([^"]+)"', html))
    assert set(images) == {'ablation-miou'}
    series = {s['label']: s for s in drawn(base64.b64decode(images['ablation-miou']))}
    measured = series['measured (95 % interval, >= 3 seeds)']
    assert measured['x'] == pytest.approx([-0.9]) and series['paper']['x'] == [-0.9]


def test_latency_chart_shows_measured_times_only():
    from reports.plots import drawn, latency_bars
    df = pd.DataFrame([dict(method='U-MixFormer', encoder='MiT-B0', dataset='ade20k', latency_ms=41.5,
                            latency_device='cpu', miou=56.0, miou_published=41.2),
                       dict(method='SegFormer', encoder='MiT-B0', dataset='ade20k', latency_ms=38.0,
                            latency_device='cpu', miou=float('nan'), miou_published=37.4)])
    df['row'] = ['umix', 'seg']
    optimized = df.assign(latency_ms=[20.0, 19.0])
    bars = [s for s in drawn(latency_bars({'official': df, 'optimized': optimized}, 'latency_ms', 'latency_device'))
            if s['label'] == 'bar']
    # widths: the measured latencies of both computations, nothing else
    assert sorted(b['x'][1] for b in bars) == [19.0, 20.0, 38.0, 41.5]


def test_latency_page_with_long_device_names_fits_1000_px(tmp_path):
    """Measured latencies carry the device they ran on (a long CPU name here): it wraps
    under the value, once per row, and the page does not scroll sideways."""
    from experiments.registry.tables import get_table
    from experiments.store import Store
    from analysis.results import read_results
    from reports.render import render_table
    from experiments.registry.profiles import get_profile
    from experiments.store import Record
    from experiments.planning.tasks import plan
    chromium = require_tool('chromium', 'HTML report width test')
    table = get_table('latency')
    store = Store(str(tmp_path / 'runs'))
    tasks = plan(table.runnable(), ['latency', 'complexity'], [0], get_profile('paper'),
                 {'cityscapes': '/nonexistent/cityscapes'}, store)
    for t in tasks:  # the device as store.device_name() writes it on this kind of machine
        m = {'latency_ms': 57.0, 'fps': 17.5} if t.stage == 'latency' else {'gflops': 120.0, 'params_m': 3.8}
        store.put(Record(key=t.key, stage=t.stage, status='done', config=t.row.config, config_hash=t.config_hash,
                         profile='paper', seed=t.seed, dataset=t.row.dataset, rows=list(t.rows), metrics=m,
                         device='cpu:Intel(R) Xeon(R) Processor (2 cores, 2 threads)', wall_time_s=1.0))
    out = render_table(read_results(table, tasks, store, 'paper'), str(tmp_path / 'out'), formats=['html'])
    html = open(out['html']).read()
    assert html.count('class="pub device"') == len([t for t in tasks if t.stage == 'latency'])
    probe = tmp_path / 'probe.html'
    probe.write_text(html.replace('</body>', '<script>document.title = "W" + document.documentElement.scrollWidth '
                                  '+ "/" + window.innerWidth;</script></body>'))
    proc = subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                           f'--user-data-dir={tmp_path / ".chromium"}', '--window-size=1000,900', '--dump-dom',
                           probe.as_uri()], capture_output=True, text=True, timeout=120)
    scroll, width = proc.stdout.split('<title>W', 1)[1].split('</title>', 1)[0].split('/')
    assert int(scroll) <= int(width), f'latency page: {scroll} px wide in a {width} px window'
