"""The sandbox: the real bot against a built-in Bot API emulator, and a web page to act in it."""
