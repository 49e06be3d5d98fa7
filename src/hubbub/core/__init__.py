"""The chat network as a pure state machine: users, channels, modes, capabilities, commands."""
