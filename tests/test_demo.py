"""tools/demo.py: the progress records of ProgressRecordHook, the progress
lines drawn from them, the results files, and a tiny demo end to end."""
import io
import json
import os.path as osp
import struct
from types import SimpleNamespace

import pytest
import torch

from mmrskd.engine.hooks import ProgressRecordHook
from tools.misc import demo_report
from tools.misc.run_progress import (ProgressPrinter, RecordReader,
                                     format_line, format_seconds)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _fake_run(hook, work_dir, epochs=2, iters=3, val_every=1):
    """Drive ``hook`` the way mmengine's EpochBasedTrainLoop calls it."""
    runner = SimpleNamespace(work_dir=str(work_dir), iter=0, epoch=0,
                             max_epochs=epochs, max_iters=epochs * iters,
                             train_dataloader=[None] * iters)
    hook.before_train(runner)
    for epoch in range(epochs):
        hook.before_train_epoch(runner)
        for i in range(iters):
            loss = torch.tensor(float(10 * epoch + i))
            hook.after_train_iter(runner, i, outputs=dict(loss=loss))
            runner.iter += 1
        runner.epoch += 1
        if (epoch + 1) % val_every == 0:
            hook.after_val_epoch(runner, {'accuracy/top1': 50.0 + epoch})
    hook.after_train(runner)


