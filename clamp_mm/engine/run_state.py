"""Re-export: the run fingerprint lives in :mod:`clamp_mm.pipeline.run_state`
(``quantize_model`` records and checks it without a Runner)."""
from clamp_mm.pipeline.run_state import (RunStateMismatchError,  # noqa: F401
                                         check_run_state, discard_run_state,
                                         fingerprint_from_cfg)
