"""`python -m sloserve` runs the `sloserve` command."""

from sloserve.cli import main

main(prog_name="sloserve")
