"""The `sentra` command line."""
