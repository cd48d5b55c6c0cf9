"""Errors that stop a run with a message for the user (never a patient identifier)."""


class InputError(Exception):
    """The extract cannot be audited: the message names the file and the problem."""


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the key."""
