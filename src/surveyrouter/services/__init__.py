"""Use cases: each takes its collaborators (store sessions, networks, a clock) as parameters."""
