"""Fixtures of the cluster tests: a real redis-server per test (support.redis_server)."""

from support.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]
