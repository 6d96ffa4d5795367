#!/usr/bin/env python3
"""Checks packaging/kafka/compose.yaml without Docker: it parses, and its three KRaft nodes,
listeners, quorum, replication defaults and web UI agree with each other.

    python3 packaging/kafka/check_compose.py [compose.yaml]

Exits 1 naming every problem found; prints a one-line summary when all is well.
"""

import base64
import os
import re
import sys
from pathlib import Path

import yaml

EXPECTED_BROKERS = 3
EXPECTED_PARTITIONS = 3
EXPECTED_REPLICATION_FACTOR = 2
MINIMUM_KAFKA = (3, 9)


def interpolate(text):
    """Replaces ${VAR:-default} as Docker Compose does, from the environment."""
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m.group(1)) or m.group(2), text)


def listeners(value):
    """'NAME://host:port,...' -> {NAME: (host, port)}."""
    parsed = {}
    for item in value.split(","):
        match = re.fullmatch(r"([A-Z_]+)://([^:]*):(\d+)", item.strip())
        if not match:
            raise ValueError(f"cannot read listener {item!r}")
        parsed[match.group(1)] = (match.group(2), int(match.group(3)))
    return parsed


def check(compose):
    problems = []
    services = compose.get("services") or {}
    nodes = {name: svc for name, svc in services.items() if "KAFKA_NODE_ID" in (svc.get("environment") or {})}
    if len(nodes) != EXPECTED_BROKERS:
        problems.append(f"expected {EXPECTED_BROKERS} Kafka nodes, found {sorted(nodes)}")

    ids = {}
    external_ports = {}
    for name, svc in nodes.items():
        env = {key: str(value) for key, value in svc["environment"].items()}
        where = f"services.{name}"
        image = svc.get("image", "")
        version = re.fullmatch(r"apache/kafka:(\d+)\.(\d+)\.\d+", image)
        if not version or tuple(map(int, version.groups())) < MINIMUM_KAFKA:
            problems.append(f"{where}.image: {image!r} is not apache/kafka {MINIMUM_KAFKA[0]}.{MINIMUM_KAFKA[1]}+ pinned to a release")
        if svc.get("hostname") != name:
            problems.append(f"{where}.hostname: {svc.get('hostname')!r}, expected {name!r} (the quorum and listeners use it)")
        ids[int(env["KAFKA_NODE_ID"])] = name
        if set(env.get("KAFKA_PROCESS_ROLES", "").split(",")) != {"broker", "controller"}:
            problems.append(f"{where}: KAFKA_PROCESS_ROLES must be broker,controller (KRaft combined mode)")
        try:
            cluster_id = base64.urlsafe_b64decode(env["CLUSTER_ID"] + "==")
            if len(env["CLUSTER_ID"]) != 22 or len(cluster_id) != 16:
                raise ValueError
        except (KeyError, ValueError):
            problems.append(f"{where}: CLUSTER_ID must be a base64 UUID of 22 characters")
        protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        bound = listeners(env["KAFKA_LISTENERS"])
        advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        for listener in list(bound) + list(advertised):
            if listener not in protocols:
                problems.append(f"{where}: listener {listener} has no security protocol")
        controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        if controller in advertised:
            problems.append(f"{where}: the controller listener must not be advertised to clients")
        if env["KAFKA_INTER_BROKER_LISTENER_NAME"] not in advertised:
            problems.append(f"{where}: the inter-broker listener is not advertised")
        if advertised.get("INTERNAL", ("", 0))[0] != name:
            problems.append(f"{where}: INTERNAL must advertise {name}, the name other containers resolve")
        published = {}
        for mapping in svc.get("ports", []):
            host, container = str(mapping).rsplit(":", 1)
            published[int(container)] = int(host.rsplit(":", 1)[-1])
        external_container_port = bound["EXTERNAL"][1]
        advertised_port = advertised["EXTERNAL"][1]
        if published.get(external_container_port) != advertised_port:
            problems.append(
                f"{where}: EXTERNAL advertises port {advertised_port} but port {external_container_port} "
                f"is published as {published.get(external_container_port)}"
            )
        external_ports[name] = advertised_port
        quorum = {}
        for voter in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","):
            node_id, address = voter.split("@")
            host, port = address.rsplit(":", 1)
            quorum[int(node_id)] = (host, int(port))
        nodes[name] = (env, quorum, bound[controller][1])
        replication = int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"])
        if replication != EXPECTED_REPLICATION_FACTOR:
            problems.append(f"{where}: default replication factor {replication}, expected {EXPECTED_REPLICATION_FACTOR}")
        if int(env["KAFKA_NUM_PARTITIONS"]) != EXPECTED_PARTITIONS:
            problems.append(f"{where}: default partition count {env['KAFKA_NUM_PARTITIONS']}, expected {EXPECTED_PARTITIONS}")
        for key in ("KAFKA_DEFAULT_REPLICATION_FACTOR", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"):
            if int(env[key]) > len(nodes):
                problems.append(f"{where}: {key} {env[key]} exceeds the {len(nodes)} brokers")
        if int(env["KAFKA_MIN_INSYNC_REPLICAS"]) >= replication:
            problems.append(f"{where}: min.insync.replicas must stay below the replication factor, "
                            "or one broker down stops acks=all producers")
        volumes = [str(volume).split(":")[1] for volume in svc.get("volumes", [])]
        if env["KAFKA_LOG_DIRS"] not in volumes:
            problems.append(f"{where}: the log directory {env['KAFKA_LOG_DIRS']} is not on a volume")

    if sorted(ids) != list(range(1, len(nodes) + 1)):
        problems.append(f"node ids {sorted(ids)} are not 1..{len(nodes)}")
    for name, (env, quorum, controller_port) in nodes.items():
        expected = {node_id: (host, controller_port) for node_id, host in ids.items()}
        if quorum != expected:
            problems.append(f"services.{name}: quorum voters {quorum} do not match the nodes {expected}")
    if len(set(external_ports.values())) != len(external_ports):
        problems.append(f"EXTERNAL ports collide: {external_ports}")

    ui = services.get("kafka-ui") or {}
    if not str(ui.get("image", "")).startswith("ghcr.io/kafbat/kafka-ui:v"):
        problems.append("services.kafka-ui.image: expected a pinned ghcr.io/kafbat/kafka-ui release")
    ui_bootstrap = str((ui.get("environment") or {}).get("KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS", ""))
    wanted = {f"{name}:{listeners(nodes[name][0]['KAFKA_ADVERTISED_LISTENERS'])['INTERNAL'][1]}" for name in nodes}
    if set(ui_bootstrap.split(",")) != wanted:
        problems.append(f"services.kafka-ui: bootstrap {ui_bootstrap!r}, expected the internal listeners {sorted(wanted)}")
    return problems, external_ports


def main():
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("compose.yaml"))
    try:
        compose = yaml.safe_load(interpolate(path.read_text()))
        problems, external_ports = check(compose)
    except (yaml.YAMLError, KeyError, ValueError, AttributeError, TypeError, IndexError) as error:
        print(f"{path}: cannot be read as the expected compose file: {error!r}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"{path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    ports = ",".join(f"localhost:{port}" for port in sorted(external_ports.values()))
    print(f"{path}: OK, {len(external_ports)} KRaft nodes, bootstrap {ports}, web UI")
    return 0


if __name__ == "__main__":
    sys.exit(main())
