"""User-facing errors: one clear line that names the file, row or parameter at fault."""


class FashionError(Exception):
    """Bad input or a state that makes the run meaningless; the CLI prints it as one line."""


class StageFailed(FashionError):
    """A stage of a flow failed: the message names the stage, the cause and how to resume."""
