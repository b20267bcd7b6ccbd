"""Alembic migrations of MentorDesk (a package so they ship with the application)."""
