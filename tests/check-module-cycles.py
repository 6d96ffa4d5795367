#!/usr/bin/env python3
"""Refuses an import cycle between the top-level modules of each crate of the workspace.

A module is a crate's `src/NAME.rs` or `src/NAME/` (every file below it). An edge A -> B is an
item path `crate::B` (a `use` or a qualified path, doc comments excepted) written in A. Prints
each cycle and exits 1 if any; exits 0 and says how many modules it read otherwise. Crates can
have no cycle between them: Cargo refuses one.

    python3 tests/check-module-cycles.py [CRATE_DIR ...]   (default: every crate of the workspace)
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["shared/schema", "shared/toolbox", "agent", "processor/streams", "processor", "tests"]
PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")


def modules(src: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for file in src.rglob("*.rs"):
        relative = file.relative_to(src)
        if relative.parts[0] == "bin" or relative.name in ("lib.rs", "main.rs") and len(relative.parts) == 1:
            continue
        name = relative.parts[0].removesuffix(".rs")
        found.setdefault(name, []).append(file)
    return found


def edges(files: dict[str, list[Path]]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, paths in files.items():
        for path in paths:
            for line in path.read_text().splitlines():
                if line.lstrip().startswith("//"):
                    continue
                for target in PATH.findall(line):
                    if target in files and target != name:
                        graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node: str) -> None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def main() -> int:
    crates = sys.argv[1:] or CRATES
    bad, read = False, 0
    for crate in crates:
        files = modules(ROOT / crate / "src")
        read += len(files)
        for cycle in cycles(edges(files)):
            bad = True
            print(f"{crate}: import cycle: {' -> '.join(cycle)}")
    if not bad:
        print(f"no import cycle between the top-level modules of {len(crates)} crates ({read} modules)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
