# The data of configs/fashion_mnist/_base_/fashion_mnist_bs64.py with the
# validation split held out: train on 'train55k' (training images 0..54999),
# validate during training on 'val' (training images 55000..59999, where
# choices are made), and score the finished model once on the 10k test
# images ('test': tools/train_classifier.py runs runner.test() after
# training when validation is not on the test split).
_base_ = ['./fashion_mnist_bs64.py']

train_dataloader = dict(dataset=dict(split='train55k'))
val_dataloader = dict(dataset=dict(split='val'))
test_dataloader = dict(
    batch_size=500,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='clamp_mm.FashionMNIST',
        data_root='/usr/share/datasets/fashion-mnist',
        split='test',
        pipeline=[dict(type='PackInputs')]),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
test_evaluator = dict(type='Accuracy', topk=(1, ))
