"""Telegram's text rules for the fake Bot API: the HTML parse mode and the entities it detects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ALLOWED_TAGS = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "u",
    }
)

_SIMPLE_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL = re.compile("[&<]")
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,8})|#[xX]([0-9a-fA-F]{1,8}));")

# Telegram looks for commands, mentions, hashtags and links in what people send.
_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w@])")
_MENTION = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?!\w)")
_HASHTAG = re.compile(r"(?<![\w#])#\w{1,256}")
_URL = re.compile(r"(?<![\w@])(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_URL_TAIL = ".,;:!?)'\"»"


class MarkupError(ValueError):
    """Malformed HTML; the message is worded as Telegram words it after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


@dataclass
class _OpenTag:
    name: str
    argument: str | None
    offset: int  # UTF-16 offset in the plain text where the tag's content starts
    piece: int  # index into the output pieces where the tag's content starts


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    match = _ENTITY.match(text, pos)
    if match is None:
        return None
    name, decimal, hexadecimal = match.groups()
    if name:
        return _NAMED_ENTITIES[name], match.end()
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), match.end()


class _HtmlParser:
    """A port of the rules of Telegram's own parser (tdlib), strict where Telegram is."""

    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        self.text = source.strip()
        self.strict_ampersand = strict_ampersand
        self.pos = 0
        self.pieces: list[str] = []
        self.offset = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    def byte_offset(self, pos: int) -> int:
        return len(self.text[:pos].encode())

    def emit(self, chunk: str) -> None:
        self.pieces.append(chunk)
        self.offset += utf16_len(chunk)

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if char == "&":
                decoded = _decode_entity(text, self.pos)
                if decoded is not None:
                    self.emit(decoded[0])
                    self.pos = decoded[1]
                    continue
                if self.strict_ampersand:
                    # Telegram keeps such a "&" literally; the fake is stricter on purpose,
                    # so that user text interpolated without html.escape() fails the test.
                    msg = f'Unescaped "&" at byte offset {self.byte_offset(self.pos)}'
                    raise MarkupError(msg)
            if char != "<":
                # Up to the next tag or entity at once: the plain text between is copied
                # as it is (a text of a few hundred characters, one at a time, cost more
                # than the rest of the call).
                found = _SPECIAL.search(text, self.pos + 1)
                end = found.start() if found is not None else len(text)
                self.emit(text[self.pos : end])
                self.pos = end
                continue
            if self.pos + 1 < len(text) and text[self.pos + 1] == "/":
                self.end_tag()
            else:
                self.start_tag()
        if self.stack:
            msg = f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"'
            raise MarkupError(msg)
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)
        return "".join(self.pieces), self.entities

    def start_tag(self) -> None:
        text, begin = self.text, self.pos
        end = begin + 1
        while end < len(text) and not text[end].isspace() and text[end] != ">":
            end += 1
        if end >= len(text):
            msg = f"Unclosed start tag at byte offset {self.byte_offset(begin)}"
            raise MarkupError(msg)
        name = text[begin + 1 : end].lower()
        if name not in ALLOWED_TAGS:
            msg = f'Unsupported start tag "{name}" at byte offset {self.byte_offset(begin)}'
            raise MarkupError(msg)
        argument, end = self.attributes(name, begin, end)
        if name == "span" and argument != "spoiler":
            msg = (
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}'
            )
            raise MarkupError(msg)
        self.stack.append(_OpenTag(name, argument, self.offset, len(self.pieces)))
        self.pos = end + 1

    def attributes(self, name: str, begin: int, pos: int) -> tuple[str | None, int]:
        """Read the attributes of a start tag; return the one Telegram uses and the '>' position."""
        text = self.text
        unclosed = f'Unclosed start tag "{name}" at byte offset {self.byte_offset(begin)}'
        argument: str | None = None
        while True:
            pos = self.skip_spaces(pos, unclosed)
            if text[pos] == ">":
                return argument, pos
            attr_begin = pos
            while pos < len(text) and not text[pos].isspace() and text[pos] not in "=>/\"'":
                pos += 1
            attribute = text[attr_begin:pos].lower()
            if not attribute:
                msg = (
                    f'Empty attribute name in the tag "{name}" '
                    f"at byte offset {self.byte_offset(begin)}"
                )
                raise MarkupError(msg)
            pos = self.skip_spaces(pos, unclosed)
            if text[pos] != "=":
                if name == "blockquote" and attribute == "expandable":
                    argument = "expandable"
                continue
            value, pos = self.attribute_value(self.skip_spaces(pos + 1, unclosed), unclosed)
            argument = _argument(name, attribute, value) or argument

    def skip_spaces(self, pos: int, unclosed: str) -> int:
        """The position of the next character that is not a space, inside the tag."""
        text = self.text
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            raise MarkupError(unclosed)
        return pos

    def attribute_value(self, pos: int, unclosed: str) -> tuple[str, int]:
        text = self.text
        if text[pos] not in "\"'":
            value_begin = pos
            while pos < len(text) and (
                text[pos].isascii() and text[pos].isalnum() or text[pos] in ".-"
            ):
                pos += 1
            if pos >= len(text):
                raise MarkupError(unclosed)
            if not text[pos].isspace() and text[pos] != ">":
                msg = f"Unexpected end of name token at byte offset {self.byte_offset(pos)}"
                raise MarkupError(msg)
            return text[value_begin:pos].lower(), pos
        quote = text[pos]
        pos += 1
        chunks: list[str] = []
        # A bare "&" inside an attribute stays literal even in strict mode: links such as
        # href="https://site/?a=1&b=2" are accepted by Telegram and by every HTML reader.
        while pos < len(text) and text[pos] != quote:
            decoded = _decode_entity(text, pos) if text[pos] == "&" else None
            if decoded is not None:
                chunks.append(decoded[0])
                pos = decoded[1]
            else:
                chunks.append(text[pos])
                pos += 1
        if pos >= len(text):
            raise MarkupError(unclosed)
        return "".join(chunks), pos + 1

    def end_tag(self) -> None:
        text, begin = self.text, self.pos
        if not self.stack:
            msg = f"Unexpected end tag at byte offset {self.byte_offset(begin)}"
            raise MarkupError(msg)
        pos = begin + 2
        while pos < len(text) and not text[pos].isspace() and text[pos] != ">":
            pos += 1
        name = text[begin + 2 : pos].lower()
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text) or text[pos] != ">":
            msg = f"Unclosed end tag at byte offset {self.byte_offset(begin)}"
            raise MarkupError(msg)
        opened = self.stack.pop()
        if name and name != opened.name:
            msg = (
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, "
                f'expected "</{opened.name}>", found "</{name}>"'
            )
            raise MarkupError(msg)
        self.pos = pos + 1
        self.close(opened)

    def close(self, opened: _OpenTag) -> None:
        length = self.offset - opened.offset
        if length <= 0:
            return
        entity: dict[str, Any] = {"offset": opened.offset, "length": length}
        name, argument = opened.name, opened.argument
        if name in _SIMPLE_ENTITY_TYPES:
            entity["type"] = _SIMPLE_ENTITY_TYPES[name]
        elif name == "a":
            url = argument or "".join(self.pieces[opened.piece :])
            if not url:
                return
            entity.update(type="text_link", url=url)
        elif name == "tg-emoji":
            if not (argument or "").isdigit():
                msg = "Invalid custom emoji identifier specified"
                raise MarkupError(msg)
            entity.update(type="custom_emoji", custom_emoji_id=argument)
        elif name == "blockquote":
            entity["type"] = "expandable_blockquote" if argument else "blockquote"
        elif name == "code":
            # <pre><code class="language-x"> becomes one "pre" entity with a language.
            entity["type"] = "code"
            if argument:
                entity["language"] = argument
        elif name == "pre":
            last = self.entities[-1] if self.entities else None
            if (
                last is not None
                and last["type"] == "code"
                and (last["offset"], last["length"]) == (opened.offset, length)
            ):
                last["type"] = "pre"
                return
            entity["type"] = "pre"
        self.entities.append(entity)


