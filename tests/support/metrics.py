"""Reading a running server's metrics and health endpoints over HTTP ([metrics] enabled)."""

from __future__ import annotations

import http.client

from prometheus_client.parser import text_string_to_metric_families

from support.servers import ThreadedServer


def get(server: ThreadedServer, path: str) -> tuple[int, str]:
    assert server.app is not None
    host, port = server.app.metrics_addresses[0]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def samples(server: ThreadedServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(server, "/metrics")
    assert status == 200
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found[(name, tuple(sorted(labels.items())))]
