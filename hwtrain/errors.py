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


def available_memory() -> int | None:
    """Bytes of physical memory this machine has (None where the OS does not say)."""
    import os
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def require_memory(nbytes: int, what: str) -> None:
    """Refuse, before allocating, work that needs more than half of this machine's memory."""
    total = available_memory()
    if total is not None and nbytes > total // 2:
        raise HwtrainError(f"{what} needs about {nbytes / 2**30:.1f} GiB, more than half of this "
                           f"machine's {total / 2**30:.1f} GiB; choose smaller layers")


def run_main(main, prog: str) -> int:
    """Runs a script's ``main()`` as the command line does: a ``HwtrainError`` (missing data, a bad
    option) becomes one line on stderr, ``prog: error: ...``, and exit status 2, not a traceback."""
    import sys
    try:
        return main()
    except HwtrainError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
