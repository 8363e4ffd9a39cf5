"""Reports of a table's results (``analysis.results.TableResults``, read once): per table an
HTML page (self-contained, plots embedded), a booktabs LaTeX table (plus a standalone
wrapper that compiles), a CSV; and an HTML index of all tables. The presenters here only
present: what a stage adds (its figures, their LaTeX copies, class tables) comes from its
spec (``StageSpec.figures``), and no stage or metric is named here."""
import base64
import os
from typing import Dict, List, Optional, Sequence, Tuple

import jinja2

from analysis.compare import fmt_number
from analysis.deviations import in_words
from analysis.results import Cell, TableResults
from analysis.verdicts import Verdict, difference
from experiments.core.errors import UsageError
from experiments.core.files import atomic_write
from experiments.core.metrics import beside, fmt
from experiments.core.metrics import metric as catalogue
from experiments.core.stages import imported, stage_spec

from . import plots
from .contribution import Contribution

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


def _verdict_cell(c: Optional[Cell]) -> dict:
    """The verdict part of a cell: symbol, verdict text, seeds, interval, tolerance, and a
    short form for the table itself (± std over n seeds, the 95 % interval from 3 seeds);
    empty for a cited row (``c`` None: judged nowhere)."""
    if c is None:
        return dict(symbol='', verdict='', stats='', tolerance='', short='')
    short = ''
    if c.n >= 2:
        short = f'±{c.std:.2f}, n={c.n}'
    if c.n >= 3:
        short += f', [{c.ci_low:.2f}, {c.ci_high:.2f}]'
    if c.n >= 3:
        stats = f'n={c.n}, std {c.std:.2f}, 95% CI [{c.ci_low:.2f}, {c.ci_high:.2f}]'
    elif c.n == 2:
        stats = f'n=2, std {c.std:.2f}; {c.interval}'
    else:
        stats = c.interval
    tol = f'±{c.tolerance:g}{" points" if c.diff_unit == "points" else " %"}'
    return dict(symbol=c.symbol, verdict=c.text, stats=stats, tolerance=tol, short=short)


def _grouped(entries: List[dict]) -> List[dict]:
    """Consecutive entries of the same group under one heading."""
    groups: List[dict] = []
    for entry in entries:
        if not groups or groups[-1]['name'] != entry['group']:
            groups.append(dict(name=entry['group'], rows=[]))
        groups[-1]['rows'].append(entry)
    return groups


def table_context(results: TableResults) -> dict:
    """The long form: one line per row, per metric the value, paper, difference and verdict."""
    table = results.table
    metrics = list(table.metrics)
    best = {m: results.best(m) for m in metrics}
    timed = results.device_columns()
    shown_beside = beside(metrics)
    entries = []
    marks = _marks(results)
    for row in table.rows:
        line = results.line(row)
        cells = []
        for m in metrics:
            c = results.cell(row, m)
            diff = None if c.verdict is Verdict.BUILTIN_DATA else fmt(difference(m, c.value, c.published), 1,
                                                                         signed=True)
            cells.append(dict(value=fmt(c.value), published=fmt(c.published), diff=diff, best=row.id in best[m],
                              n=c.n, std=fmt(c.std), released=fmt(c.released),
                              device=line.get(timed[m], '') if m in timed else '',
                              at=results.measured_at(row, m) if c.n else '',
                              mark=marks[row.id][0] if row.id in marks and _unlike(c) else '',
                              against=fmt(results.against.get((row.id, m))),
                              **_verdict_cell(None if row.cited else c)))
        measured = not row.cited and bool(line['config_hash'])
        devs = results.deviations(row) if measured else []
        entries.append(dict(group=row.group or '', method=row.method, encoder=row.encoder, dataset=row.dataset,
                            cited=row.cited, provenance=row.provenance, config_hash=line['config_hash'],
                            git_revision=line['git_revision'], device=line['device'],
                            recipe=in_words(devs) if measured else '',
                            deviations=[dict(d.as_dict(), text=str(d)) for d in devs or ()],
                            beside=[fmt(line.get(b.name)) for b in shown_beside], cells=cells))
    return dict(table=table, profile=results.profile, metrics=metrics,
                metric_labels=[catalogue(m).label for m in metrics],
                diff_labels=[catalogue(m).diff_label for m in metrics],
                diff_labels_tex=[r'$\Delta$' if catalogue(m).points else r'$\Delta$\%' for m in metrics],
                beside=[dict(label=b.label, short=b.label.rsplit(' (', 1)[0], title=b.description or b.name)
                        for b in shown_beside],
                groups=_grouped(entries), legend=LEGEND, symbol_tex=SYMBOL_TEX, against=results.against_label,
                notes=[dict(mark=n, row=row_id, text=words) for row_id, (n, words) in marks.items()])


