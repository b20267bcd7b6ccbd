"""The sandbox in a real browser: Debian's Chromium, driven by Playwright, on the page that
``python -m bot --sandbox`` serves, acting as the people of the programme."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook
from PIL import Image, ImageStat
from playwright.async_api import Locator, Page, async_playwright, expect

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000
PRIVATE = "private chat with the bot"
ADDRESS = re.compile(r"open (http://127\.0\.0\.1:\d+)")

pytestmark = [
    # In CI (.ci/run installs it) a missing Chromium fails the test instead of skipping it.
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason=f"no Chromium at {CHROMIUM}: install Debian's chromium (.ci/run does)",
    ),
    # The sandbox keeps its own SQLite file whatever the suite runs on: once is enough.
    pytest.mark.skipif(
        bool(os.environ.get("TEST_DATABASE_URL")),
        reason="the sandbox runs on SQLite; the SQLite run of the suite covers it",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Sandbox:
    address: str
    process: asyncio.subprocess.Process


@pytest.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Sandbox]:
    """``python3 dev.py demo`` (``--empty`` when the test is marked so), as a visitor starts
    it: the checkout's own .venv, and a fresh sandbox under its data/sandbox/."""
    empty = request.node.get_closest_marker("empty_sandbox") is not None
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "REDIS_"))},
        "PYTHONPATH": str(ROOT),
        "SANDBOX_PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "dev.py"),
        "demo",
        *(["--empty"] if empty else []),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    seen: list[str] = []
    address = None
    while address is None:
        line = (await asyncio.wait_for(process.stdout.readline(), 180)).decode()
        if not line:
            pytest.fail("the sandbox stopped before serving its page:\n" + "".join(seen))
        seen.append(line)
        found = ADDRESS.search(line)
        address = found.group(1) if found else None
    try:
        yield Sandbox(address, process)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
        assert process.returncode == 0, process.returncode


@pytest.fixture
async def page(sandbox: Sandbox) -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(
            viewport={"width": 1400, "height": 860}, accept_downloads=True
        )
        opened = await context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        await opened.goto(sandbox.address)
        yield opened
        await browser.close()
        assert not errors, errors


async def screenshot(page: Page, path: Path) -> None:
    """Take a screenshot and check it shows something: many colours, not one flat fill."""
    await page.screenshot(path=path)
    image = Image.open(path).convert("RGB")
    assert image.size == (1400, 860)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200, f"{path.name}: only {len(colours)} colours"
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 20, f"{path.name} looks blank"


async def act_as(page: Page, name: str, chat: str = PRIVATE) -> None:
    """Pick the person, then their chat: a group by its title, or the private chat."""
    await page.locator("#people button", has_text=name).click()
    await expect(page.locator("#people button.active")).to_contain_text(name)
    if chat == PRIVATE:
        await page.locator("#chats button.private").click()
        await expect(page.locator("#chat-title")).to_contain_text("@mentordesk_sandbox_bot")
    else:
        await page.locator("#chats button", has_text=chat).click()
        await expect(page.locator("#chat-title")).to_contain_text(chat)


async def write(page: Page, text: str) -> None:
    await page.locator("#text").fill(text)
    await page.locator("#text").press("Enter")


def bubble(page: Page, text: str | re.Pattern[str]) -> Locator:
    return page.locator("#messages .bubble", has_text=text)


async def consent(page: Page) -> None:
    """Answer the programme's notice, which a person's first request brings (ASK_CONSENT)."""
    notice = page.locator("#messages li.message-block", has_text="Ваши данные").filter(
        has=page.get_by_role("button", name="Даю согласие")
    )
    await expect(notice).to_be_visible(timeout=WAIT_MS)
    await notice.get_by_role("button", name="Даю согласие").click()


