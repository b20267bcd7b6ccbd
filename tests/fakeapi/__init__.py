"""A fake Telegram Bot API server and the people who use it, for end-to-end tests."""
