"""What is aiogram's around the handlers: middlewares, filters, dialogue state, the menu."""
