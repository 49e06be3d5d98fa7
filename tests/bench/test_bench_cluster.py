"""The load generator against two nodes of one cluster (real redis-server and PostgreSQL):
senders on one node, receivers on the other, every delivery checked and its side counted."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hubbub.bench import Options, run
from hubbub.bench.report import table
from support.config import server_config
from support.postgres_server import fresh_postgres_url
from support.redis_server import RedisServer, redis_server, redis_url
from support.servers import ThreadedServer

__all__ = ["fresh_postgres_url", "redis_server", "redis_url"]


def test_fanout_across_two_nodes_counts_cross_node_deliveries(
    tmp_path: Path, redis_server: RedisServer, fresh_postgres_url: str
) -> None:
    with contextlib.ExitStack() as stack:
        nodes = []
        for index in range(2):
            config = server_config(
                tmp_path / f"node{index}",
                limits={"clients_per_ip": 1000},
                cluster={"url": redis_server.url, "node_id": f"bench{index}"},
                history={"backend": "postgres", "url": fresh_postgres_url},
            )
            nodes.append(stack.enter_context(ThreadedServer(config)))
        servers = tuple(node.address for node in nodes)
        record = run(
            Options(
                "fanout",
                clients=12,
                senders=2,
                duration=1.0,
                workers=1,
                servers=servers,
                placement="senders-apart",
            )
        )
        spread = run(
            Options("fanout", clients=12, senders=4, duration=1.0, workers=2, servers=servers)
        )["results"]
    # Round robin: clients (and senders) alternate between the nodes; every receiver hears
    # senders on its own node and on the other.
    assert spread["deliveries"] == spread["deliveries_expected"] > 0
    assert (spread["lost"], spread["duplicated"], spread["out_of_order"]) == (0, 0, 0)
    assert spread["same_node_samples"] > 0
    assert spread["cross_node_samples"] > 0
    assert spread["latency_samples"] == spread["same_node_samples"] + spread["cross_node_samples"]
    r = record["results"]
    sent = r["messages_sent"]
    assert sent > 0
    assert r["deliveries"] == r["deliveries_expected"] == sent * 11
    assert (r["lost"], r["duplicated"], r["out_of_order"], r["disconnected"]) == (0, 0, 0, 0)
    # Both senders are on the first node: each hears the other there (one delivery per message);
    # the ten receivers are all on the second node.
    assert r["same_node_samples"] == sent
    assert r["cross_node_samples"] == sent * 10
    assert r["cross_node_latency_ms"]["p99"] is not None
    assert r["latency_samples"] == r["same_node_samples"] + r["cross_node_samples"]
    assert record["server"] == ",".join(f"{host}:{port}" for host, port in servers)
    assert "sender on another server" in table(record)
