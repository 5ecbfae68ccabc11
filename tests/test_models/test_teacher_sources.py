"""Teachers from elsewhere (issue: real checkpoints survive first contact).

- checkpoints written by mmengine's Runner for plain mmpretrain / mmdet,
  in a process that never imported mmrskd, load as teachers (they carry
  ``getattr(HistoryBuffer, 'min')`` pickles that torch's weights-only loader
  refuses on its own);
- an mmrskd distiller checkpoint (student + distill_losses) is a teacher;
- bare and DDP-prefixed state dicts load; pickled objects are refused with
  a message that says what to do;
- a forgotten ``teacher_ckpt`` is an error unless ``allow_random_teacher``;
- the teacher normalises the raw batch with its own config's preprocessor.
"""
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmdet
import mmrskd  # noqa: F401
from mmrskd.models import ClsDistiller, TeacherCheckpointError
from mmrskd.models.distillers.data_preprocessor import DistillDataPreprocessor
from mmrskd.models.distillers.teacher import load_teacher_weights

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PY = sys.executable
RETINANET_R18 = osp.join(mmdet.__path__[0], '.mim', 'configs', 'retinanet',
                         'retinanet_r18_fpn_1x_coco.py')

# A plain mmengine run (no mmrskd import) that writes epoch_1.pth.
PLAIN_RUN = textwrap.dedent('''
    import sys
    import torch
    from mmengine.dataset import BaseDataset
    from mmengine.runner import Runner
    scope, work_dir = sys.argv[1], sys.argv[2]
    if scope == 'mmpretrain':
        from mmpretrain.registry import DATASETS
        from mmpretrain.structures import DataSample
        model = dict(type='ImageClassifier',
                     backbone=dict(type='ResNet', depth=18, out_indices=(3,)),
                     neck=dict(type='GlobalAveragePooling'),
                     head=dict(type='LinearClsHead', num_classes=3,
                               in_channels=512),
                     data_preprocessor=dict(mean=[1., 2., 3.],
                                            std=[4., 5., 6.]))

        def sample(i):
            return dict(inputs=torch.randint(0, 255, (3, 32, 32),
                                             dtype=torch.uint8),
                        data_samples=DataSample().set_gt_label(i % 3))
    else:
        from mmdet.registry import DATASETS
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        import os.path as osp
        import mmdet
        from mmengine.config import Config
        model = Config.fromfile(osp.join(
            mmdet.__path__[0], '.mim', 'configs', 'retinanet',
            'retinanet_r18_fpn_1x_coco.py')).model
        model.backbone.init_cfg = None
        model.bbox_head.num_classes = 3

        def sample(i):
            s = DetDataSample(metainfo=dict(img_shape=(64, 64 + 8 * i),
                                            ori_shape=(64, 64 + 8 * i),
                                            scale_factor=(1., 1.)))
            s.gt_instances = InstanceData(
                bboxes=torch.tensor([[4., 4., 30., 40.]]),
                labels=torch.tensor([i % 3]))
            return dict(inputs=torch.randint(0, 255, (3, 64, 64 + 8 * i),
                                             dtype=torch.uint8),
                        data_samples=s)

    @DATASETS.register_module(force=True)
    class Tiny(BaseDataset):
        def load_data_list(self):
            return [dict(idx=i) for i in range(2)]

        def get_data_info(self, idx):
            return dict(idx=idx)

        def prepare_data(self, idx):
            return sample(idx)

    assert 'mmrskd' not in sys.modules
    Runner(model=model, work_dir=work_dir, default_scope=scope,
           train_dataloader=dict(dataset=dict(type='Tiny', lazy_init=True),
                                 sampler=dict(type='DefaultSampler'),
                                 batch_size=2,
                                 collate_fn=dict(type='pseudo_collate')),
           optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.)),
           train_cfg=dict(by_epoch=True, max_epochs=1),
           default_hooks=dict(checkpoint=dict(type='CheckpointHook',
                                              interval=1))).train()
    assert 'mmrskd' not in sys.modules
''')


