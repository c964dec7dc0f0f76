"""Reading weights files people bring without unpickling arbitrary objects.

`torch.load(weights_only=True)` reads tensors, plain containers and numbers only. A Lightning
checkpoint also holds the trainer's bookkeeping: older Lightning keyed callback states by the
callback's class, and hyper-parameters may be an `AttributeDict`. Those names (and only those:
`pytorch_lightning`, `lightning`, `lightning_fabric`, `omegaconf`, torch's LR schedulers) are
read as `Opaque` placeholders that hold their arguments and never run any code; any other
pickled global (`os.system`, a user class) refuses the file, naming it. The weights themselves
must then be plain tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from fashion_model.errors import BadInput

# Bookkeeping a training framework leaves in a checkpoint: read as placeholders, never imported.
BOOKKEEPING = (
    "pytorch_lightning.",
    "lightning.",
    "lightning_fabric.",
    "omegaconf.",
    "torch.optim.lr_scheduler.",
)


class Opaque:
    """Stands in for a bookkeeping object of a checkpoint: keeps what it was given, does
    nothing."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs, self.state = args, kwargs, None

    def __setstate__(self, state) -> None:
        self.state = state

    def __repr__(self) -> str:
        return "Opaque()"


def first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def safe_load(path: Path) -> object:
    """The file's contents, read with torch's weights-only unpickler (bookkeeping globals as
    `Opaque`); any other pickled object is a one-line BadInput naming it."""
    path = Path(path)
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as error:  # noqa: BLE001 - not a torch file at all
        raise BadInput(
            f"{path}: not a PyTorch checkpoint or weights file ({first_line(error)})"
        ) from None
    refused = [name for name in unsafe if not name.startswith(BOOKKEEPING)]
    if refused:
        raise BadInput(
            f"{path}: holds pickled objects other than tensors "
            f"({', '.join(sorted(refused)[:3])}); refused: only plain weights are read "
            "(save the state dict: torch.save(model.state_dict(), ...))"
        )
    try:
        with torch.serialization.safe_globals([(Opaque, name) for name in unsafe]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - a damaged file is the same bad input
        raise BadInput(f"{path}: cannot be read as a PyTorch file ({first_line(error)})") from None


def tensor_dict(value: object, path: Path, what: str) -> dict[str, torch.Tensor]:
    """`value` as a dict of plain tensors, or a one-line BadInput."""
    if not isinstance(value, Mapping):
        raise BadInput(f"{path}: {what} is not a dict of tensors (found {type(value).__name__})")
    for key, tensor in value.items():
        if not isinstance(key, str) or not isinstance(tensor, torch.Tensor):
            raise BadInput(
                f"{path}: {what} holds {type(tensor).__name__} under {key!r}, not a tensor"
            )
    return dict(value)
