"""A small round-robin HTTP load balancer for tests: what nginx does in front of the replicas.

Each request goes to the next replica in turn; a replica that refuses the connection or drops
it before answering is skipped and the request goes to the next one (nginx's
``proxy_next_upstream error timeout non_idempotent``): storing an update is idempotent, so
the bot is safe to receive it again.
"""

from __future__ import annotations

import itertools
import logging
import socket
from collections import Counter

import aiohttp
from aiohttp import web

log = logging.getLogger(__name__)

PASSED_HEADERS = ("Content-Type", "X-Telegram-Bot-Api-Secret-Token")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RoundRobin:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends  # base URLs, such as http://127.0.0.1:8081
        self.port = free_port()
        self.served: Counter[str] = Counter()  # backend -> requests it answered
        self.skipped: Counter[str] = Counter()  # backend -> requests it failed
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        application = web.Application()
        application.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(application, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k in PASSED_HEADERS}
        first = next(self._turn)
        for attempt in range(len(self.backends)):
            backend = self.backends[(first + attempt) % len(self.backends)]
            try:
                async with self._http.request(
                    request.method, backend + request.path_qs, data=body, headers=headers
                ) as response:
                    answer = await response.read()
                    if response.status in (502, 503):
                        self.skipped[backend] += 1
                        continue
                    self.served[backend] += 1
                    return web.Response(
                        status=response.status,
                        body=answer,
                        content_type=response.content_type,
                    )
            except (aiohttp.ClientConnectionError, TimeoutError) as error:
                log.info("balancer: %s failed (%s); trying the next one", backend, error)
                self.skipped[backend] += 1
        return web.Response(status=502, text="no replica answered")
