"""finbuddy: an AI-assisted personal finance buddy for the terminal."""

__version__ = "0.1.0"
