"""JSON-RPC namespaces, one module each, methods named as on the wire."""
