"""MentorDesk: a Telegram bot that turns activists' requests into tracked consultations."""
