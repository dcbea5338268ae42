"""The bundled REX-compatible exchange: registry, gateway, simulated surveys, synthetic market."""
