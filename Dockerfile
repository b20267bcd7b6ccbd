# MentorDesk: python -m bot (migrations are applied on start).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEBHOOK_HOST=0.0.0.0 \
    DATABASE_URL=sqlite+aiosqlite:////app/data/mentordesk.sqlite3
# glibc hands every freed block of 128 KiB or more back to the system, where by default it
# raises that threshold as blocks are freed and keeps later ones in the heap: 7 MiB less after
# a model is retrained, 8 after a /stats chart (bench/memory.py with this set).
ENV MALLOC_MMAP_THRESHOLD_=131072

WORKDIR /app
RUN groupadd --system --gid 10001 mentordesk \
    && useradd --system --uid 10001 --gid mentordesk --home-dir /app mentordesk

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY models ./models
COPY migrations ./migrations
RUN pip install --no-cache-dir . \
    && python -c "from bot.i18n import compile_catalogs; compile_catalogs()" \
    && mkdir -p /app/data && chown -R mentordesk:mentordesk /app/data

USER 10001:10001
VOLUME ["/app/data"]
EXPOSE 8080
CMD ["python", "-m", "bot"]
