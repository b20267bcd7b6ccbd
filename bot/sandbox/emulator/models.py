"""What the fake Bot API keeps: people, chats, messages, files, and their Telegram JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

ACTIVE_STATUSES = frozenset({"creator", "administrator", "member", "restricted"})
# How Telegram fails while it is unreachable: "502 Bad Gateway", or the connection reset.
OutageMode = Literal["502", "reset"]


@dataclass(eq=False)
class FakeUser:
    """A Telegram account: a person, or the bot itself (is_bot=True)."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "ru"
    is_bot: bool = False
    # Has the person opened a private chat with the bot? Telegram refuses to write first.
    started: bool = False
    blocked: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data

    def __repr__(self) -> str:
        return f"FakeUser({self.id}, {self.full_name!r})"


@dataclass(eq=False)
class FakeChat:
    """A private chat (id == the person's id), a basic group or a supergroup."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    members: dict[int, str] = field(default_factory=dict)  # user id -> status
    bot_status: str = "left"
    user: FakeUser | None = None  # the other side of a private chat
    migrated_to: int | None = None  # set once a basic group was upgraded to a supergroup
    # Topics of a private chat with a bot that has them (Bot API 9.3): thread id -> topic.
    topics: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    @property
    def bot_is_in(self) -> bool:
        return self.bot_status in ACTIVE_STATUSES

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
        else:
            data["title"] = self.title or ""
            if self.username:
                data["username"] = self.username
        return data

    def __repr__(self) -> str:
        name = self.title if self.user is None else self.user.full_name
        return f"FakeChat({self.id}, {self.type}, {name!r}, bot={self.bot_status})"


@dataclass(eq=False)
class StoredFile:
    """A file Telegram holds: an upload by the bot or a photo/document a person sent."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo" | "document"
    data: bytes
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[dict[str, Any]] = field(default_factory=list)  # for kind == "photo"

    def document_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
        }
        if self.file_name:
            data["file_name"] = self.file_name
        if self.mime_type:
            data["mime_type"] = self.mime_type
        return data


