"""The ``.ics`` file sent with an announcement, so a meeting lands in people's calendars.

DTSTART is written in UTC, so every calendar shows it in its owner's zone without relying on
a VTIMEZONE block; UID and SEQUENCE let a moved or cancelled meeting replace the first file.
icalendar is imported with the first file (about 50 ms, once): a bot that has announced no
meeting does not carry it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from models import Meeting, MeetingStatus

if TYPE_CHECKING:
    import icalendar

PRODUCT_ID = "-//MentorDesk//Meetings//EN"
UID_DOMAIN = "mentordesk"


def event_uid(meeting: Meeting) -> str:
    return f"{meeting.uid}@{UID_DOMAIN}"


def ics_filename(meeting: Meeting) -> str:
    return f"meeting-{meeting.id}.ics"


def meeting_ics(
    meeting: Meeting,
    *,
    now: datetime,
    alarm_before: timedelta | None,
    description: str = "",
    alarm_text: str = "",
) -> bytes:
    """One VEVENT: UID, DTSTART in UTC, DURATION, URL, an alarm; CANCEL for a cancelled one."""
    import icalendar  # noqa: PLC0415

    cancelled = meeting.status == MeetingStatus.cancelled
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancelled else "PUBLISH")
    event = _event(meeting, now, description)
    if alarm_before is not None and not cancelled:
        alarm = icalendar.Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", alarm_text or meeting.title)
        alarm.add("trigger", -alarm_before)
        event.add_component(alarm)
    calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def meetings_ics(meetings: Sequence[Meeting], *, now: datetime, name: str) -> bytes:
    """Several meetings in one calendar (a week's schedule), each as its own VEVENT."""
    import icalendar  # noqa: PLC0415

    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    for meeting in meetings:
        calendar.add_component(_event(meeting, now, ""))
    data: bytes = calendar.to_ical()
    return data


def _event(meeting: Meeting, now: datetime, description: str) -> icalendar.Event:
    import icalendar  # noqa: PLC0415

    cancelled = meeting.status == MeetingStatus.cancelled
    event = icalendar.Event()
    event.add("uid", event_uid(meeting))
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", meeting.starts_at.astimezone(UTC))
    event.add("duration", meeting.duration)
    event.add("summary", meeting.title)
    event.add("url", meeting.video_url)
    event.add("location", meeting.video_url)
    event.add("description", "\n".join(part for part in (description, meeting.video_url) if part))
    event.add("sequence", meeting.revision)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    return event