async def test_a_request_answered_and_counted_in_the_browser(page: Page, tmp_path: Path) -> None:
    # An activist asks in the Luhansk group and sees the acknowledgement.
    await act_as(page, "Активист из Луганска", "Луганская группа ШСП")
    await write(page, "/ask #юрист Как зарегистрировать АНО?")
    await consent(page)
    ack = page.locator("#messages .bubble", has_text=re.compile(r"Запрос #\d+ принят"))
    await expect(ack).to_be_visible(timeout=WAIT_MS)
    number = re.search(r"#(\d+)", await ack.inner_text())
    assert number is not None
    ticket = f"#{number.group(1)}"
    await screenshot(page, tmp_path / "1-asked.png")

    # A legal mentor takes it from the card in private and answers by replying to the card.
    await act_as(page, "Юрист 1")
    card = page.locator("#messages li.message-block", has_text=ticket).filter(
        has=page.get_by_role("button", name="Взять")
    )
    await expect(card).to_be_visible(timeout=WAIT_MS)
    await card.get_by_role("button", name="Взять").click()
    taken = page.locator("#messages li.message-block", has_text=ticket).filter(
        has=page.get_by_role("button", name="Решено")
    )
    await expect(taken).to_be_visible(timeout=WAIT_MS)
    # The sandbox's bot has topics in private chats: the taken request is a topic of its own.
    await expect(taken.locator(".topic")).to_contain_text(f"{ticket} · Юридические вопросы")
    await taken.locator(".bubble .meta").click()
    await expect(page.locator("#replying")).to_be_visible()
    answer = "Для АНО нужны устав, решение учредителя и заявление по форме Р11001."
    await write(page, answer)
    await expect(page.locator("#messages .mine .bubble", has_text=answer)).to_be_visible()
    await screenshot(page, tmp_path / "2-answered-in-the-topic.png")

    # The activist sees the answer in the group.
    await act_as(page, "Активист из Луганска", "Луганская группа ШСП")
    in_group = page.locator("#messages .bubble", has_text="Р11001")
    await expect(in_group.last).to_be_visible(timeout=WAIT_MS)
    await expect(in_group.last.locator(".author")).to_have_text("MentorDesk")
    await screenshot(page, tmp_path / "3-answer-in-group.png")

    # The coordinator sees the chart of /stats, then downloads the workbook of /export.
    await act_as(page, "Координатор ШСП")
    await write(page, "/stats")
    chart = page.locator("#messages .photo img").last
    await expect(chart).to_be_visible(timeout=WAIT_MS)
    width = await chart.evaluate("image => image.complete ? image.naturalWidth : 0")
    assert width > 300, width
    await screenshot(page, tmp_path / "4-stats.png")
    await write(page, "/export")
    workbook_link = page.locator("#messages a.document", has_text=".xlsx").last
    await expect(workbook_link).to_be_visible(timeout=WAIT_MS)
    async with page.expect_download() as download_info:
        await workbook_link.click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.suffix == ".xlsx"
    workbook = load_workbook(BytesIO(saved.read_bytes()), read_only=True)
    cells = [
        str(cell)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(values_only=True)
        for cell in row
        if cell is not None
    ]
    assert any("Как зарегистрировать АНО?" in cell for cell in cells), cells[:40]
    await screenshot(page, tmp_path / "5-export.png")


@pytest.mark.empty_sandbox
async def test_starting_empty_a_group_is_registered_and_a_mentor_invited(
    page: Page, tmp_path: Path
) -> None:
    await act_as(page, "Администратор")
    await write(page, "/start")
    await expect(bubble(page, "MentorDesk")).not_to_have_count(0, timeout=WAIT_MS)

    # The admin adds the bot to the Luhansk group and registers it.
    await act_as(page, "Администратор", "Луганская группа ШСП")
    await expect(page.locator("#notice")).to_be_visible()
    await page.locator("#add-bot").click()
    await expect(bubble(page, "/register")).not_to_have_count(0, timeout=WAIT_MS)
    await expect(page.locator("#notice")).to_be_hidden()
    await write(page, "/register ШСП на Донбассе")
    await expect(bubble(page, "зарегистрирована")).to_be_visible(timeout=WAIT_MS)
    await screenshot(page, tmp_path / "1-registered.png")

    # The admin invites a legal mentor; the mentor opens the link.
    await act_as(page, "Администратор")
    await write(page, "/invite mentor legal")
    link = page.locator("#messages .bubble a[href*='?start=']").last
    await expect(link).to_be_visible(timeout=WAIT_MS)
    await screenshot(page, tmp_path / "2-invited.png")
    await link.click()
    await expect(page.locator("#link-dialog")).to_be_visible()
    await page.locator("#link-people button", has_text="Юрист 1").click()
    await expect(page.locator("#people button.active")).to_contain_text("Юрист 1")
    welcome = bubble(page, "Теперь вы наставник программы «ШСП на Донбассе»")
    await expect(welcome).to_be_visible(timeout=WAIT_MS)
    mentor = page.locator("#people button", has_text="Юрист 1")
    await expect(mentor.locator(".badge")).to_have_text("наставник", timeout=WAIT_MS)
    await screenshot(page, tmp_path / "3-mentor-joined.png")


async def test_a_quiet_group_shows_the_acknowledgement_to_its_author_alone(
    page: Page, tmp_path: Path
) -> None:
    # The sandbox's programme keeps its groups quiet (GROUP_REPLIES=quiet, the default).
    await act_as(page, "Активист из Луганска", "Луганская группа ШСП")
    await write(page, "/ask #юрист Нужна ли печать для АНО?")
    await consent(page)
    ack = bubble(page, re.compile(r"Запрос #\d+ принят"))
    await expect(ack).to_be_visible(timeout=WAIT_MS)
    await expect(ack.locator(".only-for")).to_contain_text("Активист из Луганска")
    request = page.locator("#messages .mine .bubble", has_text="Нужна ли печать").last
    await expect(request.locator(".reactions")).to_have_text("👀", timeout=WAIT_MS)
    await screenshot(page, tmp_path / "quiet-group-author.png")

    # Another member of the group sees the request and its reaction, not the acknowledgement.
    await act_as(page, "Активистка из Стаханова", "Луганская группа ШСП")
    seen = bubble(page, "Нужна ли печать").last
    await expect(seen).to_be_visible(timeout=WAIT_MS)
    await expect(seen.locator(".reactions")).to_have_text("👀")
    await expect(bubble(page, re.compile(r"Запрос #\d+ принят"))).to_have_count(0)
    await screenshot(page, tmp_path / "quiet-group-neighbour.png")
