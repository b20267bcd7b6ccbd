"""Domain services: what MentorDesk does, knowing nothing of Telegram types."""
