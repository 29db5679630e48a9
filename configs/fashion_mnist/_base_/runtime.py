# mmpretrain's default runtime with fixed seeds and CPU-friendly logging.
_base_ = ['mmpretrain::_base_/default_runtime.py']

default_scope = 'mmpretrain'

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    # Keep only the last full checkpoint (with optimizer state) in work_dir;
    # tools/train_classifier.py writes the slim one under checkpoints/.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
)

# Fixed seed: the same command gives the same model (CPU kernels used here
# are deterministic for a fixed thread count).
randomness = dict(seed=0, deterministic=False)