@pytest.fixture(scope='module')
def plain_checkpoints(tmp_path_factory):
    """``{scope: epoch_1.pth}`` written by plain mmengine runs."""
    root = tmp_path_factory.mktemp('plain')
    script = root / 'plain_run.py'
    script.write_text(PLAIN_RUN)
    out = {}
    for scope in ('mmpretrain', 'mmdet'):
        work = root / scope
        proc = subprocess.run([PY, str(script), scope, str(work)],
                              cwd=str(root), capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[scope] = str(work / 'epoch_1.pth')
    return out


def test_plain_runner_checkpoint_needs_the_restricted_getattr(
        plain_checkpoints):
    """Without mmrskd, torch's weights-only loader refuses these files even
    once every plain class in them is allow-listed: they call
    ``builtins.getattr`` (the test data really is what a plain user has)."""
    code = textwrap.dedent('''
        import importlib.util, sys, torch
        # mmrskd's allow-list without importing mmrskd (no getattr stand-in)
        spec = importlib.util.spec_from_file_location('compat', sys.argv[2])
        compat = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(compat)
        torch.serialization.add_safe_globals(
            compat.mmengine_checkpoint_globals())
        try:
            torch.load(sys.argv[1], weights_only=True)
            print('LOADED')
        except Exception as e:
            print('REFUSED', 'GLOBAL getattr ' in str(e) or
                  'GLOBAL builtins.getattr ' in str(e))
        ''')
    compat = osp.join(ROOT, 'mmrskd', 'utils', 'checkpoint_compat.py')
    for ckpt in plain_checkpoints.values():
        proc = subprocess.run([PY, '-c', code, ckpt, compat],
                              capture_output=True, text=True, timeout=120)
        assert 'REFUSED True' in proc.stdout, proc.stdout + \
            proc.stderr[-2000:]


@pytest.mark.parametrize('scope', ['mmpretrain', 'mmdet'])
def test_plain_runner_checkpoint_is_a_teacher(plain_checkpoints, scope):
    init_default_scope(scope)
    ckpt = plain_checkpoints[scope]
    saved = torch.load(ckpt, weights_only=True)['state_dict']
    if scope == 'mmpretrain':
        from mmpretrain.registry import MODELS
        teacher = dict(type='ImageClassifier',
                       backbone=dict(type='ResNet', depth=18,
                                     out_indices=(3, )),
                       neck=dict(type='GlobalAveragePooling'),
                       head=dict(type='LinearClsHead', num_classes=3,
                                 in_channels=512))
    else:
        from mmdet.registry import MODELS
        teacher = Config.fromfile(RETINANET_R18).model
        teacher.backbone.init_cfg = None
        teacher.bbox_head.num_classes = 3
    model = MODELS.build(teacher)
    load_teacher_weights(model, ckpt)
    own = model.state_dict()
    assert set(own) == set(saved)
    assert all(torch.equal(own[k], saved[k]) for k in saved)


def test_restricted_getattr_refuses_anything_else(tmp_path):
    """A crafted checkpoint calling getattr on another object stays
    refused."""
    import pickle
    import zipfile

    import numpy as np

    path = tmp_path / 'evil.pth'
    torch.save({'a': torch.zeros(1)}, path)
    evil = pickle.dumps({'x': getattr(np.ndarray, 'tofile')}, protocol=2)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        files = {n: z.read(n) for n in names}
    pkl = next(n for n in names if n.endswith('data.pkl'))
    files[pkl] = evil
    with zipfile.ZipFile(path, 'w') as z:
        for n in names:
            z.writestr(n, files[n])
    with pytest.raises(pickle.UnpicklingError,
                       match=r"getattr\('ndarray', 'tofile'\) is not "
                       'allowed'):
        torch.load(path, weights_only=True)


def classifier(depth, num_classes=4, pre=None):
    return dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=depth, out_indices=(3, )),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes,
                  in_channels=512),
        data_preprocessor=pre or dict(mean=[127.5] * 3, std=[64.] * 3,
                                      to_rgb=True))


def kd(teacher_ckpt, teacher=None, **kwargs):
    init_default_scope('mmpretrain')
    return ClsDistiller(student=classifier(18), teacher=teacher or
                        classifier(18), teacher_ckpt=teacher_ckpt,
                        distill_losses=dict(loss_kd=dict(type='KDLoss')),
                        **kwargs)


