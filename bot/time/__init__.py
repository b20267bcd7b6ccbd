"""The clock, durations and time zones as people write them."""