def _unlike(c: Cell) -> bool:
    return c.verdict in (Verdict.OFF, Verdict.WITHIN_NOISE)


def _marks(results: TableResults) -> Dict[str, Tuple[int, str]]:
    """row id -> (its note's number, how its runs differ from the paper's) for each row
    with a value off or within noise: the footnotes of the LaTeX tables."""
    return {row.id: (i, words) for i, (row, words) in enumerate(results.unlike_paper(), 1)}


def paper_context(results: TableResults) -> Optional[dict]:
    """The table in the paper's layout (``[layout]`` of its TOML): one line per
    method and encoder, one column per (metric, dataset)."""
    table = results.table
    if not table.layout:
        return None
    cols = table.layout['columns']
    marks = _marks(results)
    lines: List[dict] = []
    index: Dict[tuple, dict] = {}
    for row in table.rows:
        key = (row.group or '', row.method, row.encoder)
        if key not in index:
            index[key] = dict(group=key[0], method=key[1], encoder=key[2], cited=bool(row.cited),
                              cells=[None] * len(cols), provenance=[])
            lines.append(index[key])
        entry = index[key]
        entry['cited'] = entry['cited'] and bool(row.cited)
        if row.provenance and row.provenance not in entry['provenance']:
            entry['provenance'].append(row.provenance)
        for i, col in enumerate(cols):
            if col['dataset'] == row.dataset:
                c = results.cell(row, col['metric'])
                entry['cells'][i] = dict(value=fmt(c.value), published=fmt(c.published),
                                         at=results.measured_at(row, col['metric']) if c.n else '',
                                         mark=marks[row.id][0] if row.id in marks and _unlike(c) else '',
                                         differs=marks[row.id][1] if row.id in marks and _unlike(c) else '',
                                         against=fmt(results.against.get((row.id, col['metric']))),
                                         **_verdict_cell(None if row.cited else c))
    empty = dict(value=None, published=None, symbol='', verdict='', stats='', tolerance='', short='', at='', mark='',
                 differs='', against=None)
    for entry in lines:
        entry['cells'] = [c or empty for c in entry['cells']]
    heads, spans = [], []
    for c in cols:
        label = c.get('group', '')
        if spans and spans[-1]['label'] == label:
            spans[-1]['span'] += 1
        else:
            spans.append(dict(label=label, span=1))
        heads.append(catalogue(c['metric']).label)
    return dict(heads=heads, spans=spans, groups=_grouped(lines), ncols=len(cols))


def ablation_context(results: TableResults) -> Tuple[List[dict], Dict[str, bytes]]:
    """An ablation table's differences to its reference row: the lines and, per metric, the
    chart (params and GFLOPs do not depend on the data: compared with the paper in every profile)."""
    table = results.table
    if not table.reference:
        return [], {}
    ablation = results.ablation_frame()
    lines = [dict(row=a['row'], metric=catalogue(a['metric']).label, delta=fmt(a['delta'], 2, signed=True),
                  stats=(f'95% CI [{a["ci_low"]:+.2f}, {a["ci_high"]:+.2f}]' if a['n'] >= 3 else a['interval']),
                  expected=fmt(a['expected'], 2, signed=True), source=a['expected_source'], verdict=a['verdict'])
             for a in ablation.to_dict('records')] if len(ablation) else []
    figs = {}
    for metric in table.metrics:
        png = plots.ablation_deltas(ablation, metric, table.reference,
                                    results.compared or not catalogue(metric).depends_on_data)
        if png:
            figs[f'ablation-{metric}'] = png
    return lines, figs


