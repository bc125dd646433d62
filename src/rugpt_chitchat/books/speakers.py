"""Who speaks: telling people apart by what the remarks call them, and where a run of turns must be cut.

A person is a name as the author gives it (`Анюта`, `тучный генерал`, `я`; '' when not named: `сказал он`) and a
gender (masc, femn, neut, or plur for several people). Identity is only ever "surely the same" (the same name)
or "surely different" (another gender, another name or description, a name against a rank); anything else may
be either, and the alternation of turns decides.
"""

from __future__ import annotations

import re

from .remarks import ANAPHORIC_NOUNS, first_name

_SURNAME = re.compile(r"[А-ЯЁ][а-яё]+(?:ов|ев|ин|ын|ой|ий|ский|цкий)")
_FULL_NAME_BEFORE = re.compile(r"([А-ЯЁ][а-яё]+) [А-ЯЁ][а-яё]+(?:ич|вна|чна)$")

Person = tuple[str, "str | None"]  # a name (`Анюта`, `тучный генерал`, `я`) and a gender (masc, femn, neut, plur)


def _is_name(name: str) -> bool:
    return any(word[0].isupper() for word in name.split())


def _same_name(name: str, other: str) -> bool:
    """`Анюта`/`Анюту`, `Фетисов`/`Фетисова`, `генерал`/`тучный генерал`."""
    name, other = name.lower(), other.lower()
    if name == other or name.endswith(" " + other) or other.endswith(" " + name):
        return True
    words, other_words = name.split(), other.split()
    if len(words) > 1 and len(other_words) > 1 and words[0] == other_words[0]:  # `Иван Иванович`, `Иван Никифорович`
        return _same_word(words[1], other_words[1])
    return _same_word(words[0], other_words[0])


def _same_word(word: str, other: str) -> bool:
    """`Анюта`/`Анюту`: the same stem, the endings cut."""
    stem, other_stem = word[: max(3, len(word) - 2)], other[: max(3, len(other) - 2)]
    return len(word) > 2 and len(other) > 2 and (word.startswith(other_stem) or other.startswith(stem))


def surely_same(person: Person, other: Person) -> bool:
    """Both named, and the names match (`сказал он` twice may be two men)."""
    return bool(person[0] and other[0]) and _same_name(person[0], other[0])


def _surely_different(person: Person, other: Person) -> bool:
    """Genders differ, or two names (or two descriptions: `тучный генерал`, `снисходительный генерал`) differ;
    a name and a description differ too, unless the description is one that stands for a named person
    (`Маякин` ... `старик`), not a rank or trade (`Кирила Петрович` ... `исправник`)."""
    if person[1] and other[1] and person[1] != other[1]:
        return True
    if not (person[0] and other[0]):
        return False
    if _is_name(person[0]) != _is_name(other[0]):
        description = other[0] if _is_name(person[0]) else person[0]
        # the narrator's remarks call him `я`, never by his name: `я` and a name are two people
        return description.lower().split()[-1] not in ANAPHORIC_NOUNS
    return not _same_name(person[0], other[0])


def is_new_person(name: str, people: list[Person]) -> bool:
    """A name a narration or a stage direction gives that is none of `people`'s, nor a word of one of their names
    (`посматривает на Анну Андреевну`: `Андреевну` is Анна Андреевна)."""
    return not any(surely_same((name, None), person) or any(_same_name(name, word) for word in person[0].split()[1:])
                   for person in people)


def cuts(person: Person | None, slots: list, turns: int) -> bool:
    """Whether a turn by `person` ends the run: several people (`кричали`), the previous turn's speaker (named,
    called by name or by alternation) is the same person, or its own place in the alternation is someone else's."""
    if person is None or not turns:
        return False
    if person[1] == "plur":
        return True
    position = turns % 2
    previous, own = slots[1 - position], slots[position]
    return bool(previous and surely_same(previous, person)) or bool(own and _surely_different(own, person))


def spoken_to_elsewhere(addressee: str | None, slots: list, turns: int) -> bool:
    """Whether a turn said to someone the remark names (`спросил он меня`: the narrator) is not an answer to the
    previous turn: that turn's speaker is surely someone else (the doctor the narrator just spoke with is not
    the one asking him now)."""
    if addressee is None or not turns or addressee.lower() in ANAPHORIC_NOUNS:  # `собеседника`: anyone
        return False
    previous = slots[1 - turns % 2]
    return bool(previous and previous[0] and _surely_different(previous, (addressee, None)))


def in_the_scene(person: Person, people: list, known: set = frozenset()) -> bool:
    """Whether `person` is surely one of those speaking (`Лиза` where Лиза speaks), or may be one of them where a
    place in the run is not filled yet: a description standing for a person (`старик`) or a name the book's
    remarks gave a speaker before (`known`: `Лемм`), or by an unnamed one of the same gender. Narration about him, not a story the speaker tells of someone
    else (`Мамаша ушла`, `Этот человек имел влияние`)."""
    words = person[0].lower().split()
    description = words[-1] in ANAPHORIC_NOUNS and not {"этот", "эта", "тот", "та"} & set(words)
    for other in people:
        if other is None or (not other[0] and other[1] in (None, person[1])):  # `промолвила она`: maybe Лиза
            if description or (_is_name(person[0]) and any(_same_name(person[0], name) for name in known)):
                return True
        elif surely_same(person, other) or (description and _is_name(other[0]) and person[1] == other[1]):
            return True
    return False


def other_first_name(name: str | None, known: str | None) -> bool:
    """Whether a first name said or called (`Спирид`, `Шурочка`) is not the one this side of the run was called
    or named by before (`Лиза`; `Лизочка` is `Лиза`, `Леша` is `Алеша`, `Петя` is `Пётр`)."""
    if not (name and known):
        return False
    name, known = name.lower().replace("ё", "е"), known.lower().replace("ё", "е")
    return not (_same_word(name, known) or name.endswith(known[1:4]) or known.endswith(name[1:4]))


class FirstNamesOfSurnames:
    """Surname -> first name, from the full names a book writes out (`Павел Иванович Чичиков`), where one first name
    goes with the surname: a remark naming `Чичиков` then tells the same person as a turn calling `Павел Иванович`.
    Looked up per surname a remark gives (a few a book), each by a scan of the book's text for the surname."""

    def __init__(self, paragraphs: list[str]):
        self.paragraphs, self.text, self.found = paragraphs, None, {}

    def get(self, surname: str) -> str | None:
        if surname not in self.found:
            self.found[surname] = self._first_name(surname)
        return self.found[surname]

    def _first_name(self, surname: str) -> str | None:
        if not _SURNAME.fullmatch(surname):
            return None
        if self.text is None:
            self.text = "\n".join(self.paragraphs)
        names, start = set(), self.text.find(" " + surname)
        while start != -1:
            end = start + 1 + len(surname)
            if end >= len(self.text) or not self.text[end].isalpha():
                full = _FULL_NAME_BEFORE.search(self.text, max(0, start - 60), start)
                if full and first_name(full.group(1)):
                    names.add(full.group(1))
            start = self.text.find(" " + surname, end)
        return next(iter(names)) if len(names) == 1 else None
