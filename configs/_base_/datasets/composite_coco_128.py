# The composite COCO-format set at 128x128 (real Fashion-MNIST objects,
# synthetic layout), shared by the small Mask R-CNN and Cascade Mask R-CNN.
# Build it first: python tools/make_composite_datasets.py
#
# Every name carries a ``composite_`` prefix because this file is a second
# base next to a detection recipe, and mmengine refuses a key that two bases
# both set: a config inherits the recipe and this file, then assigns, e.g.
# ``train_dataloader = _base_.composite_train_dataloader``.
composite_classes = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                     'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
composite_image_size = 128
composite_data_root = 'data/composite/coco/'
composite_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(composite_image_size, composite_image_size), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
composite_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(composite_image_size, composite_image_size), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
# Worker processes would compete for the one CPU thread training uses.
composite_train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=composite_data_root,
        metainfo=dict(classes=composite_classes),
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4),
        pipeline=composite_train_pipeline))
composite_val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=composite_data_root,
        metainfo=dict(classes=composite_classes),
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        pipeline=composite_test_pipeline))
composite_val_evaluator = dict(
    ann_file=composite_data_root + 'annotations/instances_val.json')
