"""Saving and loading: state dicts and full checkpoints as safetensors files (no pickle).

``save(obj, path)`` / ``load(path)`` for state dicts and nested objects; ``save_checkpoint`` /
``load_checkpoint`` for a whole run (model, optimizer, scheduler, epoch, history, RNG state);
``save_model`` / ``load_model`` for an application's checkpoint (config + extras + weights);
``atomic_write`` / ``atomic_path`` for any file that must never be left half-written.
"""

from .serialization import (
    CheckpointError,
    SerializationError,
    atomic_path,
    atomic_write,
    check_state_dict,
    load,
    load_checkpoint,
    save,
    save_checkpoint,
    save_model,
    load_model,
)

__all__ = ["save", "load", "save_checkpoint", "load_checkpoint", "save_model", "load_model",
           "check_state_dict", "atomic_write", "atomic_path", "SerializationError",
           "CheckpointError"]
