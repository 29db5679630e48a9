# Small Cascade Mask R-CNN with mmdet's SwinTransformer on the composite
# COCO-format set (real Fashion-MNIST objects, synthetic layout; 128x128
# images). Inherits the project's Swin-T Cascade Mask R-CNN recipe (that of
# Swin-Transformer-Object-Detection: 4conv1fc box heads with BN, GIoU loss,
# AdamW) and shrinks it like the small Mask R-CNN: widths, depths, heads,
# RoI samplers and resolution.
#
# As the recipe does with ImageNet weights, the backbone starts from
# pretrained weights: those of the shipped small Mask R-CNN (same Swin arch,
# trained on the training scenes of the same composite build; validation
# scenes are never trained on). Neck and heads start from scratch.
# Build the data first: python tools/make_composite_datasets.py
_base_ = [
    '../_base_/float/cascade-mask-rcnn_swin-t-p4-w7_fpn_giou-4conv1f_ms-crop-3x_coco.py',  # noqa: E501
    '../_base_/datasets/composite_coco_128.py'
]

num_classes = len(_base_.composite_classes)
embed_dims = 48
fpn_channels = 64
# Box heads: the recipe's 4 convs + 1 fc, narrowed so that the three
# stages' heads keep the float16 checkpoint under 5 MiB.
box_conv_channels = 32
box_fc_channels = 96
pretrained = 'checkpoints/mask-rcnn_swin-nano_fpn_composite-128.pth'


def _box_head(target_stds):
    return dict(
        type='Shared4Conv1FCBBoxHead',
        in_channels=fpn_channels,
        conv_out_channels=box_conv_channels,
        fc_out_channels=box_fc_channels,
        roi_feat_size=7,
        num_classes=num_classes,
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0., 0., 0., 0.],
            target_stds=target_stds),
        reg_class_agnostic=False,
        reg_decoded_bbox=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        loss_cls=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0))


def _rcnn_stage(iou):
    # The recipe's stage (IoU threshold rising 0.5 -> 0.6 -> 0.7), with
    # the small Mask R-CNN's 64 sampled RoIs instead of 512.
    return dict(
        assigner=dict(
            type='MaxIoUAssigner',
            pos_iou_thr=iou,
            neg_iou_thr=iou,
            min_pos_iou=iou,
            match_low_quality=False,
            ignore_iof_thr=-1),
        sampler=dict(
            type='RandomSampler',
            num=64,
            pos_fraction=0.25,
            neg_pos_ub=-1,
            add_gt_as_proposals=True),
        mask_size=28,
        pos_weight=-1,
        debug=False)


model = dict(
    # Stages see 32x32, 16x16 and 8x8 token grids at 128 px: a window of 4
    # tiles them exactly (7 would pad every stage).
    backbone=dict(
        embed_dims=embed_dims,
        depths=[2, 2, 2],
        num_heads=[3, 6, 12],
        window_size=4,
        strides=(4, 2, 2),
        drop_path_rate=0.1,
        out_indices=(0, 1, 2),
        convert_weights=False,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(
        in_channels=[embed_dims, embed_dims * 2, embed_dims * 4],
        out_channels=fpn_channels,
        num_outs=5),
    rpn_head=dict(in_channels=fpn_channels, feat_channels=fpn_channels),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=fpn_channels),
        bbox_head=[
            _box_head(stds)
            for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                         [0.033, 0.033, 0.067, 0.067])
        ],
        mask_roi_extractor=dict(out_channels=fpn_channels),
        mask_head=dict(
            in_channels=fpn_channels,
            conv_out_channels=fpn_channels,
            num_classes=num_classes)),
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=1000, max_per_img=300),
        rcnn=[_rcnn_stage(iou) for iou in (0.5, 0.6, 0.7)]),
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

max_epochs = 2
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
# The recipe's AdamW and parameter-wise decay; float32 on the CPU (the
# recipe's AMP wrapper needs a GPU), the small Mask R-CNN's step of 4e-4 and
# gradient clipping.
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=4e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(
        custom_keys={
            'absolute_pos_embed': dict(decay_mult=0.),
            'relative_position_bias_table': dict(decay_mult=0.),
            'norm': dict(decay_mult=0.)
        }),
    clip_grad=dict(max_norm=10, norm_type=2))
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_epochs, max_keep_ckpts=1))
randomness = dict(seed=0)
auto_scale_lr = dict(enable=False, base_batch_size=16)