def test_distiller_checkpoint_is_a_teacher(tmp_path):
    """An ISDM distiller's checkpoint (student.* + distill_losses.*): its
    student becomes the teacher."""
    init_default_scope('mmpretrain')
    first = ClsDistiller(student=classifier(18), teacher=classifier(18),
                         teacher_ckpt=None, allow_random_teacher=True,
                         distill_losses=dict(loss_isdm=dict(type='ISDMLoss')))
    state = first.state_dict()
    assert any(k.startswith('distill_losses.') for k in state)
    path = tmp_path / 'distill.pth'
    torch.save({'meta': {}, 'state_dict': state}, path)
    model = kd(str(path))
    own = model.teacher.model.state_dict()
    assert all(torch.equal(own[k], state['student.' + k]) for k in own)


@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_bare_and_ddp_state_dicts_are_teachers(tmp_path, prefix):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    state = MODELS.build(classifier(18)).state_dict()
    path = tmp_path / 'bare.pth'
    torch.save({prefix + k: v for k, v in state.items()}, path)
    own = kd(str(path)).teacher.model.state_dict()
    assert all(torch.equal(own[k], state[k]) for k in state)


def test_pickled_module_and_other_objects_are_refused(tmp_path):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    module = tmp_path / 'module.pth'
    torch.save(MODELS.build(classifier(18)), module)
    with pytest.raises(TeacherCheckpointError,
                       match=r'module.pth" holds pickled Python objects that '
                       r'weights-only loading refuses .*ImageClassifier.*'
                       r"torch.save\(\{'state_dict'"):
        kd(str(module))
    listed = tmp_path / 'list.pth'
    torch.save([torch.zeros(1)], listed)
    with pytest.raises(TeacherCheckpointError, match='list.pth" holds a '
                       'list, not a state dict'):
        kd(str(listed))
    empty = tmp_path / 'meta_only.pth'
    torch.save({'meta': {'epoch': 1}}, empty)
    with pytest.raises(TeacherCheckpointError, match='holds no weights'):
        kd(str(empty))


def test_forgotten_teacher_ckpt_is_an_error():
    with pytest.raises(TeacherCheckpointError,
                       match=r'ClsDistiller: model.teacher_ckpt is not set, '
                       r'so the teacher would keep its random '
                       r'initialisation.*allow_random_teacher=True'):
        kd(None)
    assert kd(None, allow_random_teacher=True).teacher.ckpt is None


