"""Renderers: domain values -> message content (text, keyboards, files) in the current language."""
