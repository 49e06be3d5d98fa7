"""The IRC wire format alone: messages, tags, framing, numerics and casemapping."""
