"""FinbuddyError and its subclasses; each carries the exit code SPEC.md gives it."""

from __future__ import annotations


class FinbuddyError(Exception):
    """Base of every error finbuddy reports to a user: one line, one exit code."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ValidationError(FinbuddyError):
    """Bad input: a value the user gave does not have the expected form."""

    exit_code = 2
    kind = "validation_error"


class ConfigError(FinbuddyError):
    """A malformed config file or a bad configuration value."""

    exit_code = 2
    kind = "config_error"


class UsageError(FinbuddyError):
    """A command line that cannot be parsed (unknown option, missing argument)."""

    exit_code = 2
    kind = "usage_error"


class NotFound(FinbuddyError):
    """A record, budget, holding or other object the user named does not exist."""

    exit_code = 1
    kind = "not_found"


class StorageError(FinbuddyError):
    """The database cannot be reached or is not in a usable state."""

    exit_code = 1
    kind = "storage_error"


class QuotaExceeded(FinbuddyError):
    """The per-user daily AI quota or the global daily limit is used up."""

    exit_code = 3
    kind = "quota_exceeded"


class AdvisorUnavailable(FinbuddyError):
    """The AI provider failed after its retries, timed out, or refused the call."""

    exit_code = 1
    kind = "advisor_unavailable"


class AdvisorAccountError(AdvisorUnavailable):
    """The provider refused the account itself: billing (`insufficient_quota`) or authentication (401/403).

    Retrying, or calling again for another user, cannot help: a batch stops at the first one.
    """


class DaemonError(FinbuddyError):
    """The background daemon could not be started, stopped or queried."""

    exit_code = 1
    kind = "daemon_error"


class QueueError(FinbuddyError):
    """The job queue (RabbitMQ) or the global rate's store (Redis) cannot be reached or refused a request."""

    exit_code = 1
    kind = "queue_error"
