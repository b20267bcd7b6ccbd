"""A Telegram Bot API emulator: the real aiogram ``Bot`` talks to it over HTTP on 127.0.0.1.

The tests and the sandbox (``python -m bot --sandbox``) use it alike.
"""
