"""The server tests run once per engine (issue 13): asyncio, threads, select, hybrid."""

from support.servers import engine

__all__ = ["engine"]
