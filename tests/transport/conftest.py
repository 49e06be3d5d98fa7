from transport_helpers import arun

__all__ = ["arun"]
