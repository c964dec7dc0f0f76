"""Errors by kind. Every one prints as one line that names the file, row or parameter at fault;
the kind decides the exit code and whether a Prefect task retries.

- `BadInput`: the user's input is wrong (a file, a row, a parameter, a state the user must
  change). Exit 2; never retried, since it would fail the same way again.
- `RuntimeFailure`: the input is fine but the run could not finish (disk full, out of memory, a
  DuckDB I/O error, a cluster that does not answer). Exit 1; retried where a task allows it.
- `PackagingError`: the installation is incomplete (shipped SQL missing). Exit 1; not retried.
"""


class FashionError(Exception):
    """Base of the errors the product reports as one line."""

    exit_code = 1
    retryable = False


class BadInput(FashionError):
    """Bad input or a state that makes the run meaningless until the user changes it."""

    exit_code = 2


class NotFound(BadInput):
    """A name that is well formed but names nothing here (a retailer, product, image, query):
    exit 2 like any bad input; the HTTP API answers 404."""


class RuntimeFailure(FashionError):
    """The run could not finish for a reason outside its input; trying again may work."""

    retryable = True


class WarehouseError(RuntimeFailure):
    """A DuckDB error that is not the caller's query: I/O, out of memory, internal."""


class PackagingError(FashionError):
    """Files the package ships are missing: reinstall; retrying cannot help."""


class StageFailed(FashionError):
    """A stage of a flow failed: the message names the stage, the cause and how to resume; the
    exit code is the cause's."""

    def __init__(self, message: str, cause: BaseException | None = None):
        super().__init__(message)
        self.exit_code = getattr(cause, "exit_code", 1)
