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


def differences(recorded: Dict[str, Any], current: Dict[str, Any],
                template: str = '{key}: {old} then, {new} now'
                ) -> List[str]:
    """Every differing leaf value of two nested dicts, one short line each.

    A top-level key only one side has is not a difference (that side has
    not measured it yet); inside a key both have, a sub-key only one side
    has is.

    Args:
        recorded (dict): The recorded fingerprint.
        current (dict): This run's.
        template (str): Format of a line, with ``{key}`` (dotted),
            ``{old}`` and ``{new}``. Defaults to
            ``'{key}: {old} then, {new} now'``.

    Returns:
        list[str]: The lines, sorted by key.
    """
    old, new = _flatten(recorded), _flatten(current)
    found = []
    for key in sorted(set(old) & set(new)):
        if old[key] != new[key]:
            found.append(template.format(key=key, old=_short(old[key]),
                                         new=_short(new[key])))
    for key in sorted(set(old) ^ set(new)):
        top = key.split('.')[0]
        if top in recorded and top in current and \
                recorded[top] is not None and current[top] is not None:
            found.append(template.format(
                key=key, old=_short(old.get(key, '(unset)')),
                new=_short(new.get(key, '(unset)'))))
    return found
