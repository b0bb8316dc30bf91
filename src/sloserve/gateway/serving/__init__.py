"""The gateway's HTTP surface: the server, the routes, and a generation request's way through
them (validation, scheduling, the relay of the engine's answer back to the client)."""
