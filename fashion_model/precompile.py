"""Run once by `make install`: byte-compile the modules that beartype's import hook rewrites.

py-key-value (under Prefect's server) registers its package with `beartype.claw`, which parses and
rewrites each of its modules at import time unless a rewritten `.pyc` is cached. With
PYTHONDONTWRITEBYTECODE set, none is ever cached, so every process that starts Prefect's server
rewrites them again, and now and then CPython 3.11 fails that with "SystemError: AST constructor
recursion depth mismatch" (cpython#106905). Importing every module once, with bytecode writing
on, caches the rewritten code; later processes only read it.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys


def main() -> int:
    sys.dont_write_bytecode = False
    import key_value.aio

    compiled = failed = 0
    for module in pkgutil.walk_packages(
        key_value.aio.__path__, "key_value.aio.", onerror=lambda name: None
    ):
        try:
            importlib.import_module(module.name)
            compiled += 1
        except Exception:  # an optional backend (redis, rocksdb...) that is not installed
            failed += 1
    print(f"precompiled {compiled} key_value modules ({failed} optional backends absent)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
