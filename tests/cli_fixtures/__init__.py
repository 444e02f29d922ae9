"""Handler modules that the CLI tests serve, with this directory as the working directory."""
