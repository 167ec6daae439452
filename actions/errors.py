"""Errors raised inside the back office, each carrying a stable code a caller can branch on."""

from __future__ import annotations


class BackofficeError(Exception):
    """Base class: `code` is stable and machine-readable, the message is for people."""

    code = "backoffice_error"
    retryable = False

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        if code:
            self.code = code
        self.details = details or {}

    @property
    def message(self) -> str:
        return str(self)


class InvalidArguments(BackofficeError):
    code = "invalid_arguments"


class NotFound(BackofficeError):
    code = "not_found"


class PreconditionFailed(BackofficeError):
    """A write broke a rule of the business; nothing was changed."""

    code = "precondition_failed"


class Conflict(BackofficeError):
    """Someone else changed the record between our read and our write."""

    code = "conflict"


class AccessDenied(BackofficeError):
    code = "access_denied"


class SystemFailure(BackofficeError):
    """A system of record failed to answer properly. Subclasses say how."""

    code = "system_error"
    retryable = True

    def __init__(self, system: str, message: str, **kw):
        super().__init__(message, **kw)
        self.system = system


class SystemError_(SystemFailure):
    code = "system_error"


class SystemTimeout(SystemFailure):
    code = "system_timeout"


class LostResponse(SystemFailure):
    """The request may have been applied, but its reply never arrived."""

    code = "lost_response"


class SystemUnavailable(SystemFailure):
    """The circuit breaker is open: the system is considered down and is not called."""

    code = "system_unavailable"
    retryable = False
