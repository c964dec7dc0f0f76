"""The lock files against what asks for them, and a venv against its lock.

    python locks/check.py                      every lock satisfies its sources
    python locks/check.py --sync locks/X.txt   this interpreter's venv holds exactly that lock
    python locks/check.py --drop-project locks/venv.txt   (make lock) the checkout out of a lock

The first form is what `make install` and `make test` run: each requirement of pyproject.toml
(its dependencies and, through the project's own extras, the dev extra `.venv` installs) must be
met by the version `locks/venv.txt` pins, and each `locks/NAME.in` by `locks/NAME.txt`; a
requirement added or raised without `make lock` fails in one line naming it. The second runs
after an install with `pip install --no-deps`: it removes what the lock does not list (a package
an earlier lock had) and fails naming any package whose installed version differs from its pin.
Runs in any venv: `packaging`, or pip's own copy of it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # a venv without packaging of its own: pip's copy
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

LOCKS = Path(__file__).resolve().parent
ROOT = LOCKS.parent
PROJECT_EXTRAS = ("dev",)  # the extras `.venv` installs (Makefile: `-e .[dev]`)


def read_pins(lock: Path) -> dict[str, str]:
    """name -> version of every `name==version` line of a pip-compile output."""
    pins = {}
    for line in lock.read_text().splitlines():
        if line and not line[0].isspace() and not line.startswith("#") and "==" in line:
            requirement = Requirement(line.split(" \\")[0].split(";")[0].strip())
            (spec,) = requirement.specifier
            pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def read_in(source: Path) -> list[tuple[Requirement, str]]:
    lines = (line.split("#")[0].strip() for line in source.read_text().splitlines())
    return [(Requirement(line), source.name) for line in lines if line and line[0] != "-"]


def project_name() -> str:
    """The project, which `.venv` holds editable and no lock may hold."""
    return canonicalize_name(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["name"]
    )


def project_requirements() -> list[tuple[Requirement, str]]:
    """pyproject.toml's dependencies and those of the extras `.venv` installs, the project's
    references to its own extras (`fashion-attributes[onnx]`) followed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = project_name()
    found = [(Requirement(text), "pyproject.toml") for text in project["dependencies"]]
    pending, seen = list(PROJECT_EXTRAS), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in project["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == name:
                pending.extend(requirement.extras)
            else:
                found.append((requirement, f"pyproject.toml [{extra}]"))
    return found


def unmet(requirements: list[tuple[Requirement, str]], lock: Path) -> list[str]:
    if not lock.is_file():
        return [f"{lock.relative_to(ROOT)} is missing"]
    pins = read_pins(lock)
    problems = []
    for requirement, where in requirements:
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue
        pinned = pins.get(canonicalize_name(requirement.name))
        if pinned is None:
            problems.append(
                f"{where} asks for {requirement}, which {lock.relative_to(ROOT)} does not hold"
            )
        elif not requirement.specifier.contains(pinned, prereleases=True):
            problems.append(
                f"{where} asks for {requirement}, {lock.relative_to(ROOT)} pins "
                f"{requirement.name}=={pinned}"
            )
    return problems


def check_sources() -> list[str]:
    problems = unmet(project_requirements() + read_in(LOCKS / "venv.in"), LOCKS / "venv.txt")
    for source in sorted(LOCKS.glob("*.in")):
        if source.stem != "venv":
            problems += unmet(read_in(source), source.with_suffix(".txt"))
    return problems


def sync(lock: Path) -> list[str]:
    """Uninstall from this venv what the lock does not list; name what differs from a pin."""
    pins = read_pins(lock)
    installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    extra = sorted(set(installed) - set(pins) - {project_name()})
    if extra:
        print(f"removing what {lock.name} does not list: {' '.join(extra)}", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "--quiet", "-y", *extra], check=True
        )
    problems = []
    for name, version in sorted(pins.items()):
        found = installed.get(name)
        if found is None:
            problems.append(f"{name}=={version} from {lock.name} is not installed")
        elif found.version != version:
            problems.append(f"{name} {found.version} is installed, {lock.name} pins {version}")
    return problems


def drop_project(lock: Path) -> None:
    """pip-compile writes the project's references to its own extras as an unhashable
    `fashion-attributes @ file:///...` entry (with a WARNING comment): no lock may hold the
    checkout, which `make install` installs editable."""
    name = project_name()
    kept, skipping = [], False
    for line in lock.read_text().splitlines(keepends=True):
        if line.startswith(f"{name} @ "):
            while kept and kept[-1].startswith(("# WARNING", "# Consider")):
                kept.pop()
            skipping = True
        elif skipping and line.startswith(" "):
            continue
        else:
            skipping = False
            kept.append(line)
    lock.write_text("".join(kept))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sync", type=Path, metavar="LOCK", help="check this venv against LOCK")
    parser.add_argument("--drop-project", type=Path, metavar="LOCK", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drop_project:
        return drop_project(args.drop_project)
    problems = sync(args.sync) if args.sync else check_sources()
    for problem in problems:
        hint = "reinstall: make clean" if args.sync else "run `make lock`, then `make test`"
        print(f"lock: {problem}: {hint}", file=sys.stderr)
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
