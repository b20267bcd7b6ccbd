"""What ships besides the code: .env.example, the Dockerfile, docker-compose.yml and
deploy/nginx.conf.

No Docker engine runs here, so the compose file is checked for what ``docker compose`` would
refuse or start wrongly, and the nginx config is parsed by crossplane (nginx's directive
table: syntax, contexts, argument counts) and checked for what the replicas rely on. Each
checker is also run on broken copies, so a check that finds nothing is noticed.
``dev.py test`` adds the compose-spec schema (check-jsonschema) and gixy on the nginx config.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import crossplane
import pytest
import yaml

from bot.config import Settings

# Nothing here touches the suite's database: the PostgreSQL run leaves it out.
pytestmark = pytest.mark.no_database

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
REPLICAS = ("replica-1", "replica-2")
SCALE = "scale"
HEALTHZ = "http://127.0.0.1:8080/healthz"
NEXT_UPSTREAM = {"error", "timeout", "http_502", "http_503", "non_idempotent"}
SECRET_HEADER = "x-telegram-bot-api-secret-token"
# nginx -t needs a version whose upstream servers take `resolve` (open source nginx 1.27.3).
NGINX_RESOLVE = (1, 27, 3)


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


def test_dockerfile_runs_the_bot_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.1[1-9]-slim", dockerfile, flags=re.MULTILINE)
    user = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0"))
    assert 'CMD ["python", "-m", "bot"]' in dockerfile
    assert re.search(r"^EXPOSE 8080$", dockerfile, flags=re.MULTILINE)


# --- docker-compose.yml -------------------------------------------------------------------


def load_compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def _profiles(service: dict[str, Any]) -> set[str]:
    return set(service.get("profiles") or [])


def _depends_on(service: dict[str, Any]) -> list[str]:
    depends = service.get("depends_on") or []
    return list(depends) if isinstance(depends, dict | list) else []


def _mounts(service: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(source, target, mode) of each short-syntax volume of a service."""
    for volume in service.get("volumes") or []:
        source, _, rest = str(volume).partition(":")
        target, _, mode = rest.partition(":")
        yield source, target, mode


def compose_problems(compose: dict[str, Any]) -> list[str]:
    """What ``docker compose`` would refuse in the file, or start in a way the README does not
    describe. Empty when the file is as it should be."""
    services: dict[str, Any] = compose.get("services") or {}
    declared_volumes = set(compose.get("volumes") or {})
    problems = [
        f"{name}: {problem}"
        for name, service in services.items()
        for problem in _service_problems(service, services, declared_volumes)
    ]
    bot = services.get("bot", {})
    if _profiles(bot):
        problems.append("bot: has profiles, so a bare `docker compose up -d` would not start it")
    for name in (*REPLICAS, "lb"):
        if name not in services:
            problems.append(f"{name}: missing")
        elif _profiles(services[name]) != {SCALE}:
            problems.append(f"{name}: not in the profile {SCALE!r} alone")
    for name in REPLICAS:
        replica = services.get(name, {})
        problems.extend(f"{name}: {problem}" for problem in _replica_problems(replica, bot))
    problems.extend(f"sender: {problem}" for problem in _sender_problems(services, bot))
    lb = services.get("lb", {})
    if set(_depends_on(lb)) != set(REPLICAS):
        problems.append("lb: does not depend on exactly the replicas")
    if ("./deploy/nginx.conf", "/etc/nginx/nginx.conf", "ro") not in set(_mounts(lb)):
        problems.append("lb: does not mount ./deploy/nginx.conf read-only as its nginx.conf")
    return problems


def _service_problems(
    service: dict[str, Any], services: dict[str, Any], declared_volumes: set[str]
) -> Iterator[str]:
    """What is wrong with any service: how it is built, what it waits for, what it mounts."""
    if not service.get("image") and not service.get("build"):
        yield "neither image nor build"
    for dependency in _depends_on(service):
        if dependency not in services:
            yield f"depends on {dependency}, which is not a service"
        elif _profiles(services[dependency]) and not (
            _profiles(services[dependency]) & _profiles(service)
        ):
            yield f"depends on {dependency}, which starts in other profiles"
    for source, target, mode in _mounts(service):
        if source.startswith((".", "/")):
            if not (ROOT / source).resolve().exists():
                yield f"mounts {source}, which is not in the repository"
            if mode != "ro":
                yield f"mounts {source} writable"
        elif source not in declared_volumes:
            yield f"volume {source} is not declared"
        if not target.startswith("/"):
            yield f"mount target {target!r} is not an absolute path"


