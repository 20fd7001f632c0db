"""The running node: JSON-RPC over HTTP and WebSocket, block producer loop, CLI."""
