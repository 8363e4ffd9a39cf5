"""Reports from the results store: per table an HTML page (self-contained,
plots embedded), a booktabs LaTeX table (plus a standalone wrapper that
compiles), a CSV; and an HTML index of all tables."""
import base64
import os
from typing import Dict, List, Optional, Sequence

import jinja2
import pandas as pd

from analysis.curves import training_curves
from analysis.per_class import gains_and_losses, per_class_differences
from analysis.results import EFFECTIVE_PARAMS, read_results
from analysis.verdicts import BUILTIN_PROFILES, Verdict, scorecard
from experiments.core.errors import UsageError
from experiments.core.files import atomic_write
from experiments.core.metrics import fmt
from experiments.core.metrics import metric as catalogue
from experiments.store import Store

from . import plots, qualitative

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'templates')
FORMATS = ('html', 'latex', 'csv')
LAYOUTS = ('paper', 'long')
SYMBOL_TEX = {'✓': r'\checkmark', '≈': r'$\approx$', '✗': r'$\times$', '–': ''}
LEGEND = ('✓ reproduced (within the tolerance); ≈ within noise (outside the tolerance, inside the '
          'seeds\' 95 % interval); ✗ off; – not measured')
LATEX_SPECIALS = {'&': r'\&', '%': r'\%', '$': r'\$', '#': r'\#', '_': r'\_', '{': r'\{', '}': r'\}',
                  '~': r'\textasciitilde{}', '^': r'\textasciicircum{}', '\\': r'\textbackslash{}'}


# symbols the tables and titles use that pdflatex's default (utf8 + T1) fonts lack
LATEX_SYMBOLS = {'✓': r'\checkmark{}', '✗': r'$\times$', '×': r'$\times$', '≈': r'$\approx$', 'Δ': r'$\Delta$',
                 '±': r'$\pm$', '–': '--', '—': '---', '→': r'$\rightarrow$', '≤': r'$\leq$', '≥': r'$\geq$',
                 'µ': r'$\mu$', 'μ': r'$\mu$', '°': r'$^\circ$', '·': r'$\cdot$', '…': r'\ldots{}',
                 '‘': '`', '’': "'", '“': '``', '”': "''"}


def _latex_char(ch: str) -> str:
    if ch in LATEX_SPECIALS:
        return LATEX_SPECIALS[ch]
    if ch in LATEX_SYMBOLS:
        return LATEX_SYMBOLS[ch]
    if ord(ch) < 0x250:  # Latin-1 and Latin Extended (ü, é, ł): T1 fonts have them
        return ch
    import unicodedata  # anything else: its ASCII base letter where it has one, else its name
    base = unicodedata.normalize('NFKD', ch).encode('ascii', 'ignore').decode()
    return latex_escape(base) if base else f'[{unicodedata.name(ch, "?").lower()}]'


def latex_escape(text) -> str:
    """Text for pdflatex: its special characters escaped, and every character one that
    the default fonts can set (symbols as their LaTeX commands)."""
    return ''.join(_latex_char(ch) for ch in str(text))


def _best(df: pd.DataFrame, metric: str) -> Dict[int, bool]:
    """Index -> whether the reproduced value is the best of its dataset."""
    best = {}
    for _, group in df[~df['cited']].groupby('dataset'):
        vals = group[metric].dropna()
        if vals.empty:
            continue
        target = vals.max() if catalogue(metric).higher_is_better else vals.min()
        for idx in vals.index:
            best[idx] = vals[idx] == target
    return best


def _verdict_cell(v: Optional[dict]) -> dict:
    """The verdict part of a cell: symbol, verdict text, seeds, interval, tolerance, and a
    short form for the table itself (± std over n seeds, the 95 % interval from 3 seeds)."""
    if v is None:
        return dict(symbol='', verdict='', stats='', tolerance='', short='')
    short = ''
    if v['n'] >= 2:
        short = f'±{v["std"]:.2f}, n={v["n"]}'
    if v['n'] >= 3:
        short += f', [{v["ci_low"]:.2f}, {v["ci_high"]:.2f}]'
    if v['n'] >= 3:
        stats = f'n={v["n"]}, std {v["std"]:.2f}, 95% CI [{v["ci_low"]:.2f}, {v["ci_high"]:.2f}]'
    elif v['n'] == 2:
        stats = f'n=2, std {v["std"]:.2f}; {v["interval"]}'
    else:
        stats = v['interval']
    tol = f'±{v["tolerance"]:g}{" points" if v["tolerance_unit"] == "points" else " %"}'
    return dict(symbol=v['symbol'], verdict=v['verdict'], stats=stats, tolerance=tol, short=short)


