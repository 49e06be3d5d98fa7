"""The IRC wire format alone: messages, tags, framing, numerics and casemapping."""

from hubbub.protocol.casemap import Casemapping
from hubbub.protocol.message import Message, ProtocolError, parse

__all__ = ["Casemapping", "Message", "ProtocolError", "parse"]
