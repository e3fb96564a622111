"""Undo a per-step cost Lightning adds on machines without NVIDIA's management library (NVML).

Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` so that ``torch.cuda.is_available()``
asks NVML instead of initialising CUDA (which would make forked DataLoader workers unusable). Where
NVML cannot be loaded (CPU machines, containers without the driver), torch then tries to load it again
on every call and falls back to the CUDA runtime anyway; torch's optimizers call ``is_available()``
at every ``step()``, so each optimizer step pays about 130 µs (measured on a 2-core CPU machine) for
nothing. When NVML is not loadable, fastest removes the variable; where NVML works, nothing changes.
"""

from __future__ import annotations

import os

import torch

VARIABLE = "PYTORCH_NVML_BASED_CUDA_CHECK"


def drop_useless_nvml_check() -> bool:
    """Remove ``VARIABLE`` when it is set but NVML cannot be loaded; True when it did."""
    if os.environ.get(VARIABLE) != "1":
        return False
    count = getattr(torch.cuda, "_device_count_nvml", None)  # private: may be absent in other torch versions
    try:
        missing = count is not None and count() < 0
    except Exception:  # noqa: BLE001 - unknown: keep the setting
        return False
    if missing:
        del os.environ[VARIABLE]
    return missing
