"""`sloserve crds`: write the CRD manifests generated from the API models, or check them."""

from __future__ import annotations

from pathlib import Path

import click

from sloserve.api import crd_files


@click.command()
@click.option(
    "--output-dir",
    "output_dirs",
    type=click.Path(file_okay=False, path_type=Path),
    multiple=True,
    default=(Path("crds"),),
    show_default=True,
    help="Directory to write the CRD files into; repeat it to keep several copies in step.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit with status 1 naming every file that is missing or out of date.",
)
def crds(output_dirs: tuple[Path, ...], check: bool) -> None:
    """Generate the CustomResourceDefinitions from the models in sloserve.api."""
    if check:
        drifted = crd_files.find_drift(output_dirs)
        for drift in drifted:
            click.echo(
                f"{drift.path}: {drift.kind.value}; run `sloserve crds` to regenerate it", err=True
            )
        if drifted:
            raise click.exceptions.Exit(1)
        click.echo(f"{len(output_dirs) * len(crd_files.generated_files())} CRD file(s) up to date")
        return
    written = crd_files.write_files(output_dirs)
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("CRD files already up to date")
