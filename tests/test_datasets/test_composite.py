"""Composite sets: determinism, annotation consistency, mmdet/mmseg loading."""
import filecmp
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from clamp_mm.datasets.composite import CompositeSceneConfig
from clamp_mm.datasets.composite_build import build_composite_datasets
from clamp_mm.datasets.composite_sources import FASHION_MNIST_CLASSES

NUM_TRAIN, NUM_VAL, IMAGE_SIZE = 6, 4, 96


def build_tiny(out_dir, seed=0):
    return build_composite_datasets(
        str(out_dir),
        seed=seed,
        num_train=NUM_TRAIN,
        num_val=NUM_VAL,
        config=CompositeSceneConfig(image_size=IMAGE_SIZE, max_objects=4))


@pytest.fixture(scope='module')
def tiny_set(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('composite')
    return build_tiny(out_dir)


def relative_files(root):
    return sorted(
        osp.relpath(osp.join(folder, name), root)
        for folder, _, names in os.walk(root) for name in names)


def load_coco(tiny_set, split):
    path = osp.join(tiny_set['coco'], 'annotations', f'instances_{split}.json')
    with open(path) as file:
        return json.load(file)


def test_same_seed_gives_identical_bytes(tiny_set, tmp_path):
    again = build_tiny(tmp_path / 'again')
    for name, root in tiny_set.items():
        files = relative_files(root)
        assert files == relative_files(again[name])
        _, mismatch, errors = filecmp.cmpfiles(
            root, again[name], files, shallow=False)
        assert mismatch == [] and errors == []


def test_other_seed_gives_other_scenes(tiny_set, tmp_path):
    other = build_tiny(tmp_path / 'other', seed=1)
    name = osp.join('annotations', 'instances_train.json')
    assert not filecmp.cmp(
        osp.join(tiny_set['coco'], name),
        osp.join(other['coco'], name),
        shallow=False)


def test_existing_output_is_refused(tiny_set):
    out_dir = osp.dirname(tiny_set['coco'])
    with pytest.raises(FileExistsError, match='overwrite'):
        build_tiny(out_dir)


@pytest.mark.parametrize('split,count', [('train', NUM_TRAIN),
                                         ('val', NUM_VAL)])
def test_coco_boxes_are_mask_extents(tiny_set, split, count):
    coco = load_coco(tiny_set, split)
    assert len(coco['images']) == count
    assert [c['name'] for c in coco['categories']] == list(
        FASHION_MNIST_CLASSES)
    assert len(coco['annotations']) >= count  # at least one object each
    images = {image['id']: image for image in coco['images']}
    for ann in coco['annotations']:
        image = images[ann['image_id']]
        mask = mask_utils.decode(ann['segmentation']).astype(bool)
        assert mask.shape == (image['height'], image['width'])
        rows, cols = np.nonzero(mask)
        x, y, w, h = ann['bbox']
        # The box is the tight extent of the mask, so the mask lies inside.
        assert (x, y) == (cols.min(), rows.min())
        assert (x + w - 1, y + h - 1) == (cols.max(), rows.max())
        assert x + w <= image['width'] and y + h <= image['height']
        assert ann['area'] == mask.sum() > 0
        assert ann['iscrowd'] == 0
        assert 1 <= ann['category_id'] <= len(FASHION_MNIST_CLASSES)


@pytest.mark.parametrize('split,folder', [('train', 'training'),
                                          ('val', 'validation')])
def test_label_maps_match_instance_masks(tiny_set, split, folder):
    coco = load_coco(tiny_set, split)
    for image in coco['images']:
        stem = osp.splitext(image['file_name'])[0]
        label_map = np.array(
            Image.open(
                osp.join(tiny_set['ade20k'], 'annotations', folder,
                         stem + '.png')))
        assert label_map.shape == (IMAGE_SIZE, IMAGE_SIZE)
        assert label_map.max() <= len(FASHION_MNIST_CLASSES)
        expected = np.zeros_like(label_map)
        for ann in coco['annotations']:
            if ann['image_id'] == image['id']:
                mask = mask_utils.decode(ann['segmentation']).astype(bool)
                assert not expected[mask].any(), 'instances overlap'
                expected[mask] = ann['category_id']
        np.testing.assert_array_equal(label_map, expected)
        photo = Image.open(
            osp.join(tiny_set['ade20k'], 'images', folder, stem + '.jpg'))
        assert photo.size == (IMAGE_SIZE, IMAGE_SIZE) and photo.mode == 'RGB'


def build_coco_dataset(tiny_set, split):
    from mmdet.datasets import CocoDataset
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    return CocoDataset(
        data_root=tiny_set['coco'],
        ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=f'images/{split}/'),
        metainfo=dict(classes=FASHION_MNIST_CLASSES),
        test_mode=True,
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        ])


