"""The model library's errors for its input: each message names the file and what is wrong."""


class UmixformerError(Exception):
    """Base of the errors umixformer raises for its input."""


class ConfigError(UmixformerError, ValueError):
    """A config file that cannot be read or lacks what is needed."""


class ConfigNotFoundError(ConfigError, FileNotFoundError):
    """A config file that is not there."""
