"""supportctl: a small business's help desk in one command."""

__version__ = "0.1.0"
