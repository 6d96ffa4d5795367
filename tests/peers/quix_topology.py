"""The bench's Quix Streams peer: ferrobeat-processor's stateless metric topology in Quix Streams.

It reads Metricbeat JSON events from the input topic and, as the processor's default topology
does, copies cpu events to the cpu topic and memory events to the memory topic, and writes an
alert (the event's `host` object with `"timestamp"` = its `@timestamp`) to the alert topic for
every cpu event whose `system.cpu.total.norm.pct` is above the threshold. Everything else is
dropped. Run by `cargo bench-pipeline --peers` on the same broker and preloaded documents as the
processor, with Quix Streams' own defaults (at-least-once, its commit interval and client
settings) and only the bench's settings for the test broker (`--property`). Stops on SIGTERM.

    python quix_topology.py --bootstrap-servers HOST:PORT --group GROUP --input T --cpu T \
        --memory T --alert T --threshold 0.5 [--property KEY=VALUE ...]
"""

import argparse
import tempfile

from quixstreams import Application


def metricset(event):
    """The event's `metricset.name`, or None."""
    metricset = event.get("metricset") if isinstance(event, dict) else None
    return metricset.get("name") if isinstance(metricset, dict) else None


def cpu_norm(event):
    """The event's `system.cpu.total.norm.pct`, or None."""
    try:
        return float(event["system"]["cpu"]["total"]["norm"]["pct"])
    except (KeyError, TypeError, ValueError):
        return None


def alert(event):
    """The alert for a hot cpu event: its host object with the event's timestamp."""
    return {**event["host"], "timestamp": event["@timestamp"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--bootstrap-servers", "--group", "--input", "--cpu", "--memory", "--alert"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--threshold", type=float, required=True)
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    properties = dict(setting.split("=", 1) for setting in args.property)

    app = Application(
        broker_address=args.bootstrap_servers,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        consumer_extra_config=properties,
        producer_extra_config=properties,
        state_dir=tempfile.mkdtemp(prefix="quix-peer-state-"),
        loglevel="WARNING",
    )
    events = app.dataframe(app.topic(args.input, value_deserializer="json"))
    cpu = events.filter(lambda event: metricset(event) == "cpu")
    cpu.to_topic(app.topic(args.cpu, value_serializer="json"))
    hot = cpu.filter(lambda event: (cpu_norm(event) or 0.0) > args.threshold)
    hot.apply(alert).to_topic(app.topic(args.alert, value_serializer="json"))
    memory = events.filter(lambda event: metricset(event) == "memory")
    memory.to_topic(app.topic(args.memory, value_serializer="json"))
    app.run()


if __name__ == "__main__":
    main()
