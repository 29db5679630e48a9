# Fashion-MNIST from the Debian package dataset-fashion-mnist, served by
# clamp_mm.FashionMNIST as 32x32 RGB-shaped images (the gray image resized once
# and repeated on 3 channels), so a patch-4 model sees an 8x8 token grid.
dataset_type = 'clamp_mm.FashionMNIST'
data_root = '/usr/share/datasets/fashion-mnist'

data_preprocessor = dict(
    num_classes=10,
    # Mean and std of the 60k training images after the resize to 32x32
    # (clamp_mm.datasets.fashion_mnist.FASHION_MNIST_MEAN / _STD).
    mean=[72.79, 72.79, 72.79],
    std=[86.29, 86.29, 86.29],
    # The 3 channels are identical: nothing to swap.
    to_rgb=False)

# No augmentation: in a schedule of a few CPU epochs these small models still
# underfit (train loss ~ test loss), so crops, flips, Mixup or CutMix would
# only slow the fit down.
train_pipeline = [dict(type='PackInputs')]
test_pipeline = [dict(type='PackInputs')]

# num_workers=0: the whole split sits in memory and the machine has 2 shared
# cores, so worker processes would only compete with the model for them.
# Batch 64: twice the updates of 128 per epoch for the same compute, which
# is what an under-trained model needs.
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=500,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
