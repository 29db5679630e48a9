"""Compatibility of the OpenMMLab stack (mmengine 0.10.7, mmcv 2.1.0, mmdet 3.3.0,
mmseg 1.2.2, mmpretrain 1.2.0) with torch 2.14 and numpy 1.26.

Applied once when ``clamp_mm`` is imported; site-packages is never edited.
Each patch is a function named after what it fixes, with a test in
``tests/test_compat.py`` that fails without it.

What needs no patch, and why:
    * The mmcv version asserts of mmdet 3.3.0 and mmseg 1.2.2 require
      ``2.0.0rc4 <= mmcv < 2.2.0``: the set-up builds mmcv 2.1.0 exactly so
      that they pass unchanged.
"""
import torch

_applied = False


def allow_openmmlab_checkpoint_globals() -> None:
    """Let ``torch.load``'s safe loader read OpenMMLab checkpoints.

    Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``, and
    mmengine 0.10.7 calls it without the argument. Checkpoints saved by the
    mmengine Runner keep numpy arrays and scalars and mmengine
    ``HistoryBuffer`` objects (the message hub) in their ``meta``, so loading
    them fails with ``UnpicklingError``. Rather than turning the safe loader
    off (``weights_only=False`` runs arbitrary code from an untrusted file),
    this adds exactly those classes to torch's allow-list.

    ``HistoryBuffer`` pickles its class-level table of statistics methods as
    ``getattr(HistoryBuffer, 'min')`` and so on. Allowing the builtin
    ``getattr`` would reopen the hole the safe loader closes, so the name
    ``builtins.getattr`` is bound to :func:`_history_buffer_getattr`, which
    only hands out those methods.
    """
    import numpy as np
    from mmengine.logging import HistoryBuffer

    numpy_dtype_classes = {type(np.dtype(code)) for code in np.typecodes['All']}
    torch.serialization.add_safe_globals([
        np.core.multiarray._reconstruct,
        np.core.multiarray.scalar,
        np.ndarray,
        np.dtype,
        *sorted(numpy_dtype_classes, key=lambda cls: cls.__name__),
        HistoryBuffer,
        (_history_buffer_getattr, 'builtins.getattr'),
    ])


def _history_buffer_getattr(owner: object, name: str) -> object:
    """``getattr`` restricted to mmengine ``HistoryBuffer`` statistics methods.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    import pickle

    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and callable(
            HistoryBuffer.__dict__.get(name)) and not name.startswith('_'):
        return getattr(owner, name)
    raise pickle.UnpicklingError(
        f'checkpoint asks for getattr({owner!r}, {name!r}); the safe loader '
        f'only allows HistoryBuffer statistics methods')


def apply_all() -> None:
    """Apply every patch of this module once; later calls do nothing."""
    global _applied
    if _applied:
        return
    allow_openmmlab_checkpoint_globals()
    _applied = True
