"""SQLAlchemy models of MentorDesk, one module per aggregate."""

from models.audit import AuditAction, AuditEntry
from models.base import Base, UTCDateTime, utcnow
from models.consent import Consent, ConsentKind, HeldRequest
from models.delivery import DeliveryFailure, InboxUpdate, Lease, OutboxMessage, OutboxStatus
from models.digest import WeeklyDigest
from models.invitation import Invitation
from models.meeting import Meeting, MeetingAudience, MeetingStatus, Reminder, Rsvp
from models.office_hours import Booking, BookingStatus, OfficeHours, OfficeHoursOff
from models.person import Person, Role, RoleKind, role_topics
from models.profile import Profile
from models.programme import GroupChat, Programme
from models.ticket import (
    ACTIVE_STATUSES,
    SummaryCard,
    SummaryCardEntry,
    Ticket,
    TicketAttachment,
    TicketEvent,
    TicketEventKind,
    TicketMessage,
    TicketMessageKind,
    TicketStatus,
    TicketTopic,
    UnreachableMentor,
)
from models.topic import Topic, TopicExample

__all__ = [
    "ACTIVE_STATUSES",
    "AuditAction",
    "AuditEntry",
    "Base",
    "Booking",
    "BookingStatus",
    "Consent",
    "ConsentKind",
    "DeliveryFailure",
    "GroupChat",
    "HeldRequest",
    "InboxUpdate",
    "Invitation",
    "Lease",
    "Meeting",
    "MeetingAudience",
    "MeetingStatus",
    "OfficeHours",
    "OfficeHoursOff",
    "OutboxMessage",
    "OutboxStatus",
    "Person",
    "Profile",
    "Programme",
    "Reminder",
    "Role",
    "RoleKind",
    "Rsvp",
    "SummaryCard",
    "SummaryCardEntry",
    "Ticket",
    "TicketAttachment",
    "TicketEvent",
    "TicketEventKind",
    "TicketMessage",
    "TicketMessageKind",
    "TicketStatus",
    "TicketTopic",
    "Topic",
    "TopicExample",
    "UTCDateTime",
    "UnreachableMentor",
    "WeeklyDigest",
    "role_topics",
    "utcnow",
]
