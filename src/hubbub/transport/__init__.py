"""Drivers that carry bytes between sockets and the sans-IO core."""