def _replica_problems(replica: dict[str, Any], bot: dict[str, Any]) -> Iterator[str]:
    environment = replica.get("environment") or {}
    if replica.get("image") != bot.get("image") or replica.get("build") != bot.get("build"):
        yield "not the bot's image"
    if replica.get("env_file") != ".env":
        yield "does not read .env (BOT_TOKEN, WEBHOOK_SECRET)"
    for key in ("DATABASE_URL", "REDIS_URL"):
        if environment.get(key) != (bot.get("environment") or {}).get(key):
            yield f"{key} differs from the bot's"
    if not str(environment.get("DATABASE_URL", "")).startswith("postgresql+asyncpg://"):
        yield "DATABASE_URL is not PostgreSQL"
    if not re.fullmatch(r"\$\{WEBHOOK_URL(:?-)?\}", str(environment.get("WEBHOOK_URL", ""))):
        yield "WEBHOOK_URL is not taken from .env"
    if environment.get("WEBHOOK_HOST") != "0.0.0.0" or str(environment.get("WEBHOOK_PORT")) != (
        "8080"
    ):
        yield "the webhook does not listen on 0.0.0.0:8080"
    if set(_depends_on(replica)) != {"db", "redis"}:
        yield "does not depend on db and redis"
    if replica.get("ports"):
        yield "publishes ports: /healthz and /metrics must stay internal"
    test = (replica.get("healthcheck") or {}).get("test") or []
    if test[:2] != ["CMD", "python"] or not any(HEALTHZ in str(part) for part in test):
        yield f"its healthcheck does not fetch {HEALTHZ} with python"


def _sender_problems(services: dict[str, Any], bot: dict[str, Any]) -> Iterator[str]:
    """The sender of its own: the bot's image running ``python -m bot --sender`` on the same
    database, in a profile of its own, checked by its /healthz, publishing nothing."""
    sender = services.get("sender")
    if sender is None:
        yield "missing"
        return
    if _profiles(sender) != {"sender"}:
        yield "not in the profile 'sender' alone"
    if sender.get("image") != bot.get("image") or sender.get("build") != bot.get("build"):
        yield "not the bot's image"
    if sender.get("command") != ["python", "-m", "bot", "--sender"]:
        yield "does not run python -m bot --sender"
    environment = sender.get("environment") or {}
    if environment.get("DATABASE_URL") != (bot.get("environment") or {}).get("DATABASE_URL"):
        yield "DATABASE_URL differs from the bot's"
    if str(environment.get("METRICS_PORT")) != "8080":
        yield "its /healthz is not on port 8080"
    if sender.get("ports"):
        yield "publishes ports: /healthz and /metrics must stay internal"
    test = (sender.get("healthcheck") or {}).get("test") or []
    if test[:2] != ["CMD", "python"] or not any(HEALTHZ in str(part) for part in test):
        yield f"its healthcheck does not fetch {HEALTHZ} with python"