def table_context(table, df: pd.DataFrame, profile: str, verdicts: Optional[pd.DataFrame] = None) -> dict:
    metrics = list(table.metrics)
    best = {m: _best(df, m) for m in metrics}
    vmap = {(v['row'], v['metric']): v for v in (verdicts.to_dict('records') if verdicts is not None else [])}
    groups: List[dict] = []
    for idx, line in df.iterrows():
        cells = []
        for m in metrics:
            diff_key = f'{m}_diff' if catalogue(m).points else f'{m}_diff_pct'
            v = vmap.get((line['row'], m))
            diff = fmt(line.get(diff_key), 1, signed=True)
            if v is not None and Verdict.of(v['verdict']) is Verdict.BUILTIN_DATA:
                diff = None
            cells.append(dict(value=fmt(line[m]), published=fmt(line[f'{m}_published']), diff=diff,
                              best=bool(best[m].get(idx, False)), n=int(line.get(f'{m}_n', 0) or 0),
                              std=fmt(line.get(f'{m}_std')), released=fmt(line.get(f'{m}_released')),
                              # once per row: under the first timing column (latency and FPS share it)
                              device=line.get('latency_device', '') if m == next(
                                  (x for x in metrics if catalogue(x).stage == 'latency'), None) else '',
                              **_verdict_cell(v)))
        row = dict(method=line['method'], encoder=line['encoder'], dataset=line['dataset'], cited=line['cited'],
                   provenance=line['provenance'], config_hash=line.get('config_hash', ''),
                   git_revision=line.get('git_revision', ''), device=line.get('device', ''),
                   params_effective=fmt(line.get(EFFECTIVE_PARAMS)), cells=cells)
        name = line['group'] or ''
        if not groups or groups[-1]['name'] != name:
            groups.append(dict(name=name, rows=[]))
        groups[-1]['rows'].append(row)
    return dict(table=table, profile=profile, metrics=metrics,
                metric_labels=[catalogue(m).label for m in metrics],
                diff_labels=[catalogue(m).diff_label for m in metrics],
                diff_labels_tex=[r'$\Delta$' if catalogue(m).points else r'$\Delta$\%' for m in metrics],
                show_effective='params_m' in metrics, groups=groups, legend=LEGEND, symbol_tex=SYMBOL_TEX)


def paper_context(table, df: pd.DataFrame, verdicts: pd.DataFrame) -> Optional[dict]:
    """The table in the paper's layout (``[layout]`` of its TOML): one line per
    method and encoder, one column per (metric, dataset)."""
    if not table.layout:
        return None
    cols = table.layout['columns']
    vmap = {(v['row'], v['metric']): v for v in verdicts.to_dict('records')}
    lines: List[dict] = []
    index: Dict[tuple, dict] = {}
    for _, line in df.iterrows():
        key = (line['group'] or '', line['method'], line['encoder'])
        if key not in index:
            index[key] = dict(group=key[0], method=key[1], encoder=key[2], cited=bool(line['cited']),
                              cells=[None] * len(cols), provenance=[])
            lines.append(index[key])
        entry = index[key]
        entry['cited'] = entry['cited'] and bool(line['cited'])
        if line['provenance'] and line['provenance'] not in entry['provenance']:
            entry['provenance'].append(line['provenance'])
        for i, c in enumerate(cols):
            if c['dataset'] == line['dataset']:
                v = vmap.get((line['row'], c['metric']))
                entry['cells'][i] = dict(value=fmt(line[c['metric']]), published=fmt(line[f'{c["metric"]}_published']),
                                         **_verdict_cell(v))
    empty = dict(value=None, published=None, symbol='', verdict='', stats='', tolerance='', short='')
    groups: List[dict] = []
    for entry in lines:
        entry['cells'] = [c or empty for c in entry['cells']]
        if not groups or groups[-1]['name'] != entry['group']:
            groups.append(dict(name=entry['group'], rows=[]))
        groups[-1]['rows'].append(entry)
    heads, spans = [], []
    for c in cols:
        label = c.get('group', '')
        if spans and spans[-1]['label'] == label:
            spans[-1]['span'] += 1
        else:
            spans.append(dict(label=label, span=1))
        heads.append(catalogue(c['metric']).label)
    return dict(heads=heads, spans=spans, groups=groups, ncols=len(cols))


