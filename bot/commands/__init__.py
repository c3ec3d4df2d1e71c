"""Subcommands of the `jiuzhu` CLI, one module per area."""
