"""Periodic jobs (SLA, meeting reminders, weekly digests): they read the domain and enqueue."""
