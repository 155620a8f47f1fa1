"""The errors raised while reading and converting official checkpoints."""


class ConversionError(RuntimeError):
    """A converted checkpoint does not fit: unused keys, unfilled model entries, shapes, variant, config."""


class WrongCheckpointError(ConversionError, ValueError):
    """The checkpoint is not of the family a converter was asked for; the message names what it looks like."""

    def __init__(self, expected_family: str, found: str):
        self.expected_family = expected_family
        self.found = found
        super().__init__(f"Not an official {expected_family} checkpoint: {found}")


class UnreadableCheckpointError(RuntimeError):
    """A checkpoint file that cannot be read safely: corrupt, truncated, or holding code-running objects."""
