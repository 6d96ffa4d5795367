#!/usr/bin/env python3
"""Refuses a Rust file over 500 lines without a reason, and a function over 80 lines.

Files: every `*.rs` below agent/, processor/ (processor/streams included), shared/ and tests/src.
A file of more than 500 lines must say why near its top: one of its first five lines is a comment
`// over 500 lines: REASON`. A function runs from its `fn` line to the closing brace at the
`fn` line's indentation (a declaration ending in `;` has no body); one of more than 80 lines is
refused, except inside a `#[cfg(test)]` module and in the files of a crate's tests/ folder.
Prints each offender as `path:line: what` and exits 1 if any; exits 0 and says how many files
it read otherwise.

    python3 tests/check-sizes.py [PATH ...]   (default: the folders above)
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ["agent", "processor", "shared", "tests/src"]
MAX_FILE_LINES = 500
MAX_FN_LINES = 80
REASON = re.compile(r"^\s*//!?\s*over 500 lines: \S")
FN = re.compile(
    r"^(?P<indent>\s*)(?:pub(?:\([^)]*\))?\s+)?(?:(?:const|async|unsafe|extern\s+\"[^\"]*\")\s+)*"
    r"fn\s+(?P<name>\w+)"
)
TEST_MODULE = re.compile(r"^(?P<indent>\s*)(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{")


def closing(lines: list[str], start: int, indent: str) -> int | None:
    """The index of the line closing the block opened at `start`, at indentation `indent`."""
    if lines[start].rstrip().endswith("}") and "{" in lines[start]:
        return start
    for index in range(start + 1, len(lines)):
        line = lines[index].rstrip()
        if line.startswith(indent + "}") and len(line) - len(line.lstrip()) == len(indent):
            return index
    return None


def declaration(lines: list[str], start: int) -> bool:
    """Whether the `fn` at `start` has no body (its signature ends in `;` before any `{`)."""
    for line in lines[start:]:
        code = line.split("//", 1)[0]
        if "{" in code:
            return False
        if code.rstrip().endswith(";"):
            return True
    return True


def test_ranges(lines: list[str]) -> list[tuple[int, int]]:
    """The line ranges of `#[cfg(test)]` modules."""
    ranges = []
    for index, line in enumerate(lines[:-1]):
        if line.strip() != "#[cfg(test)]":
            continue
        following = index + 1
        while following < len(lines) and lines[following].lstrip().startswith("#["):
            following += 1
        module = TEST_MODULE.match(lines[following]) if following < len(lines) else None
        if module:
            end = closing(lines, following, module["indent"])
            ranges.append((following, end if end is not None else len(lines) - 1))
    return ranges


def offenders(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    found = []
    if len(lines) > MAX_FILE_LINES and not any(REASON.match(line) for line in lines[:5]):
        found.append(
            f"{shown}:1: {len(lines)} lines (over {MAX_FILE_LINES}) and no "
            f"'// over 500 lines: REASON' in its first five lines"
        )
    if "tests" in path.relative_to(ROOT).parts[1:-1]:
        return found
    exempt = test_ranges(lines)
    for index, line in enumerate(lines):
        function = FN.match(line)
        if not function or any(start <= index <= end for start, end in exempt):
            continue
        if declaration(lines, index):
            continue
        end = closing(lines, index, function["indent"])
        length = (end if end is not None else len(lines) - 1) - index + 1
        if length > MAX_FN_LINES:
            found.append(
                f"{shown}:{index + 1}: fn {function['name']} has {length} lines "
                f"(over {MAX_FN_LINES})"
            )
    return found


def main(arguments: list[str]) -> int:
    roots = [Path(argument).resolve() for argument in arguments] or [ROOT / f for f in FOLDERS]
    files = sorted(
        file
        for root in roots
        for file in ([root] if root.is_file() else root.rglob("*.rs"))
        if "target" not in file.relative_to(ROOT).parts
    )
    found = [offence for file in files for offence in offenders(file)]
    for offence in found:
        print(offence)
    if found:
        print(f"check-sizes: {len(found)} offenders in {len(files)} files", file=sys.stderr)
        return 1
    print(f"check-sizes: {len(files)} files, none too long")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