def _records(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_hook_records_epoch_iter_loss_top1_and_eta(tmp_path):
    hook = ProgressRecordHook('progress.jsonl', interval=2)
    _fake_run(hook, tmp_path)
    recs = _records(tmp_path / 'progress.jsonl')
    assert [(r['event'], r['epoch'], r['iter']) for r in recs] == [
        ('start', 1, 0), ('iter', 1, 2), ('iter', 1, 3), ('val', 1, 3),
        ('iter', 2, 4), ('iter', 2, 6), ('val', 2, 6), ('end', 2, 6)]
    # the running mean of the epoch's losses (0, 1, 2 then 10, 11, 12)
    assert [r['loss'] for r in recs] == [None, 0.5, 1.0, 1.0, 10.0, 11.0,
                                         11.0, 11.0]
    assert [r['top1'] for r in recs] == [None] * 3 + [50.0] * 3 + [51.0] * 2
    assert all(r['max_epochs'] == 2 and r['max_iters'] == 6 for r in recs)
    assert recs[0]['eta'] is None and recs[-1]['eta'] == 0
    # a second run truncates the file
    _fake_run(ProgressRecordHook(str(tmp_path / 'progress.jsonl')),
              tmp_path, epochs=1, iters=1)
    assert len(_records(tmp_path / 'progress.jsonl')) == 4


def test_hook_rejects_a_zero_interval():
    with pytest.raises(ValueError, match='interval must be >= 1'):
        ProgressRecordHook('p.jsonl', interval=0)


# A run's records as ProgressRecordHook wrote them (demo student, 2 epochs
# of 2 iterations, validated after epoch 2 only).
RECORDED = """\
{"event": "start", "epoch": 1, "max_epochs": 2, "iter": 0, "max_iters": 4, \
"loss": null, "top1": null, "elapsed": 0.0, "eta": null}
{"event": "iter", "epoch": 1, "max_epochs": 2, "iter": 1, "max_iters": 4, \
"loss": 1.9132, "top1": null, "elapsed": 0.41, "eta": 1.23}
{"event": "iter", "epoch": 1, "max_epochs": 2, "iter": 2, "max_iters": 4, \
"loss": 1.8327, "top1": null, "elapsed": 0.75, "eta": 0.75}
{"event": "iter", "epoch": 2, "max_epochs": 2, "iter": 3, "max_iters": 4, \
"loss": 1.7013, "top1": null, "elapsed": 1.19, "eta": 0.4}
{"event": "iter", "epoch": 2, "max_epochs": 2, "iter": 4, "max_iters": 4, \
"loss": 1.6534, "top1": null, "elapsed": 1.52, "eta": 0.0}
{"event": "val", "epoch": 2, "max_epochs": 2, "iter": 4, "max_iters": 4, \
"loss": 1.6534, "top1": 41.6667, "elapsed": 1.8, "eta": 0.0}
{"event": "end", "epoch": 2, "max_epochs": 2, "iter": 4, "max_iters": 4, \
"loss": 1.6534, "top1": 41.6667, "elapsed": 1.81, "eta": 0.0}
"""


def _recorded(tmp_path):
    path = tmp_path / 'progress.jsonl'
    path.write_text(RECORDED)
    return RecordReader(str(path)).read()


def test_progress_line_fields():
    assert format_seconds(None) == '--:--'
    assert format_seconds(3725.4) == '1:02:05'
    rec = json.loads(RECORDED.splitlines()[2])
    assert format_line('KD  seed 0', rec, bar_width=10) == (
        'KD  seed 0 [#####-----]  epoch 1/2  loss 1.833  ETA 0:00:01')
    end = json.loads(RECORDED.splitlines()[-1])
    assert format_line('KD', end, bar_width=4) == (
        'KD [####]  epoch 2/2  loss 1.653  top-1 41.67  took 0:00:02')


def test_progress_without_a_terminal_is_one_line_per_epoch(tmp_path):
    out = io.StringIO()
    printer = ProgressPrinter('alone', out, tty=False)
    recs = _recorded(tmp_path)
    printer.feed(recs[:3])
    assert out.getvalue() == ''  # epoch 1 has not ended yet
    printer.feed(recs[3:])
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and '\r' not in out.getvalue()
    assert 'epoch 1/2  loss 1.833  ETA' in lines[0]
    assert 'epoch 2/2  loss 1.653  top-1 41.67  took' in lines[1]


def test_progress_on_a_terminal_redraws_one_line(tmp_path):
    out = io.StringIO()
    ProgressPrinter('alone', out, tty=True).feed(_recorded(tmp_path))
    text = out.getvalue()
    assert text.count('\r') == 7 and text.count('\n') == 1
    assert text.endswith('took 0:00:02\n')
    # a shorter line blanks the rest of the longer one before it
    draws = text.rstrip('\n').split('\r')[1:]
    assert all(len(b) >= len(a.rstrip()) for a, b in zip(draws, draws[1:]))


def test_record_reader_waits_for_complete_lines(tmp_path):
    path = tmp_path / 'p.jsonl'
    reader = RecordReader(str(path))
    assert reader.read() == []  # not written yet
    line = RECORDED.splitlines()[0]
    path.write_text(line + '\n' + line[:10])
    assert len(reader.read()) == 1
    path.write_text(line + '\n' + line + '\n')
    assert len(reader.read()) == 1
    path.write_text(line + '\n')  # truncated by a new run: from the start
    assert len(reader.read()) == 1


def _results():
    rows = [('teacher', 0, 95.0)]
    rows += [('alone', s, v) for s, v in enumerate((80.0, 82.0, 84.0))]
    rows += [('KD', s, v) for s, v in enumerate((85.0, 86.0, 90.0))]
    return [dict(run=r, seed=s, top1=v, seconds=10.0) for r, s, v in rows]


def test_summary_table_and_chart(tmp_path):
    rows = demo_report.summarize(_results(), 'alone')
    assert [r['run'] for r in rows] == ['teacher', 'alone', 'KD']
    teacher, alone, kd = rows
    assert teacher['std'] is None and teacher['vs_alone'] == 13.0
    assert alone['mean'] == 82.0 and alone['std'] == 2.0
    assert kd['mean'] == 87.0 and kd['vs_alone'] == 5.0
    assert kd['train_seconds'] == 30.0
    paths = demo_report.write_results(rows, str(tmp_path), 'alone',
                                      dict(wall_seconds=1.0))
    table = open(paths['md']).read().splitlines()
    assert table[0] == ('| run | seeds | top-1 (%) | per seed | '
                        'vs student alone |')
    assert table[2] == '| teacher | 0 | 95.00 | 95.00 | +13.00 |'
    assert table[3] == ('| alone | 0,1,2 | 82.00 ± 2.00 | 80.00, 82.00, '
                        '84.00 | - |')
    assert table[4] == ('| KD | 0,1,2 | 87.00 ± 2.65 | 85.00, 86.00, '
                        '90.00 | +5.00 |')
    saved = json.load(open(paths['json']))
    assert saved['wall_seconds'] == 1.0 and saved['rows'][2]['mean'] == 87
    with open(paths['png'], 'rb') as f:
        head = f.read(24)
    assert head[:8] == b'\x89PNG\r\n\x1a\n' and head[12:16] == b'IHDR'
    w, h = demo_report.CHART_INCHES
    assert struct.unpack('>II', head[16:24]) == (
        round(w * demo_report.CHART_DPI), round(h * demo_report.CHART_DPI))


def test_tiny_demo_end_to_end(demo_scenes, tmp_path, capsys):
    """One epoch per run, one seed: progress lines (no runner log), the
    table and the three results files."""
    from tools import demo
    work = tmp_path / 'demo'
    rows = demo.main(['--data-root', demo_scenes, '--work-dir', str(work),
                      '--epochs', '1', '--seeds', '0'])
    out = capsys.readouterr().out
    assert [r['run'] for r in rows] == [
        demo.TEACHER['name'], *[s['name'] for s in demo.STUDENTS]]
    assert 'mmengine - INFO' not in out  # the runner logs went to files
    progress = [ln for ln in out.splitlines() if 'epoch 1/1' in ln]
    assert len(progress) == 1 + len(demo.STUDENTS)
    assert all('top-1' in ln and 'took' in ln for ln in progress)
    assert '| run | seeds | top-1 (%) |' in out
    assert str(work / 'logs') in out
    logs = sorted(p.name for p in (work / 'logs').iterdir())
    assert 'teacher_seed0.log' in logs and 'kd_seed0.log' in logs
    assert 'Epoch(train)' in (work / 'logs' / 'kd_seed0.log').read_text()
    table = (work / 'results.md').read_text()
    assert table.count('\n') == 2 + len(rows)
    saved = json.loads((work / 'results.json').read_text())
    assert [r['top1'] for r in saved['rows']] == [r['top1'] for r in rows]
    assert (work / 'demo_top1.png').read_bytes()[:4] == b'\x89PNG'
    # the distilled students read the teacher cache
    kd_cfg = (work / 'kd_seed0').glob('*/vis_data/config.py')
    assert 'teacher_cache' in next(kd_cfg).read_text()
