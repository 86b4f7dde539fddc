"""The package's own exception types: every error a user can cause is one of these."""

from __future__ import annotations


class D2LVGGError(Exception):
    """Base class; the CLI prints these as one line and exits non-zero."""


class SpecError(D2LVGGError, ValueError):
    """An architecture spec (or spec file) is invalid."""


class PresetError(D2LVGGError, KeyError):
    """An unknown preset name was asked for."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DataError(D2LVGGError):
    """A dataset file is missing, damaged or cannot be fetched."""


class BackendError(D2LVGGError):
    """A backend is unknown or its framework is not installed."""


class DeviceError(D2LVGGError):
    """A device was named that does not exist or is not available."""


class RunError(D2LVGGError):
    """A run folder or its files cannot be used as asked."""


class ConfigError(D2LVGGError, ValueError):
    """A training option is out of range (batch size, epochs, learning rate...)."""


class RunInterrupted(D2LVGGError):
    """Training was stopped with Ctrl-C; finished epochs are saved and can be resumed."""
