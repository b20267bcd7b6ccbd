"""What ships besides the code: .env.example, docker-compose.yml, the Dockerfile."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_mirrors_settings_field_by_field() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = re.findall(r"^([A-Z_]+)=", text, flags=re.MULTILINE)
    assert len(listed) == len(set(listed)), "a setting is listed twice"
    assert set(listed) == {name.upper() for name in Settings.model_fields}


def test_env_example_values_are_valid_settings() -> None:
    values = dict(
        re.findall(
            r"^([A-Z_]+)=(.*)$",
            (ROOT / ".env.example").read_text(encoding="utf-8"),
            flags=re.MULTILINE,
        )
    )
    filled = {k.lower(): v for k, v in values.items() if v and not k.startswith("WEBHOOK_URL")}
    settings = Settings(_env_file=None, **filled)
    assert settings.default_timezone == "Europe/Moscow"


def test_compose_file_parses_and_wires_the_services() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"bot", "db", "redis"}
    environment = services["bot"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert environment["REDIS_URL"].startswith("redis://")
    assert set(services["bot"]["depends_on"]) == {"db", "redis"}


def test_dockerfile_runs_the_bot_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.1[1-9]-slim", dockerfile, flags=re.MULTILINE)
    user = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0"))
    assert 'CMD ["python", "-m", "bot"]' in dockerfile
