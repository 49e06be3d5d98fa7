"""hubbub: a multi-party IRC chat server whose rooms remember."""

__version__ = "0.1.0"
