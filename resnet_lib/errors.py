"""The error a user's bad input raises everywhere in the package."""


class ConfigError(ValueError):
    """A bad user-supplied setting. The message names the problem and the valid forms."""
