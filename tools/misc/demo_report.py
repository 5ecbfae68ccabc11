# Copyright (c) mmrskd authors.
"""The results of ``tools/demo.py``: a Markdown table, a JSON file and a
PNG bar chart of top-1 (mean over seeds, one dot per seed)."""
import json
import os.path as osp
import statistics
from typing import Dict, List, Optional, Sequence

#: figure size in inches and resolution of the chart (960 x 480 px)
CHART_INCHES = (6.4, 3.2)
CHART_DPI = 150


def summarize(results: Sequence[Dict], alone: str) -> List[Dict]:
    """One row per run name, in first-seen order, from per-seed
    ``results`` (``dict(run, seed, top1, seconds)``): the seeds, their
    top-1, the mean, the sample standard deviation (None for one seed)
    and the difference of the mean from the run named ``alone``."""
    rows: Dict[str, Dict] = {}
    for r in results:
        row = rows.setdefault(r['run'], dict(run=r['run'], seeds=[],
                                             top1=[], train_seconds=0.0))
        row['seeds'].append(r['seed'])
        row['top1'].append(r['top1'])
        row['train_seconds'] += r['seconds']
    for row in rows.values():
        row['mean'] = statistics.fmean(row['top1'])
        row['std'] = (statistics.stdev(row['top1'])
                      if len(row['top1']) > 1 else None)
    base = rows[alone]['mean'] if alone in rows else None
    for row in rows.values():
        row['vs_alone'] = None if base is None else row['mean'] - base
        row['train_seconds'] = round(row['train_seconds'], 1)
    return list(rows.values())


def _signed(value: Optional[float]) -> str:
    return '' if value is None else f'{value:+.2f}'


def results_table(rows: Sequence[Dict], alone: str) -> str:
    """The Markdown table of :func:`summarize`'s rows (the wall times,
    which depend on the machine and its load, are in the JSON file)."""
    lines = ['| run | seeds | top-1 (%) | per seed | vs student alone |',
             '|---|---|---|---|---|']
    for row in rows:
        spread = '' if row['std'] is None else f' ± {row["std"]:.2f}'
        vs = '-' if row['run'] == alone else _signed(row['vs_alone'])
        per_seed = ', '.join(f'{v:.2f}' for v in row['top1'])
        seeds = ','.join(str(s) for s in row['seeds'])
        lines.append(f'| {row["run"]} | {seeds} | {row["mean"]:.2f}{spread} '
                     f'| {per_seed} | {vs} |')
    return '\n'.join(lines)


def write_chart(rows: Sequence[Dict], path: str, title: str = '') -> str:
    """A bar per run (mean top-1, error bar: the seeds' standard deviation)
    with a dot per seed; written to ``path`` as PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=CHART_INCHES, dpi=CHART_DPI)
    xs = range(len(rows))
    ax.bar(xs, [r['mean'] for r in rows], width=0.6, color='#7aa6c2',
           yerr=[r['std'] or 0 for r in rows], capsize=4,
           error_kw=dict(elinewidth=1))
    for x, row in zip(xs, rows):
        ax.plot([x] * len(row['top1']), row['top1'], 'o', color='#1f3b4d',
                markersize=3.5)
        ax.annotate(f'{row["mean"]:.1f}', (x + 0.3, row['mean']),
                    ha='left', va='center', fontsize=8)
    # a bar axis cut above 0 exaggerates the gaps: cut at a round number
    # and say so on the axis
    low = 10 * int(max(0.0, min(min(r['top1']) for r in rows) - 5) // 10)
    ax.set_ylim(low, 100)
    ax.set_xlim(-0.5, len(rows) - 0.2)
    seeds = ['1 seed' if len(r['top1']) == 1 else f'{len(r["top1"])} seeds'
             for r in rows]
    ax.set_xticks(list(xs), [f'{r["run"]}\n({n})' for r, n in
                             zip(rows, seeds)], fontsize=8)
    ax.set_ylabel('top-1 (%)' + (f', axis from {low}' if low else ''))
    ax.set_title((title + '\n' if title else '') + 'bar: mean, error bar: '
                 'standard deviation over the seeds, dot: one seed',
                 fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=CHART_DPI)
    plt.close(fig)
    return path


def write_results(rows: Sequence[Dict], work_dir: str, alone: str,
                  info: Dict, title: str = '') -> Dict[str, str]:
    """Write ``results.md``, ``results.json`` and ``demo_top1.png`` into
    ``work_dir``; return their paths by kind."""
    paths = dict(md=osp.join(work_dir, 'results.md'),
                 json=osp.join(work_dir, 'results.json'),
                 png=osp.join(work_dir, 'demo_top1.png'))
    with open(paths['md'], 'w') as f:
        f.write(results_table(rows, alone) + '\n')
    with open(paths['json'], 'w') as f:
        json.dump(dict(info, rows=list(rows)), f, indent=2)
    write_chart(rows, paths['png'], title)
    return paths
