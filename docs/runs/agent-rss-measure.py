#!/usr/bin/env python3
"""Peak RSS per mapping and CPU per tick of ferrobeat-agent binaries beside the Python agent.

    python3 docs/runs/agent-rss-measure.py WINDOW_S LABEL=BINARY [LABEL=BINARY ...]

Issue 17's method, as `cargo bench-pipeline --agent-only --peers` runs it: one Tansu 0.6.0 broker
(memory storage) on loopback; for each binary in turn (in the order given, so repeat labels to
alternate), `BINARY run --metricsets cpu,memory --period 1000ms --log warn` and
`tests/peers/py_agent.py BOOTSTRAP TOPIC 1` started together on a topic of their own (3
partitions); after a 3 s warm-up, the on-CPU time of all threads of each over WINDOW_S seconds
(/proc/<pid>/task/*/schedstat) per tick, then VmHWM, /proc/<pid>/smaps_rollup and the resident
size of every mapping of /proc/<pid>/smaps, grouped by file (anonymous, heap and stacks apart).
Set SMAPS_DIR to keep each run's raw smaps there.
"""
import collections
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PY = os.path.expanduser("~/.cache/ferrobeat/peers-venv/bin/python")
PY_AGENT = os.path.join(REPO, "tests/peers/py_agent.py")
TANSU = os.path.expanduser("~/.cargo/bin/tansu")
PERIOD_S = 1
WARMUP_S = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ns(pid):
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass
    return total


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


HEADER = re.compile(r"^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$")


def mappings(smaps_text):
    """Rss (kB) per (file, perms) in order of appearance, and per file."""
    per_map = collections.OrderedDict()
    current = None
    for line in smaps_text.splitlines():
        header = HEADER.match(line)
        if header:
            perms, name = header.group(1), header.group(2) or "[anon]"
            current = (os.path.basename(name) if name.startswith("/") else name, perms)
            per_map.setdefault(current, [0, 0])
        elif line.startswith("Rss:") and current:
            per_map[current][0] += int(line.split()[1])
        elif line.startswith("Size:") and current:
            per_map[current][1] += int(line.split()[1])
    per_file = collections.OrderedDict()
    for (name, _), (rss, _) in per_map.items():
        per_file[name] = per_file.get(name, 0) + rss
    return per_map, per_file


def run_one(label, binary, bootstrap, topic, window, scratch, smaps_dir):
    data = os.path.join(scratch, f"data-{label}-{topic}")
    ours = subprocess.Popen(
        [binary, "run", "--bootstrap-servers", bootstrap, "--topic", topic,
         "--metricsets", "cpu,memory", "--log", "warn", "--period", f"{PERIOD_S * 1000}ms",
         "--data-dir", data],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(scratch, f"{label}.log"), "a"))
    python = subprocess.Popen(
        [PY, PY_AGENT, bootstrap, topic, str(float(PERIOD_S))],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(scratch, "py.log"), "a"))
    try:
        time.sleep(WARMUP_S * PERIOD_S)
        before = (cpu_ns(ours.pid), cpu_ns(python.pid))
        t0 = time.monotonic()
        time.sleep(window)
        after = (cpu_ns(ours.pid), cpu_ns(python.pid))
        ticks = (time.monotonic() - t0) / PERIOD_S
        hwm = (status(ours.pid, "VmHWM"), status(python.pid, "VmHWM"))
        with open(f"/proc/{ours.pid}/smaps") as f:
            smaps = f.read()
        with open(f"/proc/{ours.pid}/smaps_rollup") as f:
            rollup = f.read()
        threads = len(os.listdir(f"/proc/{ours.pid}/task"))
    finally:
        for child in (ours, python):
            child.terminate()
        for child in (ours, python):
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    if smaps_dir:
        with open(os.path.join(smaps_dir, f"{label}-{topic}.smaps"), "w") as f:
            f.write(smaps)
    us = [(a - b) / 1000 / ticks for a, b in zip(after, before)]
    per_map, per_file = mappings(smaps)
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    print(f"== {label} ({binary}), {window:.0f} s window, {stamp} UTC, {threads} threads")
    print(f"   ours {us[0]:6.0f} us/tick VmHWM {hwm[0]} kB   python {us[1]:6.0f} us/tick "
          f"VmHWM {hwm[1]} kB   cpu ratio {us[0] / us[1]:.2f} x")
    keep = ("Rss", "Pss", "Shared_Clean", "Private_Clean", "Private_Dirty", "Anonymous")
    print("   rollup: " + ", ".join(
        f"{k} {line.split()[1]}" for line in rollup.splitlines()[1:]
        for k in keep if line.startswith(k + ":")))
    print("   per file (kB Rss): " + ", ".join(
        f"{name} {rss}" for name, rss in sorted(per_file.items(), key=lambda kv: -kv[1]) if rss))
    print("   per mapping (kB Rss/Size): " + ", ".join(
        f"{name} {perms} {rss}/{size}" for (name, perms), (rss, size) in per_map.items()
        if rss))
    sys.stdout.flush()
    return us[0], us[1], hwm[0]


def main():
    window = float(sys.argv[1])
    runs = [arg.split("=", 1) for arg in sys.argv[2:]]
    smaps_dir = os.environ.get("SMAPS_DIR")
    if smaps_dir:
        os.makedirs(smaps_dir, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="agent-rss-")
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = subprocess.Popen(
        [TANSU, "broker", "--listener-url", f"tcp://{bootstrap}",
         "--advertised-listener-url", f"tcp://{bootstrap}", "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(scratch, "tansu.log"), "w"))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("tansu did not start")
                time.sleep(0.2)
        summary = collections.defaultdict(list)
        for n, (label, binary) in enumerate(runs):
            topic = f"rss-{n}"
            subprocess.run([TANSU, "topic", "create", topic, "--partitions", "3",
                            "--broker", f"tcp://{bootstrap}"], check=True,
                           stdout=subprocess.DEVNULL)
            summary[label].append(
                run_one(label, binary, bootstrap, topic, window, scratch, smaps_dir))
        print("\nsummary (per label: VmHWM kB, ours us/tick, cpu ratio)")
        for label, rows in summary.items():
            print(f"  {label:12} VmHWM {' '.join(str(r[2]) for r in rows)}   "
                  f"us/tick {' '.join(f'{r[0]:.0f}' for r in rows)}   "
                  f"ratio {' '.join(f'{r[0] / r[1]:.2f}' for r in rows)}")
    finally:
        broker.terminate()
        broker.wait(15)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
