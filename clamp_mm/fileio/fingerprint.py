"""Hashes and comparisons of the fingerprints that guard resumable state."""
import hashlib
import os.path as osp
from typing import Any, Dict, List, Optional

import torch


def file_sha256(path: Optional[str]) -> Optional[str]:
    """SHA-256 of a local file's bytes; a URL or None is returned as is."""
    if path is None or not osp.isfile(path):
        return path
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for chunk in iter(lambda: file.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def tensor_sha256(tensor: torch.Tensor) -> str:
    """SHA-256 of a tensor's dtype, shape and bytes."""
    tensor = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(f'{tensor.dtype}|{tuple(tensor.shape)}|'.encode())
    digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _flatten(value: Any, prefix: str = '') -> Dict[str, Any]:
    if isinstance(value, dict) and value:
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f'{prefix}{key}.'))
        return flat
    return {prefix[:-1]: value}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:12] + '...' + text[-6:]


def differences(recorded: Dict[str, Any],
                current: Dict[str, Any]) -> List[str]:
    """``'key.sub: A then, B now'`` for every differing leaf value present
    in both (a key only one side has is not a difference: the side that
    lacks it has not been measured yet)."""
    old, new = _flatten(recorded), _flatten(current)
    found = []
    for key in sorted(set(old) & set(new)):
        if old[key] != new[key]:
            found.append(f'{key}: {_short(old[key])} then, '
                         f'{_short(new[key])} now')
    for key in sorted(set(old) ^ set(new)):
        top = key.split('.')[0]
        if top in recorded and top in current and \
                recorded[top] is not None and current[top] is not None:
            found.append(f'{key}: only set in the '
                         f'{"earlier" if key in old else "new"} run')
    return found
