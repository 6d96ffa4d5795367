"""The bench's Python agent: what a user could write in an afternoon instead of ferrobeat-agent.

Every period it samples cpu and memory with psutil and produces two Metricbeat-shaped JSON events
(system.cpu, system.memory) to Kafka with confluent-kafka: acks=all, idempotent, the same
compression and linger as ferrobeat-agent's defaults. Run by `cargo bench-pipeline --peers`
beside the real agent, on the same broker, with the same period. Stops on SIGTERM, flushing.

    python py_agent.py BOOTSTRAP TOPIC PERIOD_SECONDS
"""

import datetime
import json
import signal
import socket
import sys
import time

import psutil
from confluent_kafka import Producer

bootstrap, topic, period = sys.argv[1], sys.argv[2], float(sys.argv[3])
producer = Producer({
    "bootstrap.servers": bootstrap, "client.id": "py-agent", "acks": "all",
    "enable.idempotence": True, "compression.type": "zstd", "linger.ms": 100,
})
host = socket.gethostname()
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))


def event(dataset, started, fields):
    now = datetime.datetime.now(datetime.timezone.utc)
    return json.dumps({
        "@timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "agent": {"name": host, "type": "py-agent"}, "ecs": {"version": "8.0.0"},
        "host": {"name": host},
        "event": {"dataset": dataset, "module": "system",
                  "duration": int((time.perf_counter() - started) * 1e9)},
        "metricset": {"name": dataset.split(".")[1], "period": int(period * 1000)},
        "service": {"type": "system"}, "system": fields,
    })


cores = psutil.cpu_count()
psutil.cpu_times_percent(interval=None)  # the first call only sets the baseline
next_tick = time.monotonic()
while not stopping:
    started = time.perf_counter()
    cpu = psutil.cpu_times_percent(interval=None)
    pct = {name: {"pct": round(value / 100 * cores, 4), "norm": {"pct": round(value / 100, 4)}}
           for name, value in cpu._asdict().items() if name != "guest" and name != "guest_nice"}
    busy = 100.0 - cpu.idle
    pct["total"] = {"pct": round(busy / 100 * cores, 4), "norm": {"pct": round(busy / 100, 4)}}
    producer.produce(topic, event("system.cpu", started, {"cpu": {"cores": cores, **pct}}))
    started = time.perf_counter()
    memory = psutil.virtual_memory()
    swap = psutil.swap_memory()
    producer.produce(topic, event("system.memory", started, {"memory": {
        "total": memory.total, "used": {"bytes": memory.used, "pct": round(memory.percent / 100, 4)},
        "free": memory.free, "cached": memory.cached,
        "actual": {"free": memory.available,
                   "used": {"bytes": memory.total - memory.available,
                            "pct": round(1 - memory.available / memory.total, 4)}},
        "swap": {"total": swap.total, "used": {"bytes": swap.used, "pct": round(swap.percent / 100, 4)},
                 "free": swap.free}}}))
    producer.poll(0)
    next_tick += period
    while not stopping and time.monotonic() < next_tick:
        producer.poll(max(0.0, min(next_tick - time.monotonic(), 0.5)))
producer.flush(10)
