"""Durable room history: the record type, the store contract and its back-ends."""
