"""The packages of the ``deploy`` extra, checked with a one-line error."""


def require_deploy_packages() -> None:
    """Raise a one-line ImportError when the deploy extra is missing."""
    missing = []
    for name in ('onnx', 'onnxscript', 'onnxruntime'):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(f'clamp_mm.deploy needs {", ".join(missing)}: '
                          "pip install -e '.[deploy]'")
