"""Which errors a user can fix, and the one line that says so.

One definition for the CLI (which prints the line and exits 2) and the Prefect flow (which ends
its run Failed with the line as the state's message), so both tell the same story.
"""

from __future__ import annotations

from sentiment_mlops.settings import get_settings


def user_error_message(error: BaseException) -> str | None:
    """The message for an error the user can fix (bad data, params, registry state), or None.

    None means a bug or an outage of our own making: it keeps its full traceback.
    """
    # Imported here: pandas and pydantic are not needed to print `sentiment --help`.
    from sentiment_mlops.core.data import DataError
    from sentiment_mlops.core.params import ParamsError

    if isinstance(error, (DataError, ParamsError, FileNotFoundError)):
        return str(error)
    if not _is_registry_error(error):
        return None
    from sentiment_mlops.redaction import redactor_for

    redact = redactor_for(get_settings())  # the URI may carry a password
    message = redact(_first_line(error))
    if "Max retries exceeded" in message or "Connection refused" in message:
        settings = get_settings()
        uri = redact(settings.mlflow_tracking_uri)
        if settings.registry_uri != settings.mlflow_tracking_uri:
            # Which of the two failed is not in the error: name both rather than the wrong one.
            registry = redact(settings.registry_uri)
            return (
                f"cannot reach MLflow: tracking store {uri} or registry {registry} (is it running?)"
            )
        return f"cannot reach the MLflow tracking server at {uri} (is it running?)"
    return f"registry: {message}"


def _is_registry_error(error: BaseException) -> bool:
    module = type(error).__module__
    return module.startswith(("mlflow", "sentiment_mlops.registry", "requests", "urllib3"))


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
