"""The bench's Python byte copy peer: consume -> produce the bytes, as issue 17 measured it.

A user's own byte copy with confluent-kafka and librdkafka's defaults (no idempotence, no
compression, librdkafka's prefetch): a consumer group reading the input from the earliest offset
in batches of 500 (Kafka's `max.poll.records`), each record produced keyless with its timestamp
to the output topic. It copies `--records` records, waits until every copy is acknowledged, then
until its standard input closes (the bench reads its CPU time and peak RSS from /proc first).
Run by `cargo bench-pipeline --peers` on the same broker and preloaded documents as the
processor, with only the bench's settings for the test broker (`--property`).

    python byte_copy.py --bootstrap-servers HOST:PORT --group GROUP --input T --output T \
        --records N [--property KEY=VALUE ...]
"""

import argparse
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer

BATCH = 500
TIMEOUT_SECONDS = 300


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    properties = dict(setting.split("=", 1) for setting in args.property)
    consumer_properties = {
        "bootstrap.servers": args.bootstrap_servers,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        **properties,
    }
    producer_properties = {"bootstrap.servers": args.bootstrap_servers}
    # The bench's broker settings are the consumer's (session, fetch wait); a producer given
    # them would only log that it ignores them.
    consumer = Consumer(consumer_properties)
    producer = Producer(producer_properties)
    consumer.subscribe([args.input])

    deadline = time.monotonic() + TIMEOUT_SECONDS
    copied = 0
    while copied < args.records:
        if time.monotonic() > deadline:
            sys.exit(f"copied {copied} of {args.records} records within {TIMEOUT_SECONDS} s")
        for message in consumer.consume(num_messages=BATCH, timeout=0.1):
            if message.error():
                raise KafkaException(message.error())
            kind, timestamp = message.timestamp()
            # (0 for either: no timestamp, and produce's "now".)
            timestamp = timestamp if kind else 0
            while True:
                try:
                    producer.produce(args.output, message.value(), timestamp=timestamp)
                    break
                except BufferError:
                    # librdkafka's queue is full: serve acknowledgements until there is room.
                    producer.poll(0.1)
            copied += 1
        producer.poll(0)
    unsent = producer.flush(30)
    if unsent:
        sys.exit(f"{unsent} copies unacknowledged after 30 s")
    sys.stdin.read()
    consumer.close()


if __name__ == "__main__":
    main()
