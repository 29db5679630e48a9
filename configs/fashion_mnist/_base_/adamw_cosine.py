# A short AdamW recipe for CPU training: the DeiT/Swin ImageNet recipe
# (mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py: AdamW,
# weight decay 0.05, no decay on norms, biases, tokens and position tables,
# linear warm-up then cosine) with the warm-up cut from 20 epochs to a
# quarter of one: the whole schedule is a few epochs.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr=2e-3, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        flat_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.dist_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '.absolute_pos_embed': dict(decay_mult=0.0),
            '.relative_position_bias_table': dict(decay_mult=0.0),
        }),
)

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,
        by_epoch=True,
        end=0.25,
        convert_to_iter_based=True),
    # ``end`` defaults to train_cfg.max_epochs.
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=0.25,
        convert_to_iter_based=True),
]

# Each model config sets max_epochs; one validation at the end of training.
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=5)
val_cfg = dict()
test_cfg = dict()
