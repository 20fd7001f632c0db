"""Subcommands of ``sumchain`` beyond ``devnet``, one module each.

Each module defines ``add(subparsers)``, which adds its parser and sets ``func`` to a
handler ``(args) -> exit code``. ``node.cli`` finds them here, so commands are added
without editing the CLI's core. Handlers import heavy dependencies inside themselves,
so ``sumchain --help`` stays fast.
"""