def parse_html(source: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Return the plain text and the entities of an HTML-formatted text, as Telegram stores them.

    Raises MarkupError on what Telegram rejects (unknown tags, unbalanced tags, a bare "<").
    """
    return _HtmlParser(source, strict_ampersand=strict_ampersand).parse()


def _entity(text: str, start: int, end: int, kind: str) -> dict[str, Any]:
    return {"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(text[start:end])}


def detect_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram attaches to a plain message a person sends."""
    found: list[tuple[int, int, str]] = []
    found.extend((m.start(), m.end(), "bot_command") for m in _COMMAND.finditer(text))
    found.extend((m.start(), m.end(), "mention") for m in _MENTION.finditer(text))
    # "#2024" is not a hashtag for Telegram: it needs at least one letter.
    found.extend(
        (match.start(), match.end(), "hashtag")
        for match in _HASHTAG.finditer(text)
        if not match.group()[1:].isdigit()
    )
    for match in _URL.finditer(text):
        end = match.end()
        while end > match.start() and text[end - 1] in _URL_TAIL:
            end -= 1
        found.append((match.start(), end, "url"))
    found.sort()
    entities: list[dict[str, Any]] = []
    last_end = -1
    for start, end, kind in found:
        if start >= last_end:  # the first match wins where two would overlap
            entities.append(_entity(text, start, end, kind))
            last_end = end
    return entities


def _argument(tag: str, attribute: str, value: str) -> str | None:
    """What Telegram reads of an attribute of a tag (a link's address, a code block's
    language, a spoiler, a custom emoji's id), or None for an attribute it ignores."""
    if tag == "a" and attribute == "href":
        return value
    if tag == "code" and attribute == "class" and value.startswith("language-"):
        return value.removeprefix("language-")
    if tag == "span" and attribute == "class" and value.startswith("tg-"):
        return value.removeprefix("tg-")
    if tag == "tg-emoji" and attribute == "emoji-id":
        return value
    if tag == "blockquote" and attribute == "expandable":
        return "expandable"
    return None