def test_forgotten_teacher_ckpt_stops_tools_train_before_training(
        tmp_path, demo_scenes):
    """Through tools/train.py: the runner is never built, no work is
    lost."""
    proc = subprocess.run(
        [PY, 'tools/train.py', 'configs/demo/kd_r34_r18_demo.py', '--work-dir',
         str(tmp_path), '--cfg-options', 'model.teacher_ckpt=None',
         f'train_dataloader.dataset.data_root={demo_scenes}'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'model.teacher_ckpt is not set' in proc.stderr
    assert not list(tmp_path.glob('*.pth'))


# ------------------------------------------------ the teacher's own inputs
BGR_TEACHER = dict(mean=[10., 200., 90.], std=[30., 7., 50.], to_rgb=False)


def _raw_batch(n=3, size=32, seed=0):
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[torch.randint(0, 255, (3, size, size), generator=g,
                              dtype=torch.uint8) for _ in range(n)],
        data_samples=[DataSample().set_gt_label(i % 4) for i in range(n)])


def _record_teacher_logits(model):
    seen = {}
    loss = model.distill_losses['loss_kd']
    forward = loss.forward

    def spy(s, t, labels):
        seen['teacher'] = t.detach().clone()
        return forward(s, t, labels)

    loss.forward = spy
    return seen


def _distill_with_config_teacher(tmp_path, pre, **model_extra):
    """A ResNet-34 teacher whose config file has the data preprocessor
    ``pre`` (and ``model_extra``), distilled into a ResNet-18 for one step.
    Returns (teacher, distiller, the teacher logits the KD loss saw, the
    teacher's own standalone eval-mode logits on the same batch)."""
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    t_cfg = tmp_path / 'teacher_cfg.py'
    model_cfg = dict(classifier(34), **model_extra)
    model_cfg.pop('data_preprocessor')
    t_cfg.write_text(f'model = {model_cfg!r}\n'
                     f'data_preprocessor = {pre!r}\n')
    teacher = MODELS.build(dict(model_cfg, data_preprocessor=dict(pre)))
    ckpt = tmp_path / 'teacher.pth'
    torch.save({'state_dict': teacher.state_dict()}, ckpt)
    model = ClsDistiller(student=classifier(18), teacher_cfg=str(t_cfg),
                         teacher_ckpt=str(ckpt),
                         distill_losses=dict(loss_kd=dict(type='KDLoss')))
    assert isinstance(model.data_preprocessor, DistillDataPreprocessor)
    seen = _record_teacher_logits(model)
    model.train()
    torch.manual_seed(0)  # Mixup/CutMix would draw here if they ran
    model.train_step(_raw_batch(), _NoStepOptim())
    teacher.eval()
    with torch.no_grad():
        own = teacher(**teacher.data_preprocessor(_raw_batch(), False),
                      mode='tensor')
    return teacher, model, seen['teacher'], own


def test_teacher_uses_its_own_config_preprocessor(tmp_path):
    """A teacher trained on BGR with other statistics gives, inside the
    distiller, the logits of its own standalone inference."""
    teacher, model, seen, own = _distill_with_config_teacher(
        tmp_path, BGR_TEACHER)
    assert torch.allclose(seen, own, atol=1e-5)
    # and what the student's normalisation would give is far from it
    with torch.no_grad():
        wrong = teacher(model.student.data_preprocessor(
            _raw_batch(), False)['inputs'], mode='tensor')
    assert not torch.allclose(wrong, own, atol=1e-2)


def test_teacher_trained_with_mixup_is_accepted(tmp_path):
    """A teacher whose config trains it with Mixup/CutMix (and normalises
    differently) is a teacher like any other: its batch augmentations are
    its training recipe and never run inside the distiller, whose teacher
    inputs are those of its standalone eval-mode preprocessing; its one-hot
    label handling does not leak into the student's data samples (the
    student's plain cross-entropy would refuse soft labels)."""
    augments = dict(augments=[dict(type='Mixup', alpha=0.2),
                              dict(type='CutMix', alpha=1.0)])
    teacher, _, seen, own = _distill_with_config_teacher(
        tmp_path, dict(BGR_TEACHER, num_classes=4), train_cfg=augments)
    assert teacher.data_preprocessor.batch_augments is not None
    assert torch.allclose(seen, own, atol=1e-5)


def test_same_normalisation_is_shared_and_override_wins(tmp_path):
    init_default_scope('mmpretrain')
    ckpt = tmp_path / 't.pth'
    from mmpretrain.registry import MODELS
    torch.save(MODELS.build(classifier(18)).state_dict(), ckpt)
    shared = kd(str(ckpt))
    assert shared.data_preprocessor is shared.student.data_preprocessor
    other = kd(str(ckpt), teacher=classifier(18, pre=dict(BGR_TEACHER)))
    assert isinstance(other.data_preprocessor, DistillDataPreprocessor)
    forced = kd(str(ckpt), teacher=classifier(18, pre=dict(BGR_TEACHER)),
                teacher_data_preprocessor=classifier(18)['data_preprocessor']
                | dict(type='ClsDataPreprocessor'))
    assert forced.data_preprocessor is forced.student.data_preprocessor


class _NoStepOptim:
    """Stands in for an OptimWrapper: ``update_params`` does nothing."""

    def optim_context(self, model):
        import contextlib
        return contextlib.nullcontext()

    def update_params(self, loss):
        pass


# ----------------------------------------------------- detection teachers
def _retinanet(pre):
    cfg = Config.fromfile(RETINANET_R18).model
    cfg.backbone.init_cfg = None
    cfg.bbox_head.num_classes = 3
    cfg.data_preprocessor.update(pre)
    return cfg


def _det_batch(sizes):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for h, w in sizes:
        inputs.append(torch.randint(0, 255, (3, h, w), generator=g,
                                    dtype=torch.uint8))
        s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                        scale_factor=(1., 1.)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[4., 4., 30.,
                                                            40.]]),
                                      labels=torch.tensor([1]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_detection_teacher_uses_its_own_preprocessor():
    init_default_scope('mmdet')
    from mmrskd.models import DynamicDetDistiller
    model = DynamicDetDistiller(
        student=_retinanet({}), teacher=_retinanet(dict(
            mean=[10., 200., 90.], std=[30., 7., 50.], bgr_to_rgb=False)),
        allow_random_teacher=True)
    model.train()
    seen = {}
    model.teacher.model.backbone.register_forward_pre_hook(
        lambda m, a: seen.setdefault('x', a[0]))
    batch = _det_batch([(64, 80), (70, 64)])
    model.train_step(batch, _NoStepOptim())
    own = model.teacher.data_preprocessor(_det_batch([(64, 80), (70, 64)]),
                                          False)['inputs']
    assert torch.equal(seen['x'], own)


def test_detection_teacher_with_other_padding():
    init_default_scope('mmdet')
    from mmrskd.models import DynamicDetDistiller
    model = DynamicDetDistiller(
        student=_retinanet({}),
        teacher=_retinanet(dict(pad_size_divisor=64)),
        allow_random_teacher=True)
    model.train()
    with pytest.raises(ValueError, match=r'pads the batch to \(128, 128\), '
                       r"the student's to \(96, 96\): the FPN levels would "
                       'not align'):
        model.train_step(_det_batch([(70, 70), (64, 64)]), _NoStepOptim())


class _FeaturePairMSE(torch.nn.Module):
    """Mean-pooled MSE of two feature maps (a minimal feature loss)."""

    def forward(self, fs, ft):
        return ((fs.mean((2, 3)) - ft.mean((2, 3)))**2).mean()


def test_bf16_teacher_runs_in_bf16_and_returns_float32(tmp_path):
    init_default_scope('mmpretrain')
    from mmpretrain.registry import MODELS
    MODELS.register_module(module=_FeaturePairMSE, force=True)
    ckpt = tmp_path / 't.pth'
    torch.save(MODELS.build(classifier(18)).state_dict(), ckpt)
    losses = dict(loss_kd=dict(type='KDLoss'),
                  loss_f=dict(type='_FeaturePairMSE', inputs=[
                      'student.backbone.layer4', 'teacher.backbone.layer4']))
    logits = {}
    for precision in ('fp32', 'bf16'):
        model = kd(str(ckpt), teacher_precision=precision)
        model.distill_losses = torch.nn.ModuleDict()
        model.loss_inputs = {}
        model._build_losses(losses, MODELS)
        conv_dtypes = []
        model.teacher.model.backbone.conv1.register_forward_hook(
            lambda m, a, out: conv_dtypes.append(out.dtype))
        seen = _record_teacher_logits(model)
        captured = {}
        feat_loss = model.distill_losses['loss_f']
        feat_forward = feat_loss.forward
        feat_loss.forward = lambda s, t: (captured.setdefault('t', t),
                                          feat_forward(s, t))[1]
        model.train()
        model.train_step(_raw_batch(size=64), _NoStepOptim())
        assert conv_dtypes == [torch.float32 if precision == 'fp32'
                               else torch.bfloat16]
        assert seen['teacher'].dtype == captured['t'].dtype == torch.float32
        logits[precision] = seen['teacher']
    p32 = torch.softmax(logits['fp32'] / 4, 1)
    p16 = torch.softmax(logits['bf16'] / 4, 1)
    assert (p32 - p16).abs().max() < 0.02
    with pytest.raises(ValueError, match="teacher_precision must be one of "
                       r"\['fp32', 'bf16', 'fp16'\], got 'int8'"):
        kd(str(ckpt), teacher_precision='int8')


def test_isd_refuses_a_teacher_with_other_box_coding():
    init_default_scope('mmdet')
    from mmrskd.models import DynamicDetDistiller
    teacher = _retinanet({})
    teacher.bbox_head.bbox_coder.target_stds = [0.1, 0.1, 0.2, 0.2]
    with pytest.raises(ValueError, match=r"encode boxes differently .*"
                       r"'stds': \(\[1.0, 1.0, 1.0, 1.0\], \[0.1, 0.1, 0.2, "
                       r'0.2\]\)'):
        DynamicDetDistiller(student=_retinanet({}), teacher=teacher,
                            allow_random_teacher=True)
    # without ISD the raw outputs are never compared
    DynamicDetDistiller(student=_retinanet({}), teacher=teacher, isd=None,
                        allow_random_teacher=True)
