"""Check that the installed stack works: mmcv's compiled ops run and match torchvision."""
import sys

import torch


def main() -> int:
    """Run RoIAlign and nms from mmcv.ops once and compare with torchvision."""
    import mmcv
    import mmcv.ops
    import torchvision

    features = torch.rand(1, 4, 16, 16)
    rois = torch.tensor([[0., 1., 1., 9., 9.]])
    ours = mmcv.ops.RoIAlign((4, 4), 1.0, sampling_ratio=2, aligned=True)(features, rois)
    reference = torchvision.ops.roi_align(features, rois, (4, 4), 1.0, 2, aligned=True)
    if not torch.allclose(ours, reference, atol=1e-5):
        print('mmcv.ops.RoIAlign disagrees with torchvision.ops.roi_align', file=sys.stderr)
        return 1
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    _, keep = mmcv.ops.nms(boxes, scores, iou_threshold=0.5)
    if keep.tolist() != [0, 2]:
        print(f'mmcv.ops.nms kept {keep.tolist()}, expected [0, 2]', file=sys.stderr)
        return 1
    import mmdet, mmpretrain, mmseg, timm  # noqa: E401,F401
    import clamp_mm  # noqa: F401
    print(f'stack ok: torch {torch.__version__}, mmcv {mmcv.__version__} (ops), '
          f'mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
          f'mmpretrain {mmpretrain.__version__}, timm {timm.__version__}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