def contributions(results: TableResults) -> Contribution:
    """What each stage of the table's tasks adds to its report (``StageSpec.figures``: the
    drawing functions imported now), in the stages' order."""
    out = Contribution()
    for stage in results.stages():
        for fig in stage_spec(stage).figures:
            out.add(imported(fig.draw)(results, stage, **fig.options))
    return out


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=jinja2.select_autoescape(['html', 'html.j2']),
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def _latex_env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), block_start_string='<%',
                             block_end_string='%>', variable_start_string='<<', variable_end_string='>>',
                             comment_start_string='<#', comment_end_string='#>', trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters['tex'] = latex_escape
    return env


def render_table(results: TableResults, out_dir: str, formats: Sequence[str] = FORMATS,
                 layout: str = 'paper') -> Dict[str, object]:
    """Writes the table's report files from its results (``analysis.results.read_results``,
    with the other computations to draw beside it in ``results.variants``); returns
    {format: path}, its scorecard and how many of its rows have a result ('measured')."""
    bad = set(formats) - set(FORMATS)
    if bad:
        raise UsageError(f'unknown report format(s) {sorted(bad)}; known: {", ".join(FORMATS)}')
    if layout not in LAYOUTS:
        raise UsageError(f'unknown layout {layout!r}; known: {", ".join(LAYOUTS)}')
    table = results.table
    ctx = table_context(results)
    ctx['paper'] = paper_context(results) if layout == 'paper' else None
    ctx['ablation'], figs = ablation_context(results)
    ctx['reference'] = table.reference
    added = contributions(results) if {'html', 'latex'} & set(formats) else Contribution()
    ctx['per_class'] = added.class_tables
    written: Dict[str, object] = {'scorecard': results.scorecard(), 'measured': results.measured()}
    if 'csv' in formats:
        path = os.path.join(out_dir, f'{table.name}.csv')
        atomic_write(path, results.report_frame().to_csv(index=False))
        written['csv'] = path
        vpath = os.path.join(out_dir, f'{table.name}.verdicts.csv')
        atomic_write(vpath, results.verdict_frame().to_csv(index=False))
        written['csv_verdicts'] = vpath
    if 'latex' in formats:
        env = _latex_env()
        ctx['latex_figures'] = []
        for name, caption in added.latex.items():  # beside the .tex, for \includegraphics
            atomic_write(os.path.join(out_dir, f'{table.name}.{name}.png'), added.figures[name])
            ctx['latex_figures'].append(dict(file=f'{table.name}.{name}.png', caption=caption))
        frag = os.path.join(out_dir, f'{table.name}.tex')
        atomic_write(frag, env.get_template('table.tex.j2').render(**ctx))
        standalone = os.path.join(out_dir, f'{table.name}.standalone.tex')
        atomic_write(standalone, env.get_template('standalone.tex.j2').render(fragment=os.path.basename(frag), **ctx))
        written['latex'] = frag
        written['latex_standalone'] = standalone
    if 'html' in formats:
        images = {k: base64.b64encode(v).decode() for k, v in {**figs, **added.figures}.items()}
        path = os.path.join(out_dir, f'{table.name}.html')
        atomic_write(path, _env().get_template('table.html.j2').render(images=images, **ctx))
        written['html'] = path
    return written


def render_comparison(c, everything: bool = False) -> str:
    """The HTML page of two stores compared (``analysis.compare.Comparison``): per pair, A, B
    and the paper in adjacent columns, then how the records were produced differently."""
    groups = [g for g in c.groups if everything or g.differs]
    return _env().get_template('compare.html.j2').render(c=c, groups=groups, number=fmt_number)


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
