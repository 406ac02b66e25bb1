"""Device choice (CUDA when present, else CPU, unless the user says otherwise), and putting
a task's tensors on the device of the parameters they meet."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from cxgrad.errors import ConfigError, CxGradError


class DeviceMismatchError(CxGradError, RuntimeError):
    """Tensors that must meet on one device cannot be brought together."""


def resolve_device(name: str | None = "auto") -> torch.device:
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available; use --device cpu")
    return device


def params_device(params: Mapping[str, torch.Tensor]) -> torch.device:
    """The device of a parameter dict; an error naming the devices if it spans several."""
    devices = {tensor.device for tensor in params.values()}
    if len(devices) == 1:
        return devices.pop()
    if not devices:
        raise ValueError("an empty parameter dict has no device")
    names = ", ".join(sorted(str(d) for d in devices))
    raise DeviceMismatchError(
        f"the parameters are on several devices ({names}); move them all to one, e.g. "
        "{name: value.to(device) for name, value in params.items()}"
    )


def to_params_device(
    params: Mapping[str, torch.Tensor], *tensors: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """``tensors`` on the parameters' device, as a tuple in the same order.

    A tensor already there is returned as it is (no copy), so CPU runs are unchanged. A
    copy from another device is impossible while a CUDA graph is being captured: that is
    an error naming both devices rather than a failed capture.
    """
    device = params_device(params)
    return tuple(_moved(tensor, device) for tensor in tensors)


def _moved(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    if tensor.device == device:
        return tensor
    if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
        raise DeviceMismatchError(
            f"a tensor on {tensor.device} meets parameters on {device} while a CUDA graph is "
            f"being captured, when no copy between devices can be made; move the batch to "
            f"{device} before the captured step"
        )
    return tensor.to(device)
