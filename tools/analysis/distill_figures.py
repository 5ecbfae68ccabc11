# Copyright (c) mmrskd authors.
"""The ISDM paper's analysis figures for trained models, as PNG files.

Every figure runs the test split of the model's config. ``--model NAME
CONFIG CHECKPOINT`` may be repeated to put models side by side (e.g. KD
and ISDM); a distiller checkpoint also gives its teacher (from the config's
``teacher_ckpt`` or ``--teacher-ckpt``).

    # ISDM Fig. 5: teacher soft labels before / after instance-level scaling
    python tools/analysis/distill_figures.py soft-labels \\
        --model ISDM configs/demo/isdm_r34_r18_demo.py \\
        work_dirs/isdm/epoch_8.pth \\
        --out soft_labels.png
    # Fig. 6: t-SNE of the student features, KD vs ISDM
    python tools/analysis/distill_figures.py tsne --model KD ... --model ISDM ...
    # Fig. 7: |corr(teacher logits) - corr(student logits)|, max and mean
    python tools/analysis/distill_figures.py correlation --model KD ... --model ISDM ...
    # Fig. 4: cosine similarity of the logits to the class centres
    python tools/analysis/distill_figures.py similarity --model ...
    # confusion matrix per model
    python tools/analysis/distill_figures.py confusion --model ...
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from mmengine.config import DictAction  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmrskd  # noqa: E402,F401
from mmrskd import analysis  # noqa: E402
from mmrskd.apis import cli  # noqa: E402

PANEL = 4.0  # inches per panel; with --dpi 100 a panel is 400 x 400 px


def load_outputs(args, name, config, checkpoint) -> Dict:
    cfg = cli.load_config(config, args.cfg_options)
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'--model {name}: checkpoint "{checkpoint}" '
                                'does not exist.')
    model = analysis.load_model(cfg, checkpoint, args.teacher_ckpt)
    loader = cfg.test_dataloader.copy()
    loader.update(num_workers=0, persistent_workers=False)
    dataloader = Runner.build_dataloader(loader)
    out = analysis.collect_outputs(model, dataloader)
    classes = dataloader.dataset.metainfo.get('classes') or [
        str(i) for i in range(out['logits'].size(1))]
    out.update(name=name, model=model, classes=list(classes))
    return out


def _figure(n_panels: int, dpi: int, rows: int = 1):
    fig, axes = plt.subplots(rows, n_panels, dpi=dpi, squeeze=False,
                             figsize=(PANEL * n_panels, PANEL * rows))
    return fig, axes


def _save(fig, path: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.tight_layout()  # moves the panels only; the canvas size stays
    fig.savefig(path)  # no bbox_inches: the pixel size is panels x PANEL x dpi
    plt.close(fig)
    print(f'wrote {path}')


def _need_teacher(o: Dict, figure: str) -> None:
    if 'teacher_logits' not in o:
        raise ValueError(f'{figure} needs a distiller config (to run its '
                         f'teacher); --model {o["name"]} is a plain model.')


def soft_labels(args, outs) -> Dict:
    o = outs[0]
    _need_teacher(o, 'soft-labels')
    losses = getattr(o['model'], 'distill_losses', {})
    isdm = next((m for m in losses.values()
                 if getattr(m, 'scaler', None) is not None), None)
    if isdm is None:
        raise ValueError(f'soft-labels needs an ISDM distiller with instance '
                         f'scaling (use_is=True); --model {o["name"]} has '
                         f'none among {list(losses)}.')
    easy, hard = analysis.pick_easy_and_hard(o['teacher_logits'],
                                             o['labels'], args.k)
    idx = torch.cat([easy, hard])
    with torch.no_grad():
        before, after, scale = analysis.isdm_soft_labels(
            o['teacher_logits'][idx], o['labels'][idx], isdm.scaler,
            isdm.temperature)
    fig, axes = _figure(len(idx), args.dpi)
    x = torch.arange(before.size(1)).float()
    for i, ax in enumerate(axes[0]):
        kind = 'easy' if i < len(easy) else 'hard'
        ax.bar(x.numpy() - 0.2, before[i].numpy(), 0.4,
               label='teacher p (T)')
        ax.bar(x.numpy() + 0.2, after[i].numpy(), 0.4, label='scaled q')
        ax.set_title(f'{kind}: {o["classes"][int(o["labels"][idx[i]])]}, '
                     f's={float(scale[i]):.2f}', fontsize=9)
        ax.set_xticks(x.tolist())
        ax.set_ylim(0, 1)
    axes[0][0].legend(fontsize=8)
    _save(fig, args.out)
    for i in range(len(idx)):
        print(f'sample {int(idx[i])}: s = {float(scale[i]):.3f}')
    return dict(scale=scale)


def tsne(args, outs) -> Dict:
    fig, axes = _figure(len(outs), args.dpi)
    g = torch.Generator().manual_seed(0)
    result = {}
    for o, ax in zip(outs, axes[0]):
        n = o['features'].size(0)
        keep = torch.randperm(n, generator=g)[:args.max_samples].sort().values
        y = analysis.tsne(o['features'][keep], iters=args.tsne_iters)
        labels = o['labels'][keep]
        for c in labels.unique():
            m = labels == c
            ax.scatter(y[m, 0].numpy(), y[m, 1].numpy(), s=4,
                       label=o['classes'][int(c)])
        ax.set_title(f'{o["name"]}: t-SNE of student features', fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        result[o['name']] = y
    axes[0][0].legend(fontsize=6, markerscale=2)
    _save(fig, args.out)
    return result


def _heatmaps(args, outs, mats, title, vmin=None, vmax=None):
    fig, axes = _figure(len(outs), args.dpi)
    for o, mat, ax in zip(outs, mats, axes[0]):
        im = ax.imshow(mat.numpy(), cmap='viridis', vmin=vmin, vmax=vmax)
        ax.set_title(f'{o["name"]}: {title}', fontsize=9)
        ticks = list(range(mat.size(0)))
        ax.set_xticks(ticks)
        ax.set_yticks(ticks)
        if len(ticks) <= 12:
            ax.set_yticklabels(o['classes'], fontsize=6)
        fig.colorbar(im, ax=ax, fraction=0.046)
    _save(fig, args.out)


def correlation(args, outs) -> Dict:
    mats, result = [], {}
    for o in outs:
        _need_teacher(o, 'correlation')
        d = analysis.correlation_difference(o['teacher_logits'], o['logits'])
        mats.append(d)
        result[o['name']] = dict(max=float(d.max()), mean=float(d.mean()))
        print(f'{o["name"]}: |corr(teacher) - corr(student)| max '
              f'{float(d.max()):.4f} mean {float(d.mean()):.4f}')
    top = max(float(m.max()) for m in mats)
    _heatmaps(args, outs, mats, '|corr diff|', 0, top)
    return result


def similarity(args, outs) -> Dict:
    mats, result = [], {}
    for o in outs:
        c = o['logits'].size(1)
        s = analysis.class_centre_similarity(o['logits'], o['labels'], c)
        off = s[~torch.eye(c, dtype=torch.bool)]
        mats.append(s)
        result[o['name']] = dict(diag=float(s.diag().mean()),
                                 off_diag=float(off.mean()))
        print(f'{o["name"]}: cosine to own class centre '
              f'{float(s.diag().mean()):.4f}, to other centres '
              f'{float(off.mean()):.4f}')
    _heatmaps(args, outs, mats, 'cosine to class centres', -1, 1)
    return result


def confusion(args, outs) -> Dict:
    mats, result = [], {}
    for o in outs:
        c = o['logits'].size(1)
        m = analysis.confusion_matrix(o['logits'], o['labels'], c)
        mats.append(m.double() / m.sum(1, keepdim=True).clamp_min(1))
        acc = float(m.diag().sum() / m.sum())
        result[o['name']] = dict(top1=acc * 100)
        print(f'{o["name"]}: top-1 {acc * 100:.2f} % on {int(m.sum())} images')
    _heatmaps(args, outs, mats, 'confusion (row-normalised)', 0, 1)
    return result


FIGURES = {'soft-labels': soft_labels, 'tsne': tsne,
           'correlation': correlation, 'similarity': similarity,
           'confusion': confusion}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Analysis figures of distilled models (PNG).')
    parser.add_argument('figure', choices=sorted(FIGURES))
    parser.add_argument('--model', nargs=3, action='append', required=True,
                        metavar=('NAME', 'CONFIG', 'CHECKPOINT'),
                        help='a model to show; repeat to compare models')
    parser.add_argument('--out', required=True, help='PNG file to write')
    parser.add_argument('--teacher-ckpt',
                        help="override the distiller configs' teacher_ckpt")
    parser.add_argument('--dpi', type=int, default=100)
    parser.add_argument('--k', type=int, default=2,
                        help='soft-labels: easy and hard samples each')
    parser.add_argument('--max-samples', type=int, default=1000,
                        help='tsne: random test samples per model')
    parser.add_argument('--tsne-iters', type=int, default=750)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in every config')
    return parser.parse_args(argv)


def main(argv=None) -> Dict:
    args = parse_args(argv)
    if not args.out.lower().endswith('.png'):
        raise ValueError(f'--out "{args.out}" must be a .png file.')
    if args.figure == 'soft-labels' and len(args.model) != 1:
        raise ValueError('soft-labels shows one ISDM model: give one --model.')
    outs = [load_outputs(args, *m) for m in args.model]
    return FIGURES[args.figure](args, outs)


if __name__ == '__main__':
    main()
