import os.path as osp

import pytest

from tools.analysis import model_complexity


def test_model_complexity_of_plain_and_distiller_configs(capsys):
    rows = model_complexity.main(['configs/demo/resnet18_demo.py', '--shape',
                                  '64', '64'])
    assert rows[0][0] == 'model'
    # the demo's student: ResNet-18 at an eighth of its width, 6 classes
    assert rows[0][1] == pytest.approx(0.1771e6, rel=0.01)
    rows = model_complexity.main(['configs/demo/kd_r34_r18_demo.py', '--shape',
                                  '64', '64'])
    (_, s_params, s_flops), (_, t_params, t_flops) = rows
    assert t_params / s_params == pytest.approx(21.29 / 0.1771, rel=0.01)
    assert t_flops > 1.5 * s_flops
    assert 'teacher / student' in capsys.readouterr().out


# ------------------------------------------------ benchmark_distill.py
def test_benchmark_distill_reports_ratios_against_the_limit(tmp_path):
    import json

    from tools.analysis import benchmark_distill
    out = tmp_path / 'bench.json'
    result = benchmark_distill.main([
        'configs/demo/kd_r34_r18_demo.py', 'configs/demo/isdm_r34_r18_demo.py',
        '--batch-size', '4', '--size', '32', '--iters', '2', '--warmup', '1',
        '--threads', '1', '--out', str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    # the CPU model and instruction set, not only the architecture: the
    # same step costs 1.5 to 1.8 times as much on one x86_64 as on another
    from tools.analysis.bench_runs import cpu_name
    machine = result['machine']
    assert machine['cpu'] == cpu_name() and machine['capability']
    assert machine['torch'] and machine['python']
    kd, isdm = result['rows']
    for row in (kd, isdm):
        assert row['limit_s'] == pytest.approx(row['student_s']
                                               + row['teacher_s'])
        assert row['ratio'] == pytest.approx(row['distill_s']
                                             / row['limit_s'])
        assert not any('rss' in key for key in row)  # only with --memory
    assert kd['vs_baseline'] == 0
    assert isdm['vs_baseline'] == pytest.approx(
        isdm['distill_s'] / kd['distill_s'] - 1)


def test_benchmark_distill_memory_in_fresh_processes():
    from tools.analysis import benchmark_distill
    row, = benchmark_distill.main([
        'configs/demo/kd_r34_r18_demo.py', '--batch-size', '4', '--size',
        '32', '--iters', '1', '--warmup', '0', '--threads', '1',
        '--memory'])['rows']
    # a fresh process holding a teacher holds more than one without
    assert row['distill_peak_rss_mb'] > row['student_peak_rss_mb'] > 100


# every detector family: the two-stage teacher's forward needs the samples
@pytest.mark.parametrize('family', ['retinanet', 'faster-rcnn', 'fcos'])
def test_benchmark_distill_runs_a_detection_distiller(family):
    from tools.analysis import benchmark_distill
    config = f'configs/airbus/dynkd_{family}_r50_r18_airbus.py'
    result = benchmark_distill.main([
        config, '--batch-size', '1', '--size', '64', '--iters', '1',
        '--warmup', '0', '--threads', '1'])
    row = result['rows'][0]
    # timings are reported, never asserted beyond being measured
    assert min(row['student_s'], row['teacher_s'], row['distill_s']) > 0
    assert row['config'].endswith(osp.basename(config))


def test_benchmark_distill_refuses_a_plain_model():
    from tools.analysis import benchmark_distill
    with pytest.raises(ValueError, match='resnet18_demo.py: model.type is '
                       'ImageClassifier, not a distiller'):
        benchmark_distill.main(['configs/demo/resnet18_demo.py', '--iters',
                                '1'])
