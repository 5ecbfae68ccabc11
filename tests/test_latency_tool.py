"""tools/analysis/latency.py runs on a distiller config and prints its
teacher's and student's rows (no timing is asserted)."""
import json
import os.path as osp

import pytest

from tools.analysis import latency

CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs',
                  'demo', 'kd_r34_r18_demo.py')


def test_latency_table_of_a_distiller_config(tmp_path, capsys):
    out = tmp_path / 'latency.json'
    rows = latency.main([CONFIG, '--size', '32', '32',
                         '--warmup', '0', '--runs', '1', '--onnx',
                         '--out', str(out)])
    text = capsys.readouterr().out
    table = [ln for ln in text.splitlines() if ln.startswith('|')]
    header = [c.strip() for c in table[0].strip('|').split('|')]
    assert header == ['config', 'model', 'input', 'batch', 'params (M)',
                      'MFLOPs/img', 'torch fp32 ms/img', 'torch bf16 ms/img',
                      'onnxruntime ms/img']
    cells = [[c.strip() for c in ln.strip('|').split('|')]
             for ln in table[2:]]
    assert [(c[1], c[3]) for c in cells] == [
        ('teacher', '1'), ('teacher', '32'), ('student', '1'),
        ('student', '32')]
    assert all(c[0] == 'kd_r34_r18_demo.py' and c[2] == '32x32'
               for c in cells)
    # ResNet-34 / eighth-width ResNet-18 parameters (6 classes); teacher
    # costs more
    assert [c[4] for c in cells] == ['21.29', '21.29', '0.18', '0.18']
    assert float(cells[0][5]) > 1.9 * float(cells[2][5]) > 0
    assert all(float(v) > 0 for c in cells for v in c[6:])
    assert 'FlopAnalyzer' in text
    saved = json.loads(out.read_text())
    assert saved['rows'] == json.loads(json.dumps(rows))
    assert saved['meta']['runs'] == 1 and 'onnxruntime' in saved['meta']
