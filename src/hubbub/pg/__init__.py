"""What the PostgreSQL stores share: one connection that reconnects, versioned schemas."""
