"""Alembic migrations of MentorDesk (a package so they ship with the application)."""

# The newest revision. The bot compares the database's with it at start and starts the
# migration process only when they differ; tests/test_migrations.py checks that it is
# Alembic's one head, so a new migration moves it too.
HEAD = "0021"