def test_mmdet_coco_dataset_reads_the_annotations(tiny_set):
    dataset = build_coco_dataset(tiny_set, 'train')
    coco = load_coco(tiny_set, 'train')
    assert len(dataset) == NUM_TRAIN
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample['img'].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        anns = [a for a in coco['annotations']
                if a['image_id'] == sample['img_id']]
        expected_boxes = np.array([[x, y, x + w, y + h]
                                   for x, y, w, h in (a['bbox']
                                                      for a in anns)])
        np.testing.assert_allclose(sample['gt_bboxes'].numpy(),
                                   expected_boxes)
        np.testing.assert_array_equal(sample['gt_bboxes_labels'],
                                      [a['category_id'] - 1 for a in anns])
        np.testing.assert_array_equal(
            sample['gt_masks'].masks,
            [mask_utils.decode(a['segmentation']) for a in anns])


def test_coco_metric_scores_ground_truth_at_one(tiny_set):
    from mmdet.evaluation import CocoMetric
    dataset = build_coco_dataset(tiny_set, 'val')
    metric = CocoMetric(
        ann_file=osp.join(tiny_set['coco'], 'annotations',
                          'instances_val.json'),
        metric=['bbox', 'segm'])
    metric.dataset_meta = dataset.metainfo
    for index in range(len(dataset)):
        sample = dataset[index]
        boxes = torch.as_tensor(sample['gt_bboxes'].numpy())
        prediction = dict(
            bboxes=boxes,
            scores=torch.ones(len(boxes)),
            labels=torch.as_tensor(sample['gt_bboxes_labels']),
            masks=torch.as_tensor(sample['gt_masks'].masks.astype(bool)))
        metric.process({}, [
            dict(
                img_id=sample['img_id'],
                ori_shape=sample['ori_shape'],
                pred_instances=prediction)
        ])
    results = metric.evaluate(len(dataset))
    assert results['coco/bbox_mAP'] == pytest.approx(1.0)
    assert results['coco/segm_mAP'] == pytest.approx(1.0)


def build_seg_dataset(tiny_set, folder):
    from mmengine.registry import init_default_scope

    from clamp_mm.registry import DATASETS
    init_default_scope('mmseg')
    return DATASETS.build(
        dict(
            type='clamp_mm.CompositeADE20KDataset',
            data_root=tiny_set['ade20k'],
            data_prefix=dict(
                img_path=f'images/{folder}',
                seg_map_path=f'annotations/{folder}'),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations'),
            ]))


def test_mmseg_dataset_loads_labels_in_range(tiny_set):
    dataset = build_seg_dataset(tiny_set, 'training')
    assert len(dataset) == NUM_TRAIN
    assert dataset.metainfo['classes'] == ('background', ) + tuple(
        FASHION_MNIST_CLASSES)
    assert dataset.reduce_zero_label is False
    seen = set()
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample['img'].shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
        label_map = sample['gt_seg_map']
        assert label_map.shape == (IMAGE_SIZE, IMAGE_SIZE)
        assert label_map.max() <= len(FASHION_MNIST_CLASSES)
        seen.update(np.unique(label_map).tolist())
    assert 0 in seen and len(seen) > 1  # background and objects both present


def test_iou_metric_scores_ground_truth_at_100(tiny_set):
    from mmseg.evaluation import IoUMetric
    dataset = build_seg_dataset(tiny_set, 'validation')
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dataset.metainfo
    for index in range(len(dataset)):
        label_map = torch.as_tensor(
            dataset[index]['gt_seg_map'].astype(np.int64))[None]
        metric.process({}, [
            dict(
                pred_sem_seg=dict(data=label_map),
                gt_sem_seg=dict(data=label_map))
        ])
    results = metric.evaluate(len(dataset))
    assert results['mIoU'] == pytest.approx(100.0)
