"""The version of linesock, kept in one place and read by the packaging metadata."""

__version__ = "0.1.0"