def test_compose_file_wires_the_single_bot_and_the_scale_profile() -> None:
    compose = load_compose()
    assert compose_problems(compose) == []
    services = compose["services"]
    assert set(services) == {"bot", "db", "redis", *REPLICAS, "lb", "sender"}
    environment = services["bot"]["environment"]
    assert environment["DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert environment["REDIS_URL"].startswith("redis://")
    assert set(services["bot"]["depends_on"]) == {"db", "redis"}
    # The single bot, db and redis start without a profile: `docker compose up -d` as before.
    assert {name for name, service in services.items() if not _profiles(service)} == {
        "bot",
        "db",
        "redis",
    }


def _drop(path: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    def change(compose: dict[str, Any]) -> None:
        node = compose
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def _set(path: tuple[str, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def change(compose: dict[str, Any]) -> None:
        node = compose
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_set(("services", "lb", "depends_on"), ["replica-1", "replica-3"]), "not a service"),
        (_drop(("volumes",)), "volume pgdata is not declared"),
        (_set(("services", "bot", "profiles"), ["single"]), "bare `docker compose up -d`"),
        (_set(("services", "db", "profiles"), [SCALE]), "starts in other profiles"),
        (_drop(("services", "replica-2", "healthcheck")), "healthcheck"),
        (_drop(("services", "replica-1", "environment", "WEBHOOK_URL")), "WEBHOOK_URL"),
        (_set(("services", "replica-1", "ports"), ["8080:8080"]), "publishes ports"),
        (
            _set(("services", "lb", "volumes"), ["./deploy/nginx.conf:/etc/nginx/nginx.conf"]),
            "writable",
        ),
        (
            _set(("services", "lb", "volumes"), ["./deploy/missing.conf:/etc/nginx/nginx.conf:ro"]),
            "not in the repository",
        ),
        (_drop(("services", "lb", "profiles")), "lb: not in the profile"),
        (_set(("services", "sender", "command"), ["python", "-m", "bot"]), "--sender"),
        (_set(("services", "sender", "profiles"), [SCALE]), "sender: not in the profile"),
    ],
)
def test_compose_checks_find_a_broken_copy(
    change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    compose = copy.deepcopy(load_compose())
    change(compose)
    problems = compose_problems(compose)
    assert any(expected in problem for problem in problems), problems


# --- deploy/nginx.conf --------------------------------------------------------------------


def _walk(block: list[dict[str, Any]], name: str) -> Iterator[dict[str, Any]]:
    """Every directive called ``name`` in a parsed block, at any depth."""
    for directive in block:
        if directive["directive"] == name:
            yield directive
        yield from _walk(directive.get("block") or [], name)


def _args(block: list[dict[str, Any]], name: str) -> list[str] | None:
    """The arguments of the directive ``name`` directly in ``block``, or None."""
    found = [d["args"] for d in block if d["directive"] == name]
    return found[-1] if found else None


def _size(text: str) -> int:
    units = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    match = re.fullmatch(r"(\d+)([kmg]?)", text.lower())
    assert match, f"not a size: {text}"
    return int(match[1]) * units[match[2]]


def _seconds(text: str) -> float:
    units = {"ms": 0.001, "": 1, "s": 1, "m": 60}
    match = re.fullmatch(r"(\d+)(ms|s|m|)", text)
    assert match, f"not a time: {text}"
    return int(match[1]) * units[match[2]]


def webhook_path() -> str:
    """The path of WEBHOOK_URL in the README's example for the scale profile."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    url = re.search(r"^WEBHOOK_URL=(https://\S+)$", readme, flags=re.MULTILINE)
    assert url, "README shows no WEBHOOK_URL=https://..."
    return urlsplit(url[1]).path


def nginx_problems(path: Path, hook: str) -> list[str]:
    """What would make nginx refuse the config, or the replicas behind it lose updates or
    show /healthz and /metrics to the world. Empty when the config is as it should be."""
    parsed = crossplane.parse(str(path), strict=True, check_ctx=True, check_args=True, single=True)
    if parsed["status"] != "ok":
        return [error["error"] for error in parsed["errors"]]
    main: list[dict[str, Any]] = parsed["config"][0]["parsed"]
    problems: list[str] = []
    http = next(_walk(main, "http"), None)
    if http is None:
        return ["no http block"]

    upstreams = {u["args"][0]: u["block"] for u in _walk(http["block"], "upstream")}
    if len(upstreams) != 1:
        return [f"expected one upstream, found {sorted(upstreams)}"]
    ((upstream, members),) = upstreams.items()
    servers = [d["args"] for d in members if d["directive"] == "server"]
    if sorted(args[0] for args in servers) != [f"{name}:8080" for name in REPLICAS]:
        problems.append(f"upstream {upstream} is not {', '.join(REPLICAS)} on :8080")
    problems.extend(
        f"upstream server {args[0]} has no max_fails/fail_timeout"
        for args in servers
        if not {"max_fails", "fail_timeout"} <= {a.partition("=")[0] for a in args}
    )
    problems.extend(
        f"upstream {upstream} uses {sticky}: the bot needs no stickiness"
        for sticky in ("ip_hash", "hash", "sticky")
        if _args(members, sticky) is not None
    )

    if any(d["args"] == ["off"] for d in _walk(main, "proxy_pass_request_headers")):
        problems.append("proxy_pass_request_headers off drops the secret token header")
    if any(
        d["args"][0].lower() == SECRET_HEADER
        and d["args"][1:] != ["$http_" + SECRET_HEADER.replace("-", "_")]
        for d in _walk(main, "proxy_set_header")
    ):
        problems.append("proxy_set_header replaces the secret token header")

    proxied: list[tuple[list[str], list[dict[str, Any]]]] = []
    servers_blocks = [s["block"] for s in http["block"] if s["directive"] == "server"]
    for server in servers_blocks:
        problems.extend(_server_problems(server, http["block"]))
        proxied += [
            (location["args"], location["block"])
            for location in _walk(server, "location")
            if _args(location["block"], "proxy_pass") is not None
        ]

    if [args for args, _ in proxied] != [["=", hook]]:
        problems.append(f"proxied locations are {[a for a, _ in proxied]}, not only = {hook}")
    if hook in ("/healthz", "/metrics") or not hook.startswith("/"):
        problems.append(f"the webhook path {hook!r} collides with the internal endpoints")
    for _args_of_location, block in proxied:
        problems.extend(_webhook_location_problems(block, upstream, len(servers)))
    return problems


def _server_problems(server: list[dict[str, Any]], http: list[dict[str, Any]]) -> Iterator[str]:
    """What is wrong with a server block: TLS, its certificates, the size of a body, and a
    location / that answers anything but 404."""
    listens = [d["args"] for d in server if d["directive"] == "listen"]
    if any("ssl" not in args for args in listens):
        yield f"a server listens without TLS: {listens}"
    for key in ("ssl_certificate", "ssl_certificate_key"):
        value = _args(server, key) or _args(http, key)
        if not value or not value[0].startswith("/etc/nginx/certs/"):
            yield f"{key} is not under /etc/nginx/certs/ (deploy/certs/)"
    body = _args(server, "client_max_body_size") or _args(http, "client_max_body_size")
    if body is None or not 1024**2 <= _size(body[0]) <= 10 * 1024**2:
        yield "client_max_body_size is not set between 1m and 10m"
    for location in _walk(server, "location"):
        block = location["block"]
        proxied = _args(block, "proxy_pass") is not None
        if location["args"] == ["/"] and not proxied and _args(block, "return") != ["404"]:
            yield "location / does not answer 404"


def _webhook_location_problems(
    block: list[dict[str, Any]], upstream: str, replicas: int
) -> Iterator[str]:
    if _args(block, "proxy_pass") != [f"http://{upstream}"]:
        yield f"the webhook is not passed to http://{upstream}"
    if _args(block, "proxy_request_buffering") == ["off"]:
        yield "an unbuffered body cannot be sent to the next replica"
    next_upstream = set(_args(block, "proxy_next_upstream") or [])
    if not next_upstream >= NEXT_UPSTREAM:
        yield f"proxy_next_upstream lacks {sorted(NEXT_UPSTREAM - next_upstream)}"
    tries = _args(block, "proxy_next_upstream_tries")
    if tries is None or not 2 <= int(tries[0]) <= replicas:
        yield f"proxy_next_upstream_tries is not between 2 and {replicas}"
    for timeout in ("proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout"):
        value = _args(block, timeout)
        if value is None or not 0 < _seconds(value[0]) <= 30:
            yield f"{timeout} is not set to 30 s or less"
    if _args(block, "limit_except") != ["POST"]:
        yield "methods other than POST reach the webhook"


def test_nginx_config_passes_only_the_webhook_to_the_replicas() -> None:
    hook = webhook_path()
    assert hook == "/telegram/hook"
    assert nginx_problems(NGINX_CONF, hook) == []


def test_nginx_config_is_where_compose_mounts_it_and_names_its_replicas() -> None:
    lb = load_compose()["services"]["lb"]
    mounts = {source: target for source, target, _mode in _mounts(lb)}
    assert mounts["./deploy/nginx.conf"] == "/etc/nginx/nginx.conf"
    assert mounts["./deploy/certs"] == "/etc/nginx/certs"
    assert (ROOT / "deploy" / "certs" / "README.md").exists()
    assert [port.split(":")[-1] for port in lb["ports"]] == ["443"]


BROKEN_NGINX = [
    ("proxy_next_upstream_tries 2;", "proxy_next_upstream_tries 2", "invalid number of arguments"),
    ("proxy_next_upstream_tries 2;", "proxy_next_upstrem_tries 2;", "unknown directive"),
    ("limit_except POST {", "limit_except POST", "has no opening"),
    (" non_idempotent;", ";", "non_idempotent"),
    ("proxy_next_upstream_tries 2;", "proxy_next_upstream_tries 1;", "tries"),
    (
        "        location / {",
        "        location /metrics {\n            proxy_pass http://mentordesk_replicas;\n"
        "        }\n\n        location / {",
        "proxied locations",
    ),
    ("location = /telegram/hook {", "location /telegram {", "proxied locations"),
    (
        'proxy_set_header Connection "";',
        'proxy_set_header Connection "";\n'
        '            proxy_set_header X-Telegram-Bot-Api-Secret-Token "";',
        "secret token",
    ),
    (
        "            proxy_http_version 1.1;",
        "            proxy_http_version 1.1;\n            proxy_pass_request_headers off;",
        "secret token",
    ),
    ("server replica-2:8080 resolve max_fails=2 fail_timeout=10s;", "", "upstream"),
    ("client_max_body_size 1m;", "client_max_body_size 100m;", "client_max_body_size"),
    ("listen 443 ssl;", "listen 80;", "without TLS"),
]


@pytest.mark.parametrize(("old", "new", "expected"), BROKEN_NGINX)
def test_nginx_checks_find_a_broken_copy(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = NGINX_CONF.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "nginx.conf"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    problems = nginx_problems(broken, webhook_path())
    assert any(expected in problem for problem in problems), problems


def _nginx_binary() -> str | None:
    """An nginx new enough for `resolve` in upstreams: $NGINX, else `nginx` on PATH."""
    binary = os.environ.get("NGINX") or shutil.which("nginx")
    if binary is None:
        return None
    shown = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    version = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", shown.stderr + shown.stdout)
    if version is None or tuple(int(part) for part in version.groups()) < NGINX_RESOLVE:
        return None
    return binary


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    """nginx's own check, where an nginx >= 1.27.3 is at hand (NGINX=/path/to/nginx): on a
    copy that reads a throwaway certificate and listens on a free port. The upstream servers
    resolve at run time (`resolve`), so the replicas' names need not resolve here."""
    binary = _nginx_binary()
    openssl = shutil.which("openssl")
    if binary is None or openssl is None:
        pytest.skip("needs nginx >= 1.27.3 ($NGINX or PATH) and openssl")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=localhost", "-keyout", str(tmp_path / "privkey.pem"),
            "-out", str(tmp_path / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    text = NGINX_CONF.read_text(encoding="utf-8")
    assert text.count("/etc/nginx/certs/") == 2 and text.count("listen 443 ssl;") == 1
    # nginx -t binds the listening socket: a free port, which needs no root.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    text = text.replace("/etc/nginx/certs/", f"{tmp_path}/")
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    copy_ = tmp_path / "nginx.conf"
    copy_.write_text(text, encoding="utf-8")
    options = f"pid {tmp_path}/nginx.pid;" + (" user root;" if os.geteuid() == 0 else "")
    command = [binary, "-t", "-q", "-p", str(tmp_path), "-c", str(copy_), "-g", options]
    checked = subprocess.run(command, capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    copy_.write_text(text.replace("tries 2;", "tries;"), encoding="utf-8")
    refused = subprocess.run(command, capture_output=True, text=True, check=False)
    assert refused.returncode != 0
