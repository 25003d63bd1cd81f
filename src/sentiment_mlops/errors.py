"""The project's errors: one base, and a subclass per way a command ends.

Every error we raise on purpose derives from `SentimentError`; its message is the one line a user
reads, and its class says how a command ends (`exit_code`). The CLI maps errors by class
(`cli.errors`), the Prefect flow ends its run Failed with the same line, and the registry turns
MLflow's exceptions into these at its boundary. Anything else is a bug and keeps its traceback.

Dependency-free on purpose (the standard library only), so that `core` can raise these without
importing settings, MLflow or Prefect.
"""

from __future__ import annotations


class SentimentError(Exception):
    """An error whose message says what is wrong; shown as one line, never with a traceback."""

    exit_code = 2


class UserError(SentimentError):
    """The user must change something: input data, params, settings, options (exit 2)."""

    exit_code = 2


class ServiceUnavailableError(UserError):
    """A service we need (MLflow, Prefect, a data source) cannot be reached: start it (exit 2)."""


class RegistryError(UserError):
    """MLflow refused a registry operation; the message is MLflow's, credentials redacted."""


class NotFoundError(SentimentError):
    """What was asked for does not exist: a model, a version, an alias (exit 1)."""

    exit_code = 1


# The errors a user can act on, shown as their one-line message; anything else is a bug and
# keeps its traceback. Entry points catch exactly these (`except USER_ERRORS`).
USER_ERRORS: tuple[type[Exception], ...] = (SentimentError, FileNotFoundError)


def user_error_message(error: BaseException) -> str | None:
    """The one line for an error the user can act on, or None for a bug (full traceback)."""
    if isinstance(error, USER_ERRORS):
        return str(error)  # ours are written as one line (the registry keeps MLflow's first)
    return None


def exit_code(error: BaseException) -> int:
    """The exit code a command ends with on `error` (2 unless the class says otherwise)."""
    return getattr(error, "exit_code", UserError.exit_code)
