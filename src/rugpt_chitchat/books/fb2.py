"""FictionBook (.fb2) files: the paragraphs of the main `<body>`, and the language, title and author."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from xml.sax.saxutils import escape

from ..errors import DataError

_PARAGRAPHS = {"p", "v", "subtitle", "text-author"}
_NOTE_BODIES = {"notes", "comments"}


@dataclass
class Fb2:
    paragraphs: list[str]
    notes: int
    lang: str
    title: str
    author: str


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element, name: str):
    return next((child for child in element if _local(child.tag) == name), None) if element is not None else None


def _text(element) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def parse_fb2(data: bytes, source: str) -> Fb2:
    """The book in FictionBook bytes; DataError if the XML is broken or has a DTD.

    A DTD is refused outright: entity declarations are how XML bombs work, and FictionBook needs none.
    """
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise DataError(source, "has a DTD (<!DOCTYPE>, maybe <!ENTITY>), refused for safety; remove it")
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, LookupError, UnicodeError) as error:  # LookupError: an encoding Python does not know
        raise DataError(source, f"not a well-formed FictionBook XML file: {error}") from None
    paragraphs, notes = [], 0
    for body in (element for element in root if _local(element.tag) == "body"):
        found = ["".join(p.itertext()).strip() for p in body.iter() if _local(p.tag) in _PARAGRAPHS]
        if body.get("name") in _NOTE_BODIES:
            notes += len(found)
        else:
            paragraphs.extend(text for text in found if text)
    info = _child(_child(root, "description"), "title-info")
    author = _child(info, "author")
    names = [_text(_child(author, part)) for part in ("first-name", "middle-name", "last-name")]
    return Fb2(
        paragraphs=paragraphs,
        notes=notes,
        lang=_text(_child(info, "lang")).lower()[:2],
        title=_text(_child(info, "book-title")),
        author=" ".join(name for name in names if name),
    )


def build_fb2(paragraphs: list[str], title: str, author: str = "", lang: str = "ru", encoding: str = "utf-8") -> bytes:
    """The smallest FictionBook holding `paragraphs`: plain text wrapped as fb2 (tests, benchmarks, converters)."""
    first, _, last = author.rpartition(" ")
    body = "".join(f"<p>{escape(paragraph)}</p>\n" for paragraph in paragraphs)
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n'
        '<FictionBook xmlns="http://www.gribuser.ru/xml/fictionbook/2.0">\n'
        f"<description><title-info><author><first-name>{escape(first)}</first-name><last-name>{escape(last)}</last-name>"
        f"</author><book-title>{escape(title)}</book-title><lang>{escape(lang)}</lang></title-info></description>\n"
        f"<body><section>\n{body}</section></body>\n</FictionBook>\n"
    ).encode(encoding, errors="xmlcharrefreplace")
