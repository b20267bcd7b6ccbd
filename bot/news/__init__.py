"""Who hears what: the messages an event sends, rendered by views, written to the outbox."""
