"""A COCO json with boxes outside their image or of zero area: one warning
with the count, once per file."""
import json
import logging

from mmengine.logging import MMLogger

from clamp_mm.engine.coco_box_check import (count_bad_boxes,
                                            warn_bad_coco_boxes)


def write_coco(path, boxes):
    content = dict(
        images=[dict(id=1, width=100, height=50, file_name='a.jpg')],
        annotations=[dict(id=index, image_id=1, bbox=box, area=1,
                          category_id=1, iscrowd=0)
                     for index, box in enumerate(boxes)],
        categories=[dict(id=1, name='thing')])
    path.write_text(json.dumps(content))
    return str(path)


class FakeCocoDataset:

    def __init__(self, ann_file):
        self.ann_file = ann_file


def test_counts_boxes_outside_and_of_zero_area(tmp_path):
    ann_file = write_coco(tmp_path / 'a.json', [
        [10, 10, 20, 20],      # fine
        [0, 0, 100, 50],       # exactly the image: fine
        [90, 10, 20, 10],      # leaves on the right
        [10, 10, 0, 5],        # zero width
        [-5, 0, 10, 10],       # leaves on the left
    ])
    bad, total, example = count_bad_boxes(ann_file)
    assert (bad, total) == (3, 5)
    assert 'id 2' in example and '100x50' in example


def test_warns_once_per_file(tmp_path):
    ann_file = write_coco(tmp_path / 'b.json', [[90, 10, 20, 10]])
    logger = MMLogger.get_instance('coco_box_check_test')
    records = []

    class Collect(logging.Handler):

        def emit(self, record):
            records.append(record)

    logger.addHandler(Collect(level=logging.WARNING))
    assert warn_bad_coco_boxes(FakeCocoDataset(ann_file), logger) == 1
    assert warn_bad_coco_boxes(FakeCocoDataset(ann_file), logger) == 0
    warnings = [r.getMessage() for r in records
                if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith('1 of 1 annotations in')


def test_clean_file_and_non_coco_datasets_say_nothing(tmp_path):
    ann_file = write_coco(tmp_path / 'c.json', [[1, 1, 5, 5]])
    assert warn_bad_coco_boxes(FakeCocoDataset(ann_file)) == 0
    assert warn_bad_coco_boxes(object()) == 0
