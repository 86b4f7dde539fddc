"""Where MindSpore runs (Ascend, GPU or CPU), its execution mode, and its CPU thread pools."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import mindspore as ms

from ...errors import DeviceError
from ..cores import pinned_threads, started_cores

TARGETS = {"cpu": "CPU", "gpu": "GPU", "ascend": "Ascend"}
MODES = {"graph": ms.GRAPH_MODE, "pynative": ms.PYNATIVE_MODE}


def _available(target: str) -> bool:
    try:
        return bool(ms.hal.is_available(target))
    except (AttributeError, RuntimeError, ValueError):
        return target == "CPU"


def resolve_device(name: str = "auto") -> str:
    """``auto`` picks Ascend, then GPU, then the CPU, as this MindSpore build supports them."""
    if name == "auto":
        return next(t for t in ("Ascend", "GPU", "CPU") if _available(t))
    target = TARGETS.get(name.lower())
    if target is None:
        raise DeviceError(f"unknown device {name!r} for the mindspore backend: use auto, cpu, gpu or ascend")
    if not _available(target):
        raise DeviceError(f"device {name!r} asked for, but this MindSpore build cannot use it here: use --device cpu")
    return target


def has_accelerator(name: str = "auto") -> bool:
    """Whether ``name`` resolves to a GPU or an Ascend card rather than the CPU."""
    return resolve_device(name) != "CPU"


def configure(device: str = "auto", mode: str = "graph") -> str:
    """Select the device target and execution mode (both global in MindSpore); returns the target."""
    target = resolve_device(device)
    ms.set_context(mode=MODES[mode])
    if target == "CPU":
        _size_thread_pools()
    try:
        if hasattr(ms, "set_device"):
            ms.set_device(target)
        else:  # MindSpore < 2.5
            ms.set_context(device_target=target)
    except RuntimeError:  # the runtime has started: its device is fixed for this process
        current = ms.get_context("device_target")
        if current != target:
            raise DeviceError(
                f"MindSpore already runs on {current} in this process and cannot switch to {target}; "
                "start a new Python process to use another device"
            ) from None
    return target


def _size_thread_pools() -> None:
    """One kernel thread per core this process may use (or the count pinned by ``$D2LVGG_THREADS``), and one
    dispatch thread.

    MindSpore's defaults (25 kernel threads, 5 dispatchers) are sized for a server; on a small
    machine its spin-waiting threads outnumber the cores (docs/speed.md). Each setting can be made
    once per process: one made before (by the user) is kept.
    """
    _set_once(ms.device_context.cpu.op_tuning.threads_num, pinned_threads() or started_cores())
    _set_once(ms.runtime.dispatch_threads_num, 1)


def _set_once(setting: Callable[[int], object], value: int) -> None:
    """Make one of MindSpore's once-per-process settings, unless it was made already."""
    try:
        setting(value)
    except RuntimeError as error:
        if "can not be set repeatedly" not in str(error):
            raise


def _interrupt(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # once only: a second SIGTERM ends the process as usual
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> None:
    """Make the SIGTERM that MindSpore's runtime sends on Ctrl-C an ordinary KeyboardInterrupt.

    MindSpore answers SIGINT by sending its own process SIGTERM, which would end it at once (exit
    143, no "Resume with" line). The first SIGTERM after a runner is made raises KeyboardInterrupt
    instead, so Ctrl-C stops a MindSpore run as it stops a PyTorch one; a second one terminates.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
