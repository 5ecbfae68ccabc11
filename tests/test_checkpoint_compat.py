import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

import mmrskd  # noqa: F401  (installs the allow-list)


def test_message_hub_state_loads_with_weights_only(tmp_path):
    hub = MessageHub.get_instance('compat_test')
    for i in range(3):
        hub.update_scalar('train/loss', float(i))
        hub.update_scalar('train/acc', np.float32(i))
    hub.update_info('epoch', 2)
    hub.update_info('arr', np.arange(3))
    path = tmp_path / 'ckpt.pth'
    torch.save({'message_hub': hub.state_dict(), 'meta': {
        'seed': np.int64(3), 'dtype': np.dtype('float32')}}, path)
    assert 'builtins.getattr' not in \
        torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    obj = torch.load(path, weights_only=True)
    new = MessageHub.get_instance('compat_test_2')
    new.load_state_dict(obj['message_hub'])
    assert new.get_scalar('train/loss').current() == 2.0
    assert new.get_scalar('train/loss').mean() == pytest.approx(1.0)


def test_arbitrary_globals_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': print}, path)
    with pytest.raises(Exception, match='Unsupported global'):
        torch.load(path, weights_only=True)
