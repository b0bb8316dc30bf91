"""The HTML report opened in headless Chromium: the screenshot must show the charts' series.

Each class's colour, the target lines' colour and the quantile marks' colour are counted pixel
for pixel in the screenshot. The same page without traffic (so without bars, lines or targets,
only legend swatches) is the control that shows the counts come from the charts."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from report import png, recorded
from sloserve.report import compute, model, render
from sloserve.report.collect import scrape
from sloserve.report.render import svg

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed; install it with"
    " `sudo apt-get install -y chromium` (`make setup` does)",
)
# A legend swatch is 10 x 10 pixels; a chart's bars or line cover thousands.
SWATCH_PIXELS = 100


def _screenshot(page: str, directory: pathlib.Path) -> npt.NDArray[np.uint8]:
    assert CHROMIUM is not None
    page_file = directory / "report.html"
    page_file.write_text(page, encoding="utf-8")
    shot = directory / "screenshot.png"
    completed = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={directory / 'profile'}",
            "--hide-scrollbars",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            page_file.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.exists(), f"chromium wrote no screenshot: {completed.stderr[-2000:]}"
    return png.decode_rgb(shot.read_bytes())


def _idle_report() -> model.Report:
    """The recorded gateway's first scrape, twice: every class known, none with requests."""
    clock = recorded.FakeClock(recorded.START)
    idle = (recorded.DATA / "gateway-0.prom").read_text()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=idle))
    with httpx.Client(transport=transport) as client:
        window = scrape.collect(
            gateways=[recorded.GATEWAY_URL],
            window_seconds=300,
            step_seconds=150,
            client=client,
            clock=clock.time,
            sleep=clock.sleep,
        )
    return compute.build_report(window, default_cluster="local", generated_at=recorded.GENERATED_AT)


@pytest.fixture(scope="module")
def colours() -> dict[str, str]:
    return svg.class_colours(["interactive", "standard", "batch"])


def test_charts_draw_every_class_with_traffic_and_the_targets(
    recorded_report: model.Report, colours: dict[str, str], tmp_path: pathlib.Path
) -> None:
    image = _screenshot(render.render(recorded_report, "html"), tmp_path)
    assert png.count_colour(image, colours["interactive"]) > 20 * SWATCH_PIXELS
    assert png.count_colour(image, colours["standard"]) > 20 * SWATCH_PIXELS
    assert png.count_colour(image, svg.TARGET_COLOUR) > 5 * SWATCH_PIXELS
    assert png.count_colour(image, svg.QUANTILE_COLOUR) > SWATCH_PIXELS
    # batch had no requests: only its legend swatch is drawn.
    assert png.count_colour(image, colours["batch"]) <= SWATCH_PIXELS


def test_a_page_without_traffic_draws_legends_but_no_series(
    colours: dict[str, str], tmp_path: pathlib.Path
) -> None:
    page = render.render(_idle_report(), "html")
    assert "no requests in the window" in page
    image = _screenshot(page, tmp_path)
    # Two ModelServices show a "standard" swatch each; nothing else has a class colour.
    assert png.count_colour(image, colours["interactive"]) <= SWATCH_PIXELS
    assert png.count_colour(image, colours["standard"]) <= 2 * SWATCH_PIXELS
    assert png.count_colour(image, svg.TARGET_COLOUR) == 0
    assert png.count_colour(image, svg.QUANTILE_COLOUR) == 0
