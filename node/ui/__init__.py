"""The dashboard: models on chain in a browser (``sumchain ui``, ``sumchain devnet --ui``).

:mod:`node.ui.app` serves the pages in ``static/`` (plain JavaScript, the vendored uPlot
chart library) and a JSON API over the SDK; it talks to any node over JSON-RPC.
"""
