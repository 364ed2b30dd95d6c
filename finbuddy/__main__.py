"""`python -m finbuddy` runs the command-line interface."""

from finbuddy.cli import run

run()