def _figures(table, df: pd.DataFrame, store: Store, tasks, profile: str, ablation: pd.DataFrame,
             per_class: List[dict], qualitative_figs: Dict[str, bytes],
             latency_variants: Optional[Dict[str, Sequence]] = None) -> Dict[str, bytes]:
    """The chart that fits each table: an ablation's differences to its reference, the
    latency as measured, else the paper's Figure 1 (built-in-data mIoU never drawn on it)."""
    figs = {}
    comparable = profile not in BUILTIN_PROFILES
    if table.reference:
        for metric in table.metrics:
            # params and GFLOPs do not depend on the data: compared with the paper in every profile
            png = plots.ablation_deltas(ablation, metric, table.reference, comparable or not catalogue(metric).depends_on_data)
            if png:
                figs[f'ablation-{metric}'] = png
    elif 'latency_ms' in table.metrics:
        frames = {'this run\'s computation': df}
        for label, variant in (latency_variants or {}).items():
            frames[label] = read_results(table, variant, store, profile).frame()
        png = plots.latency_bars(frames)
        if png:
            figs['latency'] = png
    elif {'gflops', 'miou'} <= set(table.metrics):
        for ds in ('ade20k', 'cityscapes'):
            png = plots.efficiency_scatter(df, ds, profile, comparable)
            if png:
                figs[f'efficiency-{ds}'] = png
    if 'miou_corrupted' in table.metrics:
        per = {}
        for t in tasks:
            rec = store.get(t.key) if t.stage == 'robustness' else None
            if rec is not None and rec.status == 'done':
                per[f'{t.row.method} ({t.row.encoder})'] = rec.metrics['per_corruption']
        png = plots.robustness_bars(per)
        if png:
            figs['robustness'] = png
    for pair in per_class:
        png = plots.per_class_bars(pair['frame'], pair['label'])
        if png:
            figs[f'per-class-{pair["ours"]}-vs-{pair["baseline"]}'] = png
    figs.update(qualitative_figs)
    pictures = qualitative.robustness_figure(tasks, store) if 'miou_corrupted' in table.metrics else None
    if pictures:
        figs['robustness-pictures'] = pictures
    curves = training_curves(tasks, store)
    for row in dict.fromkeys(curves['row']):
        png = plots.training_curves(curves, row)
        if png:
            figs[f'curves-{row}'] = png
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
                 formats: Sequence[str] = FORMATS, layout: str = 'paper',
                 latency_variants: Optional[Dict[str, Sequence]] = None) -> Dict[str, object]:
    """Writes the table's report files; returns {format: path}, its scorecard and how many of its
    rows have a result ('measured'); each record of its tasks is read once (``read_results``).
    ``latency_variants``: label -> the tasks of another computation (e.g. --optimize),
    drawn beside this one in the latency chart."""
    bad = set(formats) - set(FORMATS)
    if bad:
        raise UsageError(f'unknown report format(s) {sorted(bad)}; known: {", ".join(FORMATS)}')
    if layout not in LAYOUTS:
        raise UsageError(f'unknown layout {layout!r}; known: {", ".join(LAYOUTS)}')
    results = read_results(table, tasks, store, profile)
    store = results.store  # every record of the table read once, above
    df, verdicts, ablation = results.frame(), results.verdict_frame(), results.ablation_frame()
    if len(verdicts):  # the verdict columns beside the values, per metric
        wide = verdicts.pivot(index='row', columns='metric',
                              values=['verdict', 'ci_low', 'ci_high', 'tolerance'])
        wide.columns = [f'{m}_{k}' for k, m in wide.columns]
        df = df.merge(wide, left_on='row', right_index=True, how='left')
    ctx = table_context(table, df, profile, verdicts)
    ctx['paper'] = paper_context(table, df, verdicts) if layout == 'paper' else None
    ctx['ablation'] = [
        dict(row=a['row'], metric=catalogue(a['metric']).label, delta=fmt(a['delta'], 2, signed=True),
             stats=(f'95% CI [{a["ci_low"]:+.2f}, {a["ci_high"]:+.2f}]' if a['n'] >= 3 else a['interval']),
             expected=fmt(a['expected'], 2, signed=True), source=a['expected_source'], verdict=a['verdict'])
        for a in ablation.to_dict('records')] if len(ablation) else []
    ctx['reference'] = table.reference
    per_class = per_class_differences(table, tasks, store)
    ctx['per_class'] = [dict(label=p['label'], seeds=', '.join(map(str, p['seeds'])), classes=len(p['frame']),
                             **{k: [dict(cls=x['cls'], ours=fmt(x['ours'], 2), baseline=fmt(x['baseline'], 2),
                                         diff=fmt(x['diff'], 2, signed=True)) for x in v]
                                for k, v in gains_and_losses(p['frame']).items()})
                        for p in per_class]
    written: Dict[str, object] = {'scorecard': scorecard(table, verdicts, tasks, results.records),
                                  'measured': len({ref for t in tasks for ref in t.rows if store.is_done(t.key)})}
    # drawn once for both the HTML page and the LaTeX figure
    qualitative_figs = qualitative.figures(tasks, store) if {'html', 'latex'} & set(formats) else {}
    if 'csv' in formats:
        path = os.path.join(out_dir, f'{table.name}.csv')
        atomic_write(path, df.to_csv(index=False))
        written['csv'] = path
        vpath = os.path.join(out_dir, f'{table.name}.verdicts.csv')
        atomic_write(vpath, verdicts.to_csv(index=False))
        written['csv_verdicts'] = vpath
    if 'latex' in formats:
        env = _latex_env()
        ctx['latex_figures'] = []
        for name, png in qualitative_figs.items():  # beside the .tex, for \includegraphics
            atomic_write(os.path.join(out_dir, f'{table.name}.{name}.png'), png)
            meta = qualitative.panels(png)
            ctx['latex_figures'].append(dict(file=f'{table.name}.{name}.png', caption=(
                f'{meta["dataset"]}, {meta["encoder"]}: ' + ', '.join(meta['columns']) + ' (left to right)')))
        frag = os.path.join(out_dir, f'{table.name}.tex')
        atomic_write(frag, env.get_template('table.tex.j2').render(**ctx))
        standalone = os.path.join(out_dir, f'{table.name}.standalone.tex')
        atomic_write(standalone, env.get_template('standalone.tex.j2').render(fragment=os.path.basename(frag), **ctx))
        written['latex'] = frag
        written['latex_standalone'] = standalone
    if 'html' in formats:
        figs = _figures(table, df, store, tasks, profile, ablation, per_class, qualitative_figs, latency_variants)
        images = {k: base64.b64encode(v).decode() for k, v in figs.items()}
        path = os.path.join(out_dir, f'{table.name}.html')
        atomic_write(path, _env().get_template('table.html.j2').render(images=images, **ctx))
        written['html'] = path
    return written


def render_index(entries: List[dict], out_dir: str, profile: str) -> str:
    """entries: dicts with name, title, source, html (file name), rows, measured, scorecard."""
    path = os.path.join(out_dir, 'index.html')
    totals = {k: sum(e['scorecard'][k] for e in entries) for k in
              ('reproduced', 'within_noise', 'off', 'not_measured')}
    spent = {k: v for e in entries for k, v in e['scorecard'].get('spent', {}).items()}  # shared records once
    totals['gpu_hours'] = sum(g for g, _ in spent.values()) / 3600
    totals['cpu_hours'] = sum(c for _, c in spent.values()) / 3600
    atomic_write(path, _env().get_template('index.html.j2').render(entries=entries, profile=profile,
                                                                   totals=totals, legend=LEGEND))
    return path
