import pytest

from tools.analysis import model_complexity


def test_model_complexity_of_plain_and_distiller_configs(capsys):
    rows = model_complexity.main(['configs/resnet18_demo.py', '--shape',
                                  '64', '64'])
    assert rows[0][0] == 'model'
    assert rows[0][1] == pytest.approx(11.18e6, rel=0.01)  # ResNet-18, 6 cls
    rows = model_complexity.main(['configs/kd_r34_r18_demo.py', '--shape',
                                  '64', '64'])
    (_, s_params, s_flops), (_, t_params, t_flops) = rows
    assert t_params / s_params == pytest.approx(21.29 / 11.18, rel=0.01)
    assert t_flops > 1.5 * s_flops
    assert 'teacher / student' in capsys.readouterr().out
