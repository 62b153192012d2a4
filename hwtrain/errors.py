"""One exception type for everything a user can get wrong.

The command line prints ``HwtrainError`` as a single line (``error: ...``) and
exits with status 2; any other exception is a bug in hwtrain and keeps its
traceback.
"""


class HwtrainError(Exception):
    """A bad configuration, bad input or missing tool, explained in one line."""


class ToolMissing(HwtrainError):
    """An external tool (simulator, synthesizer) is not installed."""


def require(condition: bool, message: str) -> None:
    """Raise ``HwtrainError(message)`` unless ``condition`` holds."""
    if not condition:
        raise HwtrainError(message)
