"""clamp_mm: data-free post-training quantization of vision transformers (CLAMP-ViT)."""
from setuptools import find_packages, setup

install_requires = [
    'torch==2.14.1',
    'torchvision==0.29.1',
    'timm',
    'mmengine==0.10.7',
    # Built from its PyPI source with compiled ops by tools/setup_env.sh.
    'mmcv==2.1.0',
    'mmdet==3.3.0',
    'mmsegmentation==1.2.2',
    'mmpretrain==1.2.0',
    'pycocotools',
    'numpy<2',
    # numpy < 2 needs an opencv built against it.
    'opencv-python<4.12',
    # mmseg imports these without declaring them.
    'ftfy',
    'regex',
    'setuptools<81',
]

bench_requires = [
    # Figures of the benchmark, the search and tools/plot_synth.py (mmengine
    # pulls it in too).
    'matplotlib',
    # The composite detection / segmentation sets: photos, textures, resizing.
    'scikit-image',
    # Hole filling of the composite masks; kernel densities of patch
    # similarity in tools/plot_synth.py.
    'scipy',
]

setup(
    name='clamp_mm',
    version='0.1.0',
    description='CLAMP-ViT data-free post-training quantization of vision '
    'transformers as an OpenMMLab extension',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'tests.*')),
    python_requires='>=3.11',
    install_requires=install_requires,
    extras_require={
        # The benchmark and experiment harness (clamp_mm.benchmark,
        # tools/benchmark*.py, tools/plot_synth.py, the composite data sets):
        # not needed by `import clamp_mm` nor by the product tools.
        'bench': bench_requires,
        # The tests exercise the harness too.
        'tests': ['pytest', 'pytest-timeout'] + bench_requires,
        # TensorboardVisBackend of mmengine's Visualizer (the run's scalars).
        'tracking': ['tensorboard==2.20.0'],
    },
    license='Apache-2.0',
)
