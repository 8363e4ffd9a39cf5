"""The suite's own errors: bad input or state that a person fixes. Each message says what
is wrong and how to fix it; ``run-experiment`` prints it and exits with status 2. Any
other exception is a bug and keeps its traceback."""


class SuiteError(Exception):
    """Base of every error the suite raises for its input or state."""


class UsageError(SuiteError, ValueError):
    """A command, option or value the suite does not take (e.g. an unknown profile)."""


class StageError(SuiteError, RuntimeError):
    """A stage cannot run (missing input, unavailable in this version, a computation that
    does not import)."""
