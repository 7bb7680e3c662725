"""The ``membrane`` command line: one module per subcommand."""
