"""Command-line interface: one module per subcommand, dispatched by :mod:`mlrsir.cli.main`."""
