"""One exception type for every user-facing failure.

The CLI prints ``K8snetError`` as a single ``error: ...`` line and exits
non-zero; anything else is a bug and keeps its traceback.
"""


class K8snetError(Exception):
    """A problem with the user's input or the machine, said in one line."""


class MissingKernelFeature(K8snetError):
    """The kernel lacks something a requested feature needs (netem, IPVS...)."""


class StatusError(K8snetError):
    """An API request the server refused, as a ``metav1.Status`` would say it.

    ``reason`` and ``code`` follow the API conventions (api-concepts, "Status"):
    NotFound 404, AlreadyExists 409, Conflict 409, Invalid 422, BadRequest 400,
    Gone 410, MethodNotAllowed 405, Forbidden 403.
    """

    reason = "InternalError"
    code = 500

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details or {}

    def kubectl(self) -> str:
        """The line kubectl prints: ``Error from server (NotFound): pods "x" not found``."""
        return f"Error from server ({self.reason}): {self}"


class NotFound(StatusError):
    reason, code = "NotFound", 404


class AlreadyExists(StatusError):
    reason, code = "AlreadyExists", 409


class Conflict(StatusError):
    reason, code = "Conflict", 409


class Gone(StatusError):
    reason, code = "Expired", 410


class BadRequest(StatusError):
    reason, code = "BadRequest", 400


class Forbidden(StatusError):
    reason, code = "Forbidden", 403


class Invalid(StatusError):
    """An object that failed validation; ``causes`` are ``field.Error`` strings."""

    reason, code = "Invalid", 422

    def __init__(self, message: str, causes: list[str] | None = None) -> None:
        super().__init__(message)
        self.causes = causes or []

    def kubectl(self) -> str:
        return str(self)
