"""Typed errors. Each carries the exit code of SPEC §5; the CLI edge prints
``str(error)`` as one line and exits with ``exit_code``. Messages name what
to do next and never contain secrets."""

from __future__ import annotations


class SupportError(Exception):
    exit_code = 1


class UsageError(SupportError):
    exit_code = 2


class ConfigError(UsageError):
    """Bad configuration; ``problems`` lists every one found."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]


class NotFound(SupportError):
    exit_code = 3


class LockHeld(SupportError):
    exit_code = 4


class ClaimedByOther(SupportError):
    """Another agent claimed or answered the ticket (SPEC §13): the same
    exit as a held lock, since someone else holds the work."""

    exit_code = 4


class PartialFailure(SupportError):
    exit_code = 5


class ChannelError(SupportError):
    """A channel failed. ``temporary`` tells the outbox whether a retry may help;
    ``unknown_outcome`` says a send may have happened (never resend blindly)."""

    def __init__(
        self, message: str, *, temporary: bool = False, unknown_outcome: bool = False
    ) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.unknown_outcome = unknown_outcome


class ChannelTimeout(ChannelError):
    """A server that stopped answering (silent, or trickling a byte at a
    time). Temporary: the next run tries again. Never retried within a
    run, where each attempt would hold the sync lock for another timeout."""

    def __init__(self, message: str) -> None:
        super().__init__(message, temporary=True)


class AuthError(ChannelError):
    pass


class TLSError(ChannelError):
    pass


class ParseError(SupportError):
    """A message could not be parsed at all; it goes to quarantine."""


class SendRefused(SupportError):
    """A send was refused before anything left (e.g. WhatsApp window closed)."""

    exit_code = 1
