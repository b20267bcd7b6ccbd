"""Settings of one MentorDesk deployment, read from the environment and ``.env``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.languages import LANGUAGES
from bot.time.durations import parse_duration
from bot.time.zones import UnknownZoneError, normalize_zone

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/mentordesk.sqlite3"


def _split(value: object) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return [str(part).strip() for part in value]
    raise ValueError("expected a comma-separated list")


class Settings(BaseSettings):
    """Every setting of SPEC.md "Interfaces"; ``.env.example`` mirrors this class field by field."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")
    # Not configured but learnt from Telegram at start (getMe): whether the bot has topics in
    # private chats (BotFather's threaded mode), where each ticket a mentor takes gets one.
    _private_topics: bool = PrivateAttr(default=False)

    @property
    def private_topics(self) -> bool:
        return self._private_topics

    def note_private_topics(self, enabled: bool) -> None:
        self._private_topics = enabled

    bot_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base: str = "https://api.telegram.org"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    default_timezone: str = "Europe/Moscow"
    default_language: str = "ru"
    redis_url: str | None = None

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    # /healthz and /metrics: on the webhook server; by long polling, on this port when set.
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    reminder_offsets: Annotated[list[timedelta], NoDecode] = Field(
        default_factory=lambda: [timedelta(hours=24), timedelta(hours=1), timedelta(minutes=10)]
    )
    claim_sla: timedelta = timedelta(hours=4)
    answer_sla: timedelta = timedelta(hours=24)
    reopen_window: timedelta = timedelta(days=3)
    invite_ttl: timedelta = timedelta(days=3)
    # How long the content of a closed request is kept (RETENTION=3y, 1095d); off when unset.
    retention: timedelta | None = None
    mentor_capacity: int = Field(default=5, ge=1, le=100)
    # A person's requests: at most this many open at a time, and this many filed an hour; the
    # next one is answered to that person alone, not stored, and no mentor sees it.
    max_open_requests: int = Field(default=5, ge=1, le=1000)
    # After a person's first request, ask once (skippable) for their town and organisation,
    # which the register (/people) and the funders' report (/report) count people by.
    ask_profile: bool = True
    requests_per_hour: int = Field(default=10, ge=1, le=10000)
    video_base_url: str = "https://meet.jit.si"
    # How a new programme's groups hear the bot: "quiet", what concerns one person goes to that
    # person alone (ephemeral messages, a reaction for the request's state); "visible", every
    # reply is posted for the whole group. A coordinator switches a programme with /replies.
    group_replies: Literal["quiet", "visible"] = "quiet"
    # A person's first request in a programme waits for their consent to the programme's
    # notice (and a request on a health topic for explicit consent to that); off, requests go
    # straight to the mentors. Leave it on wherever real people's data is kept.
    ask_consent: bool = True

    rate_global_per_second: float = Field(default=30.0, gt=0)
    rate_private_per_second: float = Field(default=1.0, gt=0)
    rate_group_per_minute: float = Field(default=20.0, gt=0)
    # How many messages may be on their way to Telegram at once. Each of them could arrive
    # twice after a crash (Telegram has no idempotency key); more make room for a faster rate
    # over a slow link or a busy process. Two keep a burst's acknowledgements within the 30/s
    # budget's time on a busy 2-core machine (bench/pipeline.py, limits), where one fell behind.
    # The sender never keeps more on their way than the 30/s budget needs.
    send_concurrency: int = Field(default=2, ge=1, le=64)
    # Who sends the outbox: "builtin", the bot's own process (standing by while another
    # replica sends); "separate", a process of its own (``python -m bot --sender``), on
    # PostgreSQL only: this process then only writes the outbox.
    sender: Literal["builtin", "separate"] = "builtin"

    log_level: str = "INFO"
    # The page of `python -m bot --sandbox` (`python3 dev.py demo`), on 127.0.0.1 only.
    sandbox_port: int = Field(default=8088, ge=1, le=65535)

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _parse_metrics_port(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _parse_admin_ids(cls, value: object) -> list[int]:
        try:
            return [int(part) for part in _split(value)]
        except ValueError as error:
            raise ValueError("ADMIN_IDS must be Telegram user ids separated by commas") from error

    @field_validator("reminder_offsets", mode="before")
    @classmethod
    def _parse_offsets(cls, value: object) -> list[timedelta]:
        if isinstance(value, list) and all(isinstance(v, timedelta) for v in value):
            offsets: list[timedelta] = value
        else:
            offsets = [parse_duration(part) for part in _split(value)]
        return sorted(offsets, reverse=True)

    @field_validator("claim_sla", "answer_sla", "reopen_window", "invite_ttl", mode="before")
    @classmethod
    def _parse_single_duration(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_duration(value)
        return value

    @field_validator("retention", mode="before")
    @classmethod
    def _parse_retention(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_duration(value) if value.strip() else None
        return value

    @field_validator("default_timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            return normalize_zone(value)
        except UnknownZoneError as error:
            raise ValueError(f"unknown time zone {value!r}") from error

    @field_validator("default_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        return value

    @field_validator("telegram_api_base", "video_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def token(self) -> str:
        """The bot token; callers check ``bot_token`` first, as ``__main__`` does."""
        if self.bot_token is None:
            raise RuntimeError("BOT_TOKEN is not set")
        return self.bot_token.get_secret_value()

    @model_validator(mode="after")
    def _separate_sender_needs_postgresql(self) -> Settings:
        if self.sender == "separate" and self.database_url.startswith("sqlite"):
            raise ValueError(
                "SENDER=separate needs PostgreSQL (DATABASE_URL=postgresql+asyncpg://...): on "
                "SQLite one process does everything, so leave SENDER at builtin"
            )
        return self

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(
                "WEBHOOK_SECRET must be set when WEBHOOK_URL is: Telegram sends it with every "
                "update so the bot can refuse requests that do not come from Telegram"
            )
        return self

    @property
    def webhook_path(self) -> str:
        """The path the webhook server listens on: the path of ``WEBHOOK_URL``."""
        return urlsplit(self.webhook_url or "").path or "/"

    def is_admin(self, telegram_id: int) -> bool:
        return telegram_id in self.admin_ids