@dataclass(eq=False)
class FakeMessage:
    """One message in one chat, as the fake server stores it (the bot's or a person's)."""

    message_id: int
    chat: FakeChat
    from_user: FakeUser
    date: int
    seq: int  # global order of creation, for "messages since a mark"
    body: str | None = None  # the text of a text message (None for a photo or document)
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    html: str | None = None  # the raw text or caption as the bot sent it with parse_mode=HTML
    reply_to: FakeMessage | None = None
    reply_markup: dict[str, Any] | None = None
    photo: list[dict[str, Any]] | None = None
    document: dict[str, Any] | None = None
    file_bytes: bytes | None = None
    new_chat_members: list[FakeUser] | None = None
    left_chat_member: FakeUser | None = None
    migrate_to_chat_id: int | None = None
    migrate_from_chat_id: int | None = None
    forward_origin: dict[str, Any] | None = None
    link_preview_options: dict[str, Any] | None = None
    thread_id: int | None = None  # the topic it is in (a private chat with topics)
    forum_topic_created: dict[str, Any] | None = None  # the service message opening a topic
    edit_date: int | None = None
    edited: bool = False
    deleted: bool = False
    by_bot: bool = False
    # An ephemeral message (Bot API 10.2): shown in a group to this member alone. Telegram
    # gives it the message id 0 and an ``ephemeral_message_id`` of its own: here that is the
    # ``message_id`` the server files it under.
    receiver: FakeUser | None = None
    # The bot's reaction on the message (setMessageReaction): emoji, at most one.
    reactions: list[str] = field(default_factory=list)

    def visible_to(self, user: FakeUser) -> bool:
        """Whether ``user`` sees the message in its chat (an ephemeral one: its receiver)."""
        return not self.deleted and (self.receiver is None or self.receiver.id == user.id)

    @property
    def is_service(self) -> bool:
        return bool(
            self.new_chat_members
            or self.left_chat_member
            or self.migrate_to_chat_id
            or self.migrate_from_chat_id
            or self.forum_topic_created
        )

    @property
    def text(self) -> str:
        """The text of a text message; "" for a message without one."""
        return self.body or ""

    @property
    def content(self) -> str:
        """The text or the caption, whichever the message has."""
        return self.body if self.body is not None else self.caption or ""

    @property
    def inline_buttons(self) -> list[list[dict[str, Any]]]:
        if not self.reply_markup:
            return []
        rows: list[list[dict[str, Any]]] = self.reply_markup.get("inline_keyboard", [])
        return rows

    @property
    def button_rows(self) -> list[list[str]]:
        return [[str(button["text"]) for button in row] for row in self.inline_buttons]

    @property
    def buttons(self) -> list[str]:
        return [text for row in self.button_rows for text in row]

    def button(self, text: str) -> dict[str, Any]:
        """The inline button whose text is `text`, or else the only one that contains it."""
        flat = [button for row in self.inline_buttons for button in row]
        for button in flat:
            if button["text"] == text:
                return button
        partial = [button for button in flat if text in button["text"]]
        if len(partial) == 1:
            return partial[0]
        reason = "several buttons contain" if partial else "no button"
        msg = (
            f"{reason} {text!r} on message {self.message_id} in chat {self.chat.id} "
            f"({self.content[:60]!r}); buttons: {self.button_rows}"
        )
        raise AssertionError(msg)

    def callback_data(self, text: str) -> str:
        button = self.button(text)
        if "callback_data" not in button:
            msg = f"button {button['text']!r} has no callback_data: {button}"
            raise AssertionError(msg)
        return str(button["callback_data"])

    def url_of(self, text: str) -> str:
        button = self.button(text)
        if "url" not in button:
            msg = f"button {button['text']!r} has no url: {button}"
            raise AssertionError(msg)
        return str(button["url"])

    def to_api(self, *, with_reply: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": 0 if self.receiver is not None else self.message_id,
            "date": self.date,
            "chat": self.chat.to_api(),
            "from": self.from_user.to_api(),
        }
        # Telegram leaves out what a message does not have.
        optional: dict[str, Any] = {
            "edit_date": self.edit_date,
            "text": self.body,
            "entities": (self.entities or None) if self.body is not None else None,
            "caption": self.caption,
            "caption_entities": (
                (self.caption_entities or None) if self.caption is not None else None
            ),
            "photo": self.photo,
            "document": self.document,
            # Telegram shows only inline keyboards on a message; reply keyboards are the client's.
            "reply_markup": (
                self.reply_markup
                if self.reply_markup is not None and "inline_keyboard" in self.reply_markup
                else None
            ),
            "new_chat_members": [user.to_api() for user in self.new_chat_members or []] or None,
            "left_chat_member": (
                self.left_chat_member.to_api() if self.left_chat_member is not None else None
            ),
            "migrate_to_chat_id": self.migrate_to_chat_id,
            "migrate_from_chat_id": self.migrate_from_chat_id,
            "forward_origin": self.forward_origin,
            "link_preview_options": self.link_preview_options,
            "receiver_user": self.receiver.to_api() if self.receiver is not None else None,
            "ephemeral_message_id": self.message_id if self.receiver is not None else None,
            "message_thread_id": self.thread_id,
            "is_topic_message": True if self.thread_id is not None else None,
            "forum_topic_created": self.forum_topic_created,
        }
        data.update((key, value) for key, value in optional.items() if value is not None)
        # A reply to an ephemeral message comes without it ("may be omitted", says the Bot API).
        if (
            with_reply
            and self.reply_to is not None
            and not self.reply_to.deleted
            and self.reply_to.receiver is None
        ):
            # Telegram nests the replied message one level deep only.
            data["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        return data

    def __repr__(self) -> str:
        who = "bot" if self.by_bot else self.from_user.first_name
        flags = "".join(
            flag for flag, on in ((" edited", self.edited), (" deleted", self.deleted)) if on
        )
        return (
            f"FakeMessage(#{self.message_id} in {self.chat.id} by {who}{flags}: "
            f"{self.content[:80]!r}{' buttons=' + str(self.buttons) if self.buttons else ''})"
        )


@dataclass
class CallbackAnswer:
    """What the bot answered to a button press (answerCallbackQuery)."""

    text: str | None = None
    show_alert: bool = False
    url: str | None = None
    cache_time: int | None = None


@dataclass(eq=False)
class CallbackQueryRecord:
    id: str
    user: FakeUser
    message: FakeMessage
    data: str
    answer: CallbackAnswer | None = None


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes

    def __repr__(self) -> str:
        return f"Upload({self.filename!r}, {len(self.data)} bytes)"


@dataclass(eq=False)
class ApiError(Exception):
    """A Bot API error as Telegram reports it."""

    error_code: int
    description: str
    parameters: dict[str, Any] | None = None

    def __str__(self) -> str:
        return f"{self.error_code} {self.description}"

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.parameters:
            data["parameters"] = self.parameters
        return data


class ApiCall(NamedTuple):
    """One Bot API call the bot made: (method, params, result or ApiError)."""

    method: str
    params: dict[str, Any]
    outcome: Any
    at: float = 0.0  # time.monotonic() when the call arrived

    @property
    def ok(self) -> bool:
        return not isinstance(self.outcome, ApiError)

    @property
    def error(self) -> ApiError | None:
        return self.outcome if isinstance(self.outcome, ApiError) else None

    def __repr__(self) -> str:
        shown = {key: value for key, value in self.params.items() if key != "reply_markup"}
        result = self.outcome if isinstance(self.outcome, ApiError) else "ok"
        return f"{self.method}({shown}) -> {result}"


class Refusal(NamedTuple):
    """A Bot API call made while Telegram was unreachable: never run, answered 502 or cut off."""

    method: str
    params: dict[str, Any]  # as they arrived, not checked
    mode: OutageMode
    at: float  # time.monotonic() when it arrived
