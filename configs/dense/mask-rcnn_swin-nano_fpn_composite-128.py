# Small Mask R-CNN with mmdet's SwinTransformer on the composite COCO-format
# set (real Fashion-MNIST objects, synthetic layout; 128x128 images).
# Inherits mmdet's own Swin-T Mask R-CNN recipe and shrinks widths, depths,
# heads and resolution so that it trains from scratch on one CPU thread.
# Build the data first: python tools/make_composite_datasets.py
_base_ = [
    'mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_1x_coco.py',
    '../_base_/datasets/composite_coco_128.py'
]

num_classes = len(_base_.composite_classes)
embed_dims = 48
fpn_channels = 64

model = dict(
    # Swin stages see 32x32, 16x16 and 8x8 token grids at 128 px: a window
    # of 4 tiles them exactly (7 would pad every stage).
    backbone=dict(
        embed_dims=embed_dims,
        depths=[2, 2, 2],
        num_heads=[3, 6, 12],
        window_size=4,
        strides=(4, 2, 2),
        drop_path_rate=0.1,
        out_indices=(0, 1, 2),
        convert_weights=False,
        init_cfg=None),
    neck=dict(
        in_channels=[embed_dims, embed_dims * 2, embed_dims * 4],
        out_channels=fpn_channels,
        num_outs=5),
    rpn_head=dict(in_channels=fpn_channels, feat_channels=fpn_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_channels),
        bbox_head=dict(
            in_channels=fpn_channels,
            fc_out_channels=256,
            num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=fpn_channels),
        mask_head=dict(
            in_channels=fpn_channels,
            conv_out_channels=fpn_channels,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=100)))

# The data (configs/_base_/datasets/composite_coco_128.py), under the
# names the recipe uses.
data_root = _base_.composite_data_root
train_pipeline = _base_.composite_train_pipeline
test_pipeline = _base_.composite_test_pipeline
train_dataloader = _base_.composite_train_dataloader
val_dataloader = _base_.composite_val_dataloader
test_dataloader = val_dataloader
val_evaluator = _base_.composite_val_evaluator
test_evaluator = val_evaluator

max_epochs = 4
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=200),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs,
        eta_min_ratio=0.05,
        begin=0,
        end=max_epochs,
        by_epoch=True,
        convert_to_iter_based=True)
]
# From scratch and with a small batch, a larger step than the fine-tuning
# recipe's 1e-4 trains faster; gradient clipping keeps the start stable.
optim_wrapper = dict(
    optimizer=dict(lr=4e-4), clip_grad=dict(max_norm=10, norm_type=2))
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=16)
