"""Registries of clamp_mm, children of mmengine's root registries.

Each registry has the scope ``clamp_mm`` and lists the modules that fill it in
``locations``, so ``type='clamp_mm.X'`` resolves from an mmdet, mmseg or
mmpretrain config without ``custom_imports``: mmengine imports
``clamp_mm.registry`` when it meets the ``clamp_mm`` scope, and the registry
imports its locations on the first lookup.

Inside clamp_mm, build with an explicit scope (``MODELS.build(cfg)`` on these
registries, or ``type='clamp_mm.X'``): the default scope during a run is the
task's (mmdet, mmseg, mmpretrain).
"""
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import Registry

#: Range observers of tensor quantizers (``clamp_mm.MinMaxObserver``, ...).
OBSERVERS = Registry('observer', scope='clamp_mm',
                     locations=['clamp_mm.quant'])
#: Quantizer types put at quant points (``clamp_mm.TensorQuantizer``,
#: ``clamp_mm.TwinUniformQuantizer``, ...).
QUANTIZERS = Registry('quantizer', scope='clamp_mm',
                      locations=['clamp_mm.quant'])
#: Model adapters: one per backbone family (timm ViT, mmdet Swin, ...).
ADAPTERS = Registry('model adapter', scope='clamp_mm',
                    locations=['clamp_mm.models'])
#: Calibration-data generators (Gaussian, PSAQ-ViT v1/v2, CLAMP, real data).
GENERATORS = Registry('generator', scope='clamp_mm',
                      locations=['clamp_mm.synth'])
#: Calibrators of quantization parameters (the evolutionary search, the
#: block reconstruction, a sequence of them).
CALIBRATORS = Registry('calibrator', scope='clamp_mm',
                       locations=['clamp_mm.search',
                                  'clamp_mm.reconstruction'])
#: Datasets: synthetic calibration sets and the project's real-data sets.
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='clamp_mm',
                    locations=['clamp_mm.datasets', 'clamp_mm.synth'])
#: Hooks: contrastive feature taps, visualisation.
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='clamp_mm',
                 locations=['clamp_mm.engine'])
#: Loops: the quantization test loop.
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='clamp_mm',
                 locations=['clamp_mm.engine'])
