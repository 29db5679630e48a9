"""Warn about COCO annotations whose box leaves its image or has no area.

mmdet's ``CocoDataset`` silently drops zero-area boxes and keeps boxes that
leave the image; either way mAP drops without a word. The quantization loop
counts such annotations in the test set's json once and logs one warning;
what is kept is still decided by CocoDataset's own filters.
"""
import json
import logging
import os.path as osp
from typing import Optional, Tuple

from mmengine.logging import print_log

#: Slack, in pixels, before a box counts as leaving its image.
BORDER_TOLERANCE = 1.0
#: Annotation files already reported in this process.
_REPORTED = set()


def _is_bad(box, width: Optional[float], height: Optional[float]) -> bool:
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        return True
    x, y, w, h = (float(value) for value in box)
    if w <= 0 or h <= 0:
        return True
    if width is None or height is None:
        return False
    return (x < -BORDER_TOLERANCE or y < -BORDER_TOLERANCE
            or x + w > width + BORDER_TOLERANCE
            or y + h > height + BORDER_TOLERANCE)


def count_bad_boxes(ann_file: str) -> Tuple[int, int, Optional[str]]:
    """Count annotations with a box outside its image or of zero area.

    Args:
        ann_file (str): A COCO-format json file.

    Returns:
        tuple[int, int, str | None]: Bad annotations, all annotations, and
        a description of the first bad one.
    """
    with open(ann_file, encoding='utf-8') as file:
        content = json.load(file)
    sizes = {image.get('id'): (image.get('width'), image.get('height'))
             for image in content.get('images', [])}
    annotations = content.get('annotations', [])
    bad, example = 0, None
    for annotation in annotations:
        width, height = sizes.get(annotation.get('image_id'), (None, None))
        if _is_bad(annotation.get('bbox'), width, height):
            bad += 1
            if example is None:
                example = (f'id {annotation.get("id")}: bbox '
                           f'{annotation.get("bbox")} in a {width}x{height} '
                           'image')
    return bad, len(annotations), example


def warn_bad_coco_boxes(dataset, logger='current') -> int:
    """Log one warning when ``dataset``'s COCO json holds bad boxes.

    Anything that is not a dataset read from a COCO json with annotations
    is ignored; each file is reported once per process.

    Args:
        dataset: The test dataset (mmdet ``CocoDataset`` or any object with
            an ``ann_file`` json path).
        logger (Logger | str): Where to log. Defaults to ``'current'``.

    Returns:
        int: The number of bad annotations (0 when not checked).
    """
    ann_file = getattr(dataset, 'ann_file', None)
    if not isinstance(ann_file, str) or not ann_file.endswith('.json') or \
            not osp.isfile(ann_file) or ann_file in _REPORTED:
        return 0
    try:
        bad, total, example = count_bad_boxes(ann_file)
    except (OSError, ValueError, TypeError, AttributeError):
        return 0  # not COCO-shaped: not ours to judge
    _REPORTED.add(ann_file)
    if bad:
        print_log(
            f'{bad} of {total} annotations in {ann_file} have a box outside '
            f'their image or of zero area (first: {example}); CocoDataset\'s '
            'filters decide which are kept, and mAP drops with them',
            logger=logger, level=logging.WARNING)
    return bad
