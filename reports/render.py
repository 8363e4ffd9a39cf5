"""Reports from the results store: per table an HTML page (self-contained,
plots embedded), a booktabs LaTeX table (plus a standalone wrapper that
compiles), a CSV; and an HTML index of all tables."""
import base64
import math
import os
from typing import Dict, List, Optional, Sequence

import jinja2
import pandas as pd

from analysis.collect import POINT_METRICS, table_frame
from experiments.store import Store, atomic_write

from . import plots

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'templates')
FORMATS = ('html', 'latex', 'csv')
METRIC_LABELS = {'params_m': 'Params (M)', 'params_published_layout_m': 'Params (M)', 'gflops': 'GFLOPs',
                 'miou': 'mIoU (%)', 'latency_ms': 'Latency (ms)', 'fps': 'FPS',
                 'miou_clean': 'clean mIoU', 'miou_corrupted': 'Cityscapes-C mIoU'}
HIGHER_IS_BETTER = {'miou', 'fps', 'miou_clean', 'miou_corrupted'}
LATEX_SPECIALS = {'&': r'\&', '%': r'\%', '$': r'\$', '#': r'\#', '_': r'\_', '{': r'\{', '}': r'\}',
                  '~': r'\textasciitilde{}', '^': r'\textasciicircum{}', '\\': r'\textbackslash{}'}


def latex_escape(text) -> str:
    return ''.join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt(v, digits: int = 2, signed: bool = False) -> Optional[str]:
    """A number as text, or None for a missing value (rendered as a dash, never 0)."""
    if _missing(v):
        return None
    v = round(float(v), digits) + 0.0  # no '-0.0'
    return f'{v:+.{digits}f}' if signed else f'{v:.{digits}f}'


def _best(df: pd.DataFrame, metric: str) -> Dict[int, bool]:
    """Index -> whether the reproduced value is the best of its dataset."""
    best = {}
    for _, group in df[~df['cited']].groupby('dataset'):
        vals = group[metric].dropna()
        if vals.empty:
            continue
        target = vals.max() if metric in HIGHER_IS_BETTER else vals.min()
        for idx in vals.index:
            best[idx] = vals[idx] == target
    return best


def table_context(table, df: pd.DataFrame, profile: str) -> dict:
    metrics = list(table.metrics)
    best = {m: _best(df, m) for m in metrics}
    groups: List[dict] = []
    for idx, line in df.iterrows():
        cells = []
        for m in metrics:
            diff_key = f'{m}_diff' if m in POINT_METRICS else f'{m}_diff_pct'
            cells.append(dict(value=fmt(line[m]), published=fmt(line[f'{m}_published']),
                              diff=fmt(line.get(diff_key), 1, signed=True),
                              best=bool(best[m].get(idx, False)), n=int(line.get(f'{m}_n', 0) or 0),
                              std=fmt(line.get(f'{m}_std'))))
        row = dict(method=line['method'], encoder=line['encoder'], dataset=line['dataset'], cited=line['cited'],
                   provenance=line['provenance'], config_hash=line.get('config_hash', ''),
                   git_revision=line.get('git_revision', ''), device=line.get('device', ''),
                   params_effective=fmt(line.get('params_effective_m')), cells=cells)
        name = line['group'] or ''
        if not groups or groups[-1]['name'] != name:
            groups.append(dict(name=name, rows=[]))
        groups[-1]['rows'].append(row)
    return dict(table=table, profile=profile, metrics=metrics,
                metric_labels=[METRIC_LABELS.get(m, m) for m in metrics],
                diff_labels=['Δ' if m in POINT_METRICS else 'Δ%' for m in metrics],
                diff_labels_tex=[r'$\Delta$' if m in POINT_METRICS else r'$\Delta$\%' for m in metrics],
                show_effective='params_m' in metrics, groups=groups)


def _figures(table, df: pd.DataFrame, store: Store, tasks, profile: str) -> Dict[str, bytes]:
    figs = {}
    if {'gflops', 'miou'} <= set(table.metrics):
        for ds in ('ade20k', 'cityscapes'):
            png = plots.efficiency_scatter(df, ds, profile)
            if png:
                figs[f'efficiency-{ds}'] = png
    if 'latency_ms' in table.metrics:
        png = plots.latency_scatter(df)
        if png:
            figs['latency'] = png
    if 'miou_corrupted' in table.metrics:
        per = {}
        for t in tasks:
            rec = store.get(t.key) if t.stage == 'robustness' else None
            if rec is not None and rec.status == 'done':
                per[f'{t.row.method} ({t.row.encoder})'] = rec.metrics['per_corruption']
        png = plots.robustness_bars(per)
        if png:
            figs['robustness'] = png
    return figs


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(['html']),
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _latex_env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), block_start_string='<%',
                             block_end_string='%>', variable_start_string='<<', variable_end_string='>>',
                             comment_start_string='<#', comment_end_string='#>', trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters['tex'] = latex_escape
    return env


def render_table(table, tasks, store: Store, out_dir: str, profile: str,
                 formats: Sequence[str] = FORMATS) -> Dict[str, str]:
    """Writes the table's report files; returns {format: path}."""
    bad = set(formats) - set(FORMATS)
    if bad:
        raise ValueError(f'unknown report format(s) {sorted(bad)}; known: {", ".join(FORMATS)}')
    df = table_frame(table, tasks, store)
    ctx = table_context(table, df, profile)
    written = {}
    if 'csv' in formats:
        path = os.path.join(out_dir, f'{table.name}.csv')
        atomic_write(path, df.to_csv(index=False))
        written['csv'] = path
    if 'latex' in formats:
        env = _latex_env()
        frag = os.path.join(out_dir, f'{table.name}.tex')
        atomic_write(frag, env.get_template('table.tex.j2').render(**ctx))
        standalone = os.path.join(out_dir, f'{table.name}.standalone.tex')
        atomic_write(standalone, env.get_template('standalone.tex.j2').render(fragment=os.path.basename(frag), **ctx))
        written['latex'] = frag
        written['latex_standalone'] = standalone
    if 'html' in formats:
        figs = _figures(table, df, store, tasks, profile)
        images = {k: base64.b64encode(v).decode() for k, v in figs.items()}
        path = os.path.join(out_dir, f'{table.name}.html')
        atomic_write(path, _env().get_template('table.html.j2').render(images=images, **ctx))
        written['html'] = path
    return written


def render_index(entries: List[dict], out_dir: str, profile: str) -> str:
    """entries: dicts with name, title, source, html (file name), rows, measured."""
    path = os.path.join(out_dir, 'index.html')
    atomic_write(path, _env().get_template('index.html.j2').render(entries=entries, profile=profile))
    return path
