"""The weekly chart: a valid PNG of the expected size, with one bar per week, drawn off the loop."""

from __future__ import annotations

import io
import threading
from datetime import date, timedelta
from typing import Any

import pytest
from PIL import Image

from bot.domain.stats import WeeklySeries
from bot.i18n import create_i18n, locale
from bot.views import charts
from bot.views.charts import HEIGHT_PX, PALETTE, WIDTH_PX, ChartText, draw_weekly
from bot.views.stats import chart_text

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT = ChartText(
    title="Запросы по неделям и темам",
    y_label="Запросов",
    x_label="Неделя с",
    series=["Юридические вопросы", "Гранты и конкурсы", "Без темы"],
)


def _series(weeks: int) -> WeeklySeries:
    mondays = [date(2027, 1, 4) + timedelta(weeks=i) for i in range(weeks)]
    legal = [1 + (i % 4) for i in range(weeks)]
    grants = [i % 3 for i in range(weeks)]
    no_topic = [1 if i % 5 == 0 else 0 for i in range(weeks)]
    # The topics themselves are only used for their colour: a real Topic is not needed.
    topics: list[Any] = [object(), object(), None]
    return WeeklySeries(mondays, topics, [legal, grants, no_topic])


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def bar_groups(png: bytes) -> int:
    """Bars seen on the picture: the most runs of the bottom topic's colour along one row."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    target = _hex(PALETTE[0])
    width, height = image.size
    pixels = image.load()
    assert pixels is not None
    best = 0
    for y in range(height):
        runs, length = 0, 0
        for x in range(width):
            r, g, b = pixels[x, y]  # type: ignore[misc]
            if max(abs(r - target[0]), abs(g - target[1]), abs(b - target[2])) <= 8:
                length += 1
            else:
                runs += length >= 4
                length = 0
        runs += length >= 4
        best = max(best, runs)
    return best


@pytest.mark.parametrize("weeks", [1, 2, 5, 13])
def test_the_chart_is_a_png_of_the_expected_size_with_a_bar_per_week(weeks: int) -> None:
    png = draw_weekly(_series(weeks), TEXT)
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    image.verify()
    assert Image.open(io.BytesIO(png)).size == (WIDTH_PX, HEIGHT_PX) == (1200, 800)
    assert bar_groups(png) == weeks


def test_a_long_period_keeps_a_bar_per_week_with_thinned_labels() -> None:
    png = draw_weekly(_series(40), TEXT)
    assert Image.open(io.BytesIO(png)).size == (1200, 800)
    assert bar_groups(png) == 40


async def test_the_chart_is_drawn_in_a_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[threading.Thread] = []

    def spy(series: WeeklySeries, text: ChartText) -> bytes:
        threads.append(threading.current_thread())
        return draw_weekly(series, text)

    monkeypatch.setattr(charts, "draw_weekly", spy)
    png = await charts.render_weekly(_series(3), TEXT)
    assert png.startswith(PNG_SIGNATURE)
    assert threads and threads[0] is not threading.main_thread()


def test_the_charts_words_follow_the_readers_language() -> None:
    series = WeeklySeries([date(2027, 1, 4)], [None], [[2]])
    i18n = create_i18n()
    with locale(i18n, "en"):
        english = chart_text(series, "en")
    assert english.title == "Requests per week by topic"
    assert english.series == ["no topic"]
    with locale(i18n, "ru"):
        russian = chart_text(series, "ru")
    assert russian.title != english.title and russian.series != english.series
