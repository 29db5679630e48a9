"""The loop's distributed helpers, on CPU with gloo and 2 processes."""
import os

import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp

from clamp_mm.engine.distributed import (broadcast_quantization,
                                         gather_images, share_of_images)
from clamp_mm.quant import TensorQuantizer

WORLD_SIZE = 2


@pytest.mark.parametrize('num_images,world_size', [(32, 2), (7, 3), (1, 4)])
def test_shares_cover_every_image_once(num_images, world_size):
    shares = [
        share_of_images(num_images, rank, world_size)
        for rank in range(world_size)
    ]
    assert sum(shares) == num_images
    assert max(shares) - min(shares) <= 1


def _worker(rank: int, port: int, folder: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch_dist.init_process_group('gloo', rank=rank, world_size=WORLD_SIZE)
    try:
        # 5 images over 2 ranks: shares 3 and 2, each rank's filled with
        # its rank number.
        share = share_of_images(5, rank, WORLD_SIZE)
        local = torch.full((share, 3, 2, 2), float(rank))
        gathered = gather_images(local, 5)

        # Each rank calibrates its own quantizers differently; rank 0's
        # must win everywhere, bit-widths included.
        model = torch.nn.Sequential(
            TensorQuantizer(bits=8),
            TensorQuantizer(bits=4, channel_axis=0, num_channels=3))
        model[0].bits = 8 - rank
        model[0].set_range(torch.tensor(-1.0 - rank), torch.tensor(2.0))
        model[1].set_range(torch.full((3, ), -float(rank + 1)),
                           torch.full((3, ), float(rank + 3)))
        broadcast_quantization(model)
        torch.save(
            dict(gathered=gathered,
                 state=model.state_dict(),
                 bits=[model[0].bits, model[1].bits]),
            os.path.join(folder, f'rank{rank}.pth'))
    finally:
        torch_dist.destroy_process_group()


def test_gather_and_broadcast_with_two_gloo_processes(tmp_path):
    port = 29700 + os.getpid() % 200
    # fork: the children reuse the imported modules (spawn re-imports torch
    # and clamp_mm in each child, tens of seconds on a busy 2-core box).
    mp.start_processes(_worker, args=(port, str(tmp_path)),
                       nprocs=WORLD_SIZE, start_method='fork')
    results = [
        torch.load(tmp_path / f'rank{rank}.pth', weights_only=True)
        for rank in range(WORLD_SIZE)
    ]
    expected_images = torch.tensor([0., 0., 0., 1., 1.])
    for result in results:
        assert torch.equal(result['gathered'][:, 0, 0, 0], expected_images)
        assert result['bits'] == [8, 4]
    for key, value in results[0]['state'].items():
        assert torch.equal(value, results[1]['state'][key]), key
    # Rank 0's own range, not rank 1's.
    assert results[1]['state']['0.min_val'].item() == -1.0


def _runner_worker(rank: int, port: int, folder: str, checkpoint: str,
                   label_file: str) -> None:
    from mmengine.config import Config
    from mmengine.runner import Runner

    import tiny_task
    from clamp_mm.quant import iter_quantizers
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD_SIZE))
    # What tools/quantize.py does on a machine without CUDA.
    torch_dist.init_process_group('gloo', rank=rank, world_size=WORLD_SIZE)
    try:
        cfg = Config(
            tiny_task.tiny_runner_cfg(
                os.path.join(folder, 'work'), label_file, checkpoint,
                evaluate_fp=True))
        cfg.launcher = 'pytorch'
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                                     device_ids=None)
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()
        model = runner.model.module
        torch.save(
            dict(metrics=metrics,
                 quantizers={
                     name: (q.bits, q.scale, q.zero_point)
                     for name, q in iter_quantizers(model)
                 }), os.path.join(folder, f'runner_rank{rank}.pth'))
    finally:
        torch_dist.destroy_process_group()


def test_quant_loop_with_two_gloo_processes(tmp_path, monkeypatch):
    import tiny_task
    from clamp_mm.engine import QUANTIZED_MODEL_FILE, SYNTHETIC_IMAGES_FILE
    checkpoint, label_file = tiny_task.write_float_checkpoint(str(tmp_path))
    port = 29500 + os.getpid() % 200
    # The evaluator's result collection must write under the work dir, not
    # into the folder the run was started from (once the repository root).
    start_dir = tmp_path / 'started_here'
    start_dir.mkdir()
    monkeypatch.chdir(start_dir)
    mp.start_processes(
        _runner_worker,
        args=(port, str(tmp_path), checkpoint, label_file),
        nprocs=WORLD_SIZE, start_method='fork')
    assert os.listdir(start_dir) == []
    results = [
        torch.load(tmp_path / f'runner_rank{rank}.pth', weights_only=True)
        for rank in range(WORLD_SIZE)
    ]
    # The evaluator gathered both halves of the test set: same metrics on
    # both ranks, and the FP model scores 1 over all 16 images.
    assert results[0]['metrics'] == results[1]['metrics']
    assert results[0]['metrics']['fp/tiny/top1'] == 1.0
    # Every rank holds rank 0's quantization parameters.
    assert results[0]['quantizers'].keys() == results[1]['quantizers'].keys()
    for name, (bits, scale, zero_point) in results[0]['quantizers'].items():
        other_bits, other_scale, other_zero = results[1]['quantizers'][name]
        assert bits == other_bits
        assert torch.equal(scale, other_scale), name
        assert torch.equal(zero_point, other_zero), name
    # Generation was split: one seed per rank, all images gathered.
    synthetic = torch.load(tmp_path / 'work' / SYNTHETIC_IMAGES_FILE,
                           weights_only=True)
    # randomness.seed=123 of the tiny config seeds the generator; ranks
    # offset it.
    assert synthetic['metadata']['seeds'] == [123, 124]
    assert len(synthetic['images']) == tiny_task.tiny_loop_cfg()['num_images']
    assert (tmp_path / 'work' / QUANTIZED_MODEL_FILE).is_file()
