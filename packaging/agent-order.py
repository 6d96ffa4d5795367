#!/usr/bin/env python3
"""Regenerates packaging/agent.order, the order in which the shipped agent's linker lays out
its functions (issue 17: at most 8 MiB peak RSS).

Why: the kernel maps a program's code in 64 KiB blocks around each page it first runs
(fault-around), so the resident code is the number of 64 KiB blocks holding at least one
function the agent ever ran, not the size of those functions. Laid out in link order, the
~1 MiB of functions an agent runs is spread over most of its 6 MiB of code; placed together
first (lld's `--symbol-ordering-file`, which packaging/build-agent.sh passes), it stays about
1 MiB. Every other function keeps its place after them and is still mapped the first time it
runs (an error path, a reconnection): the order changes what is resident, never what works.

How: builds the agent as it ships (packaging/build-agent.sh), starts Tansu (memory storage) on
a free loopback port and runs the agent under valgrind's callgrind, producing every metricset
each second to it, from start-up through SIGTERM and the flush, then lists every function of
the agent's binary that ran, most instructions first. Names are the linker's (mangled)
symbols: they survive most code changes (a Rust symbol's hash is of its crate and path, not its
body) but not a new toolchain; build-agent.sh warns when the order no longer matches (fewer than
half of its names found, or the binary's first function not among them), and packaging/check.sh
fails then.

    python3 packaging/agent-order.py [SECONDS]     (default 30; installs valgrind with apt)
"""
import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ORDER = os.path.join(REPO, "packaging", "agent.order")
METRICSETS = "cpu,memory,network,diskio,load,filesystem"


def run(*args, **kwargs):
    return subprocess.run(args, check=True, cwd=REPO, text=True, **kwargs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def valgrind():
    if shutil.which("valgrind") is None:
        print("installing valgrind (Debian's package)", file=sys.stderr)
        run("apt-get", "install", "-y", "-q", "valgrind", stdout=subprocess.DEVNULL)
    return shutil.which("valgrind")


def start_broker(tansu, scratch):
    bootstrap = f"127.0.0.1:{free_port()}"
    broker = subprocess.Popen(
        [tansu, "broker", "--listener-url", f"tcp://{bootstrap}",
         "--advertised-listener-url", f"tcp://{bootstrap}", "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(scratch, "tansu.log"), "w"))
    host, port = bootstrap.split(":")
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((host, int(port)), 1).close()
            return broker, bootstrap
        except OSError:
            if time.monotonic() > deadline or broker.poll() is not None:
                broker.kill()
                raise SystemExit(f"Tansu did not start; see {scratch}/tansu.log")
            time.sleep(0.2)


def profile(binary, bootstrap, seconds, scratch):
    """Runs the agent under callgrind for `seconds`, then SIGTERM; returns the profile's path."""
    out = os.path.join(scratch, "callgrind.out")
    agent = subprocess.Popen(
        [valgrind(), "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={out}",
         binary, "run", "--bootstrap-servers", bootstrap, "--topic", "agent-order",
         "--metricsets", METRICSETS, "--period", "1s", "--log", "warn",
         "--data-dir", os.path.join(scratch, "data")],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(scratch, "agent.log"), "w"))
    time.sleep(seconds)
    agent.send_signal(signal.SIGTERM)
    if agent.wait(120) != 0:
        raise SystemExit(f"the agent failed under callgrind; see {scratch}/agent.log")
    return out


def functions_run(callgrind_out, binary):
    """The functions of `binary` that the profile saw run, most instructions (self cost) first."""
    binary = os.path.realpath(binary)
    names = {"ob": {}, "fn": {}}
    cost = collections.Counter()
    ob = fn = None
    after_calls = False
    spec = re.compile(r"^(c?ob|c?fn|c?fi|c?fe|fl|fi|fe)=\((\d+)\)(?: (.*))?$")
    with open(callgrind_out, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = spec.match(line)
            if m:
                kind, ident, name = m.groups()
                table = names.get(kind.lstrip("c"))
                if table is not None and name is not None:
                    table[ident] = name
                if kind == "ob":
                    ob = names["ob"][ident]
                elif kind == "fn":
                    fn = (ob, names["fn"][ident])
                    cost[fn] += 0
                continue
            if line.startswith("calls="):
                after_calls = True  # the next cost line is the call's inclusive cost
                continue
            if fn and line[:1] and (line[0].isdigit() or line[0] in "+-*"):
                if not after_calls:
                    parts = line.split()
                    cost[fn] += int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
                after_calls = False
    ours = [(name, c) for (obj, name), c in cost.items()
            if obj and os.path.realpath(obj) == binary]
    return [name for name, _ in sorted(ours, key=lambda nc: (-nc[1], nc[0]))]


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 30.0
    binary = os.path.join(REPO, run("bash", "packaging/build-agent.sh",
                                    stdout=subprocess.PIPE).stdout.strip())
    tansu = run("bash", "tests/install-tansu.sh", stdout=subprocess.PIPE).stdout.strip()
    scratch = tempfile.mkdtemp(prefix="agent-order-")
    broker, bootstrap = start_broker(tansu, scratch)
    try:
        run(tansu, "topic", "create", "agent-order", "--partitions", "3",
            "--broker", f"tcp://{bootstrap}", stdout=subprocess.DEVNULL)
        names = functions_run(profile(binary, bootstrap, seconds, scratch), binary)
    finally:
        broker.terminate()
        broker.wait(15)
    if len(names) < 500:
        raise SystemExit(f"only {len(names)} functions of the agent ran; see {scratch}")
    stamp = time.strftime("%Y-%m-%d", time.gmtime())
    with open(ORDER, "w") as f:
        f.write(f"# Written by packaging/agent-order.py on {stamp} ({len(names)} functions; "
                "read it for why).\n")
        f.write(f"# {run('rustc', '--version', stdout=subprocess.PIPE).stdout.strip()}\n")
        f.write("\n".join(names) + "\n")
    shutil.rmtree(scratch, ignore_errors=True)
    print(f"{ORDER}: {len(names)} functions")


if __name__ == "__main__":
    main()
