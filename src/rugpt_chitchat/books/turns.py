"""Dialogues from books: the paragraphs of Russian prose -> lists of spoken turns, with who spoke.

A turn is a paragraph that opens with a dash (—, – or -) in most books (`layouts.book_layout` also reads plays
and «…»-quoted speech). Inside it, a dash starts the author's words only where the piece after it reads as a
remark (`remarks.remark_head`: a verb of narration and its subject, by the morphology, not a list of verbs):
`— Нет, — сказал он. — Да.` -> `Нет. Да.`, while in `когда народ, — князь понимает: весь народ` the dash is the
speaker's and stays. Joining rule: spoken pieces are joined with a space, and a comma that closed a piece
before the author's words becomes a full stop unless the next piece goes on in lower case. Older editions
leave out the dash after `?`, `!`, `…` (`— Куда? спросил он.`): such a remark is removed when it names who
spoke. A remark no dash closes is followed sentence by sentence (`remarks.split_tail`); when that is not sure,
the turn is dropped and counted (`unsure_remark`) rather than keep the author's words or lose speech.

A dialogue is a run of at least two consecutive turns; a narrative paragraph ends it, unless `max_narrative`
allows that many short ones (at most `narrative_max_chars`) between turns. With `split_speakers` (the
default) a run is also cut where a third person speaks or the same person would speak twice in a row:
speakers come from the remarks, and turns without one alternate. Every paragraph read is either a kept turn
or counted in `BookReport.skipped` by reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .layouts import book_layout, fix_lookalikes, is_chorus, play_line, quoted_pieces, stage_directions
from .remarks import GLUED_SENTENCE, THOUGHT_VERBS, VERB_FIRST, Head, addressees, is_narrative_verb, is_name as _name, glued_narration, narration_at_end, narrators_aside, opening_call, person_in_dative, remark_head, narration_after_remark, sentence_kind, told_in_passive, sentences, split_tail, tells_now, told_by_author, first_name
from .speakers import FirstNamesOfSurnames, Person, cuts, in_the_scene, is_new_person, other_first_name, spoken_to_elsewhere, surely_same

__all__ = ["BookReport", "Dialogue", "Turn", "book_layout", "group_dialogues", "read_turn", "spoken_words"]

SKIP_REASONS = ("narrative", "notes", "lone_turn", "empty_turn", "long_turn", "unsure_remark", "not_speech", "two_speakers", "crowd", "monologue",
                "said_to_another", "goes_on")  # goes_on: a paragraph going on with the turn before; said_to_another: a turn whose every word is said to someone other than the one answered
_DASHES = "—–-"
# footnote marks (`[33]`) and an editor's translations (`[Нет еще]`): nobody says them
_BRACKETS = re.compile(r"\s?\[[^\]]{0,300}\]")
# and an edition's footnote number flattened after the last sentence (`Lei voglia perdonarmi se... 2`)
_FOOTNOTE_NUMBER = re.compile(r"(?<=[.!?…])\s\d{1,2}$")
# A dash with a space after it, after punctuation or a space, may switch between speech and author's words;
# the punctuation is captured (it ends the piece before), None for a dash after a space only. Some editions glue
# the dash to the words after punctuation (`попробовать...-проговорил толстяк`, `Никитич, -послышался`, `,-пожалуйте`).
_AUTHOR_DASH = re.compile(r"(?:([,.!?…:;])\s*[—–-](?:\s+|(?=[А-Яа-яЁё\d]))|\s[—–-]\s+)")
_DASH = re.compile(r"[—–-]")
_GLUED_DASH = re.compile(r"[,.!?…:;]\s?[—–-][А-Яа-яЁё\d]")
# Old editions: `? спросил Иван`, `, возразил генерал и сморщил нос. –`.
_DASHLESS = re.compile(rf"([?!…,])\s+(?={VERB_FIRST.pattern})")
_PARENTHESIS = re.compile(r"\s*\(([^()]{10,500})\)")
_QUOTED = re.compile(r'«[^«»]*»|"[^"]*"|„[^„“]*“')
# the speaker's own aside inside a sentence: lower case, the speaker its subject (`(тогда еще я держал руку ...)`)
_SPEAKERS_ASIDE = re.compile(r"[а-яё][^.!?…]*(?<![а-яё])(?:я|мы)(?![а-яё])[^.!?…]*")
_GENERAL_REMARK = re.compile(r"[А-ЯЁ][^()]{15,}[.!…]")  # a whole sentence, a capital to a full stop
_SPEAKERS_DASH = re.compile(r"\s[—–-]\s")
# `обращаясь к сыну`, `обратившись к Аркадию`: whom the speaker speaks to (a dative: `сыну` and `сын` share a stem)
_TURNING_TO = re.compile(r"(?<![а-яё])(?:обращаясь|обратившись|оборотясь|оборотившись)\s+(?:опять\s+|снова\s+)?ко?\s+([А-ЯЁа-яё]+(?:\s[А-ЯЁ][а-яё]+)?)")
_WORDS = re.compile(r"[А-Яа-яЁё]+")
_SENTENCE_ENDS = (".", "!", "?", "…")
_THINKING = re.compile(r"(?<![а-яё])(?:по)?дума(?:л|ла|ли|ет|ешь|ю)(?![а-яё])|про себя")
_NAME_AFTER_QUESTION = re.compile(r"[?!] ([А-ЯЁ][а-яё]+)")
_WE = re.compile(r"(?<![а-яё])(?:я|мне|меня|мной|мой|моя|мое|моё|мы|нас|нам|нами|наш|наша)(?![а-яё])", re.IGNORECASE)
_FIRST_PERSON = re.compile(r"(?<![а-яё])(?:я|мне|меня|мной|мой|моя|мое|моё|мою|моего|моей|моих)(?![а-яё])", re.IGNORECASE)
_PLAY_ADDRESSEE = re.compile(r"\s*\((?:ко?\s+)?([А-ЯЁа-яё]+(?:\s[А-ЯЁ][а-яё]+)?)\)")
_PLAY_TURNING = re.compile(r"\((?:обращаясь\s+|оборотясь\s+)?(?:ко?\s+)?([А-ЯЁа-яё]+(?:\s[А-ЯЁ][а-яё]+)?)\.?\)", re.IGNORECASE)
_SOMEONE_ELSE = {"кто-то", "другой", "другая", "некто", "один", "одна"}
_CAPITALISED = re.compile(r"[А-ЯЁ][а-яё]{2,}")
_SEVERAL_CALLED = {"господа", "братцы", "ребята", "друзья", "товарищи", "дети", "детушки", "братья", "судари", "сударыни", "мужики"}
_MONOLOGUE_TURNS = 5
_MONOLOGUE_LINE = 80  # characters: lines of a dialogue with no remarks between them are rarely all this long
# A name in the middle of a sentence (after a lower-case word or a comma), so not a capitalised first word.
_NAME_IN_NARRATIVE = re.compile(r"(?<=[а-яё,;:]\s)[А-ЯЁ][а-яё]{2,}")


@dataclass
class BookReport:
    """What one book gave: paragraphs read, turns kept, dialogues, and skipped paragraphs by reason."""

    name: str
    encoding: str = ""
    lang: str = ""
    title: str = ""
    author: str = ""
    layout: str = ""
    paragraphs: int = 0
    turns: int = 0
    dialogues: int = 0
    control_chars: int = 0
    lookalikes: int = 0
    dashless_remarks: int = 0
    speaker_splits: int = 0
    tails_said_to_another: int = 0  # kept turns whose words after a remark turning to someone else were dropped
    skipped: Counter = field(default_factory=Counter)

    def as_row(self) -> dict:
        """Flat fields, one `skipped_<reason>` per reason: a row of the per-book CSV."""
        row = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "skipped"}
        return {**row, **{f"skipped_{reason}": self.skipped[reason] for reason in SKIP_REASONS}}


@dataclass(slots=True)
class Turn:
    """A turn paragraph read: the spoken words, the author's words, who spoke (None when not named), how many
    remarks had no dash, and `problem` (a skip reason) when the paragraph gives no turn."""

    speech: str
    remarks: list[str] = field(default_factory=list)
    speaker: str | None = None
    dashless_remarks: int = 0
    problem: str = ""
    gender: str | None = None
    announced: tuple | None = None  # who the closing narration says speaks next (`Секретарь продолжал:`)
    addressee: str | None = None  # `я` when a remark says the narrator is spoken to (`спросил он меня`)
    meanwhile: bool = False  # the remark says it was said meanwhile (`говорил между тем ...`), not in answer
    newcomers: tuple = ()  # names a play line's stage directions bring in (`подслушивавший Бобчинский летит`)
    closes: bool = False  # narration runs on after the speech (`... смешного? Полозов только глазами повел.`)
    narrated: tuple | None = None  # closing sentences that may be the author's, and whom they tell of (`Лиза улыбнулась.`)
    turns_to: str | None = None  # whom a later remark turns the speaker to (`промолвил он, обращаясь к Павлу Петровичу`)
    before_turning: str = ""  # the speech before the words said to `turns_to`
    runs_on: str = ""  # the narration the last remark runs on with, three sentences or more

    def _said_by(self, head) -> None:
        if self.speaker is None and (head.speaker or head.gender):
            self.speaker, self.gender = head.speaker, head.gender
        if head.addressee == "я" or len(self.remarks) <= 1:  # a later remark may turn to someone else midway
            self.addressee = self.addressee or head.addressee
        self.meanwhile = self.meanwhile or head.meanwhile


@dataclass(slots=True)
class Dialogue:
    """Consecutive turns and who spoke each (the name the author gives in the turn's remark, or None)."""

    turns: list[str]
    speakers: list[str | None]


def is_turn(paragraph: str) -> bool:
    """Opens with one dash (`—`, `–`, `-`; `--` is cleaned into `—` first)."""
    return paragraph[0] in _DASHES and (len(paragraph) == 1 or paragraph[1] not in _DASHES)


def clean_turn(text: str) -> str:
    """Turn paragraph with bracketed notes (`[33]`, `[Нет еще]`) removed, `--` turned into a dash and spaces collapsed."""
    if "[" in text:
        text = _BRACKETS.sub("", text)
    if text[-1:].isdigit():
        text = _FOOTNOTE_NUMBER.sub("", text)
    if "--" in text:
        text = text.replace("--", "—")
    if "  " in text or "\t" in text or "\n" in text or "\xa0" in text:  # checking is cheaper than always splitting
        text = " ".join(text.split())
    return text


def read_turn(turn: str) -> Turn:
    """The spoken words of a cleaned turn paragraph (leading dash and author's words removed), the author's, who spoke."""
    body = turn[1:].lstrip()
    if body[:1].islower() and remark_head(body):  # `— грустно запели два красивых голоса.`: narration
        return Turn("", [body], problem="not_speech")
    turn = Turn("")
    if "(" in body:  # `(произнося слова граф Алексей Кириллыч, она просительно-робко взглянула на Левина...)`
        body = _PARENTHESIS.sub(lambda m: _authors_aside(m, turn), body)
    spaced = "— " in body or "– " in body or "- " in body
    parts = _split_at_author_dashes(body) if spaced or _GLUED_DASH.search(body) else [body]
    if len(parts) == 1 and not _DASHLESS.search(body):
        return _closing_narration(_join_speech([body]), turn)  # half the turns: no dash inside, speech only
    segments: list[list] = [[body if len(parts) == 1 else parts[0], None]]  # [text, remark head or None]
    for k, (punctuation, text) in enumerate(zip(parts[1::2], parts[2::2])):
        if segments[-1][1] is not None:  # a dash after the author's words: speech again, unless the author's own
            if punctuation is None:  # `В душе было одно желание - оставаться с Адой`
                segments[-1][0] += f" — {text}"
            elif punctuation == "," and 2 * k + 3 >= len(parts) and narration_after_remark(text, segments[-1][1].gender, segments[-2][0] if len(segments) > 1 else ""):
                segments[-1][0] += f", — {text}"  # `закричал тот же голос, – и толпа стала напирать…`
            else:
                segments.append([_without_thought(segments[-1][0], punctuation, text, turn), None])
            continue
        head = remark_head(text, strict=punctuation is None, after_sentence=punctuation in (".", "!", "?", "…"),
                           closed=2 * k + 3 < len(parts) and parts[2 * k + 3] == ".")
        earlier = [segment[1] for segment in segments if segment[1]]
        if head and not head.named and earlier and head.gender not in (earlier[-1].gender, "neut"):
            # a second remark in one turn is rare: with no subject it must fit the first one's (`— Э! — сказал
            # старик ... — и пожал плечами`, `— думалось ему`); `— говаривал приказчик, — ... проточили, — пропали,
            # пани` is speech
            head = None
        if head is None and 2 * k + 3 < len(parts) and parts[2 * k + 3] == ":" and _introduces_speech(text, punctuation in _SENTENCE_ENDS):
            head = Head(None, "", len(text), named=False)
        if head is None and punctuation == "," and 2 * k + 4 < len(parts) and _interrupts(segments[-1][0], text, parts[2 * k + 4]):
            head = Head(None, "", len(text), named=False)
        if head is None and punctuation in _SENTENCE_ENDS and 2 * k + 3 < len(parts) and parts[2 * k + 3] == "." and _narrates(text):
            head = Head(None, "", len(text), named=False)
        if head is None and punctuation in _SENTENCE_ENDS and 2 * k + 3 >= len(parts) and text.startswith("и ") and told_by_author(text):
            head = Head(None, "", len(text), named=False)  # `...всех вас! – и уже было и руку поднял, как вдруг`
        if head:
            segments[-1][0] += punctuation or ""
            segments.append([text, head])
        elif not segments[-1][0]:  # a dash after a thought taken out: no dash
            segments[-1][0] = text
        else:  # the dash is the speaker's
            segments[-1][0] += f"{punctuation or ''} — {text}"
    pieces = _split_dashless(segments, turn)
    if pieces is None:
        return Turn("", turn.remarks, turn.speaker, turn.dashless_remarks, "unsure_remark", turn.gender)
    return _closing_narration(_join_speech(pieces), turn)


def _without_thought(remark: str, punctuation: str, text: str, turn: Turn) -> str:
    """`text` less the quoted thought a remark brings in (`промолвила тетушка и подумала про себя: – «Куды ж! ще
    зовсим молода дытына!» – Да, Иван Федорович!`): not said, so the author's, in `turn.remarks`."""
    if punctuation != ":" or not text.startswith("«") or "»" not in text or not _THINKING.search(remark):
        return text
    end = text.index("»") + 1
    turn.remarks.append(text[:end])
    return text[end:].lstrip()


def _interrupts(before: str, text: str, after: str) -> bool:
    """A piece set off by dashes after a comma that narrates in the past, the speech picking up again with the word
    it broke off at (`которым, -- при этом судья сделал языком и улыбнулся, причем нос понюхал свою всегдашнюю
    табакерку, -- которым угощает наша бакалейная лавка`): the author's."""
    last, first = _WORDS.findall(before[-40:]), _WORDS.match(after)
    return bool(last and first and last[-1].lower() == first.group().lower() and told_by_author(text))


def _narrates(text: str) -> bool:
    """A sentence set off by dashes after another (the caller checks) that is the author's: a capital, not a verb
    first, told in the past (`осетра. – Два здоровых мужика вытащили из кадушки какое-то чудовище. – Каков
    князек?`); `– Где он? – Ушел. – Куда?` is the speaker's."""
    first = _WORDS.match(text)
    return bool(first) and text[0].isupper() and not is_narrative_verb(first.group(), False) and told_by_author(text)


def _split_at_author_dashes(body: str) -> list[str]:
    """`_AUTHOR_DASH.split(body)`, the pattern tried only where it can start before each dash: at the punctuation
    before the dash and its spaces, then at the space just before it (a whole turn scanned for it costs more)."""
    parts, end = [], 0
    for dash in _DASH.finditer(body):
        before = start = dash.start()
        while start > end and body[start - 1].isspace():
            start -= 1
        match = _AUTHOR_DASH.match(body, start - 1) if start > end and body[start - 1] in ",.!?…:;" else None
        if match is None and before > end and body[before - 1].isspace():
            match = _AUTHOR_DASH.match(body, before - 1)
        if match:
            parts += [body[end : match.start()], match.group(1)]
            end = match.end()
    parts.append(body[end:])
    return parts


def _introduces_speech(text: str, after_sentence: bool) -> bool:
    """A piece set off by dashes that ends with a colon (the caller checks) and narrates in lower case (or after a
    sentence: `Хорош у тебя лазарет! — Потом, подошед к Марье Ивановне: —`), no `я` in it: the author's words
    bringing in more speech (`это будет… — здесь герой наш одну секунду, не более, подумал и сказал вдруг: — это
    будет двадцать четыре рубля`), whatever word it opens with."""
    return (text[:1].islower() or after_sentence) and len(text) < 200 and not _FIRST_PERSON.search(text) and sentence_kind(text) == "narration"


def _turned_to(turn: Turn) -> Turn:
    """`turn` with `addressee` set where its first remark turns the speaker to someone for the whole turn
    (`продолжал Николай Петрович, обращаясь к сыну`), not only for what follows a second verb (`проворчал Базаров
    и, обратившись к Аркадию, прибавил`, `промолвил Онорио и добавил, обращаясь к своей свите`)."""
    match = _TURNING_TO.search(turn.remarks[0])
    if match and sum(is_narrative_verb(word, False) for word in _WORDS.findall(turn.remarks[0])) == 1:
        turn.addressee = match.group(1)  # a second verb (`и добавил, обращаясь к своей свите`): only what follows
    return turn


def _trailing_narration(turn: Turn) -> None:
    """Narration the book runs on with after a question or an exclamation, no dash between (`Что же в этом ты
    находишь смешного? Полозов только глазами повел. Сок от апельсина тек по его подбородку.`): sentences in the
    past, no `я` or `мы`, at least two, the first opening with a name (`Она его не любила.` may be said), go to
    `turn.remarks`."""
    spoken = sentences(turn.speech)
    for k in range(1, len(spoken) - 1):  # the cheap tests first: most turns have no name opening a sentence
        first = _WORDS.match(spoken[k])
        if not (spoken[k - 1].endswith(("?", "!")) and first and first.group()[0].isupper() and _name(first.group())):
            continue
        if any(_WE.search(sentence) or sentence_kind(sentence) != "narration" for sentence in spoken[k:]):
            continue
        turn.speech = " ".join(spoken[:k])
        turn.remarks.append(" ".join(spoken[k:]))
        turn.closes = True  # the narration stands between this turn and the next, as a paragraph of it would
        return


def _closing_narration(speech: str, turn: Turn) -> Turn:
    """`turn` with `speech`, less a closing sentence of narration that opens the next turn
    (`...довериться. Опять понизив голос, Даша вдруг спросила:`, `...мы приехали. А нищий сказал:`); who that
    sentence says speaks next goes to `turn.announced` (`Секретарь продолжал:`)."""
    turn.speech = speech
    if speech.endswith(".") and ("? " in speech or "! " in speech) and any(
        _name(match.group(1)) for match in _NAME_AFTER_QUESTION.finditer(speech)
    ):
        _trailing_narration(turn)
    if speech.endswith(":"):
        *spoken, last = sentences(speech)
        if spoken and sentence_kind(last) == "narration":
            turn.speech = " ".join(spoken)
            turn.remarks.append(last)
    glued = glued_narration(speech) if speech[-1:].isalpha() or GLUED_SENTENCE.search(speech) else None
    if glued is not None:  # `...то же повторяю Полозов продолжал чавкать`, `штучки…Он указал`: no full stop, no space
        turn.speech, turn.closes = turn.speech[:glued].rstrip(), True
    if turn.gender in ("masc", "femn") and turn.speech.endswith(".") and "Я " in turn.speech:
        aside = narrators_aside(turn.speech, turn.gender)
        if aside is not None:  # `А вы что говорили, – спросила она, – не помните? Я невольно покраснел.`
            turn.remarks.append(turn.speech[aside:])
            turn.speech, turn.closes = turn.speech[:aside].rstrip(), True
    if not turn.closes:
        turn.narrated = narration_at_end(turn.speech)
    if turn.remarks and turn.addressee is None and "обра" in turn.remarks[0]:
        _turned_to(turn)
    if turn.remarks and turn.remarks[-1].endswith(":"):
        head = remark_head(sentences(turn.remarks[-1])[-1])
        if head and (head.speaker or head.gender):
            turn.announced = (head.speaker or "", head.gender)
    return turn


def _authors_aside(match: re.Match, turn: Turn) -> str:
    """A bracketed aside: the author's when it narrates in the third person (then kept in `turn.remarks`), else
    the speaker's."""
    aside = match.group(1)
    kind = sentence_kind(_QUOTED.sub("", aside))  # a word the aside quotes (`это «ты»`) is not its own
    if kind != "narration" and not (kind == "" and _GENERAL_REMARK.fullmatch(aside) and not _FIRST_PERSON.search(aside)) and not (
        kind == "" and told_in_passive(aside) and not _FIRST_PERSON.search(aside)  # `(она в первый раз названа его
    ):  # по одной фамилии)`: a short passive participle about him or her, the author's
        return match.group()  # `(Русские люди всегда первые смеются собственным остротам.)`: a sentence of the
        # author's in the present, with no person speaking in it
    if _SPEAKERS_ASIDE.fullmatch(aside) and not remark_head(aside, strict=True):
        return match.group()  # `(тогда еще я держал руку этого народа)`: the speaker's; `(прибавил я)`, `(Я посмотрел
        # на Софью.)` and `(она указала на меня)` the narrator's
    turn.remarks.append(aside)
    return ""


def _split_dashless(segments: list[list], turn: Turn) -> list[str] | None:
    """Spoken pieces of the segments, remarks and speaker into `turn`; dash-less remarks found in spoken segments;
    None when an unclosed remark's end is not sure."""
    pieces = []
    for index, (text, head) in enumerate(segments):
        if head is None:
            text, head = _dashless_remark(text, turn)
            pieces.append(text)
            if head is None:
                continue
            text = turn.remarks.pop()
        turn.remarks.append(text[: head.end])
        turn._said_by(head)
        if len(turn.remarks) > 1 and turn.turns_to is None:
            _turning_to_another(turn, head, text, pieces)
        if head.verb in THOUGHT_VERBS - {"решить"}:  # `– Тут нет ... – думал Кирила Петрович`: not said (but
            # `— Да!.. пусть посватает Татьяну, — решила барыня` is)
            turn.problem = "not_speech"
        # the author's words may run on past the speaker, or the speech go on after them with no dash; a remark a
        # dash closes is the author's to that dash (`говорил Василий Иванович, покачивая..., с фигурой турка, –`)
        split = split_tail(text[head.end :])
        closed = index < len(segments) - 1 and len(sentences(text[head.end :].strip())) == 1
        if closed and split and split[1] and sentence_kind(split[1]) != "speech":
            split = (f"{split[0]}, {split[1]}", "")
        if split is None or (index < len(segments) - 1 and len(sentences(split[0])) > 1):
            return None  # a remark running on into narration before a dash: what follows may not be speech
        turn.remarks[-1] += " " + split[0]
        pieces.append(split[1])
        if index == len(segments) - 1 and not split[1] and len(sentences(split[0].strip())) > 2:
            turn.runs_on = split[0]
    return pieces


def _turning_to_another(turn: Turn, head: Head, text: str, pieces: list[str]) -> None:
    """A later remark that names whom the speaker now speaks to (`– Проси! – шепнул он тихо черту`, `– Довольно? –
    промолвил он, обращаясь к Павлу Петровичу`): the words it belongs to and the rest may be said to someone other
    than the one answered; `turn.before_turning` keeps what came before them."""
    match = _TURNING_TO.search(text) if "обра" in text else None
    to_whom = match.group(1) if match and match.group(1)[0].isupper() else head.addressee
    if to_whom and to_whom != "я":  # the remark belongs to the sentence it breaks or follows: that one goes too
        turn.turns_to, turn.before_turning = to_whom, _join_speech([*pieces[:-1], " ".join(sentences(pieces[-1])[:-1])])


def _dashless_remark(text: str, turn: Turn):
    """(speech, head) where `text` holds a remark without its dash (`Куда? спросил он.`), the remark put in
    `turn.remarks`; (text, None) when there is none."""
    if "?" not in text and "!" not in text and "…" not in text and not _SPEAKERS_DASH.search(text):
        return text, None  # nearly all: after a comma only a remark closed by a dash counts (below)
    for match in _DASHLESS.finditer(text):
        if match.group(1) == "," and not _SPEAKERS_DASH.search(text, match.end()):
            continue  # `Я знаю, сказал он мне вчера`: after a comma only a remark set off by a dash counts
        after = text[match.end() :]
        head = remark_head(after, inverted=True)
        if head is None or not head.named or head.verb in THOUGHT_VERBS:  # `вот, думала я, кому хорошо на свете
            continue  # пожить; ... – нет, думаю`: the speaker's own words
        if match.group(1) == "," and tells_now(after):  # `Гляжу, сидит на поляне ... приказчик, ..., чему –
            continue  # неизвестно`: a story told in the present, not a remark missing its dash
        closing = _SPEAKERS_DASH.search(after, head.end)
        if match.group(1) == "," and closing is None:
            continue
        turn.dashless_remarks += 1
        if closing is None:
            turn.remarks.append(after)
            return text[: match.start() + 1], head
        turn.remarks.append(after[: closing.start()])
        turn._said_by(head)
        rest, _ = _dashless_remark(after[closing.end() :], turn)
        return f"{text[: match.start() + 1]} {rest}", None
    return text, None


def _join_speech(pieces: list[str]) -> str:
    """Spoken pieces joined by a space; a comma before the author's words (or no punctuation, as «...понимаю», —
    leaves it) becomes a full stop unless the next piece goes on in lower case; `вязать?,` keeps its `?`."""
    pieces = [piece.strip() for piece in pieces]
    pieces = [piece for piece in pieces if piece]
    for i, piece in enumerate(pieces):
        if i + 1 < len(pieces) and pieces[i + 1][0].islower():
            continue
        if piece.endswith(","):
            pieces[i] = piece[:-1] if piece[-2:-1] in _SENTENCE_ENDS else piece[:-1] + "."
        elif piece[-1].isalpha() and i + 1 < len(pieces) and pieces[i + 1][0].isupper():
            pieces[i] = piece + "."
    return " ".join(pieces)


def spoken_words(turn: str) -> str:
    """The spoken words of a turn paragraph (leading dash and author's words removed)."""
    return read_turn(clean_turn(turn)).speech


def paragraph_turn(paragraph: str, layout: str = "dash") -> Turn | None:
    """The turn a paragraph is in a book of this layout, None for narration."""
    if layout == "play":
        line = play_line(paragraph)
        if not line:
            return None
        directions = stage_directions(paragraph) if "(" in paragraph else ""
        said_to = _PLAY_ADDRESSEE.match(paragraph, len(line[0])) if directions else None  # `Анна Андреевна (дочери).`
        turn = Turn(line[1], speaker=line[0], newcomers=tuple(_NAME_IN_NARRATIVE.findall(directions)),
                    gender="plur" if is_chorus(line[0]) else None,  # `Все. Что, что такое?`: a crowd
                    addressee=person_in_dative(said_to.group(1)) if said_to else None)
        if directions:
            _play_line_turning(paragraph, said_to.end() if said_to else len(line[0]), turn)
        return turn
    if layout == "quotes" and paragraph[0] == "«":
        pieces = quoted_pieces(" ".join(paragraph.split()))
        if pieces is None:
            return Turn("", problem="two_speakers")
        remarks = [text for text, spoken in pieces if not spoken]
        head = remark_head(remarks[0]) if remarks else None
        if head and head.verb in THOUGHT_VERBS:
            return Turn("", remarks, problem="not_speech")
        turn = Turn(_join_speech([text for text, spoken in pieces if spoken]), remarks)
        if head:
            turn._said_by(head)
        return turn
    if paragraph[0] not in _DASHES:
        return None
    cleaned = clean_turn(paragraph)
    return read_turn(cleaned) if cleaned and is_turn(cleaned) else None


def _play_line_turning(paragraph: str, start: int, turn: Turn) -> None:
    """A stage direction inside a play line that turns the speaker to someone (`О, уж там наговорят! ... (Обращаясь
    к Осипу.) Ну, друг…`): `turn.turns_to`, with the line before it in `turn.before_turning`."""
    for direction in _PLAY_TURNING.finditer(paragraph, start):
        to_whom = person_in_dative(direction.group(1))
        before = play_line(paragraph[: direction.start()])
        if to_whom and before:
            turn.turns_to, turn.before_turning = to_whom, before[1]
            return


def _narration_goes_on(previous: str, turn: Turn) -> bool:
    """A dash paragraph that goes on with the narration before it, cut off with no punctuation (`...опять
    принялся жевать` / `– медленно и шумно.`): lower case, no `я`, not speech by its words. Speech goes on so too
    (`– потому что я больше ему не невеста`), with the speaker's words."""
    return (previous[-1].isalpha() and previous[0] not in _DASHES and turn.speech[:1].islower()
            and not _FIRST_PERSON.search(turn.speech) and sentence_kind(turn.speech) in ("", "narration"))


def _person_told_of(head: Head) -> Person:
    return (head.speaker or "", head.gender)


def _calls_several(speech: str) -> bool:
    """A turn opening by calling several people (`Господа, ...`, `Братцы!`)."""
    first = _WORDS.match(speech)
    return bool(first) and first.group().lower() in _SEVERAL_CALLED and speech[first.end() : first.end() + 1] in (",", "!")


def _monologue(run: list[tuple[str, str | None, bool]]) -> bool:
    """Five or more lines, none with a remark, a name or a name called, nearly all long, at most one a question: one person
    speaking on (Горький, «Человек»: `— Я призван для того, чтобы ...` seven times), not two answering each other."""
    if len(run) < _MONOLOGUE_TURNS or any(remarked or speaker or addressees(speech) for speech, speaker, remarked in run):
        return False
    long = sum(len(speech) >= _MONOLOGUE_LINE for speech, _, _ in run)
    return long >= 0.8 * len(run) and sum("?" in speech for speech, _, _ in run) <= 1


def group_dialogues(
    paragraphs: list[str],
    report: BookReport,
    max_narrative: int = 0,
    narrative_max_chars: int = 200,
    max_turn_chars: int = 1000,
    split_speakers: bool = True,
    layout: str = "dash",
) -> list[Dialogue]:
    """Cut paragraphs (stripped, non-empty) into dialogues; counts turns, dialogues and skips into `report`."""
    dialogues: list[Dialogue] = []
    run: list[tuple[str, str | None, bool]] = []  # speech, speaker, whether a remark came with it
    slots: list[Person | None] = [None, None]  # who speaks the even and the odd turns of the run
    gap = 0  # short narrative paragraphs since the last turn of the run
    announced = None  # the next speaker, as the previous turn's closing narration names him
    known: set[str] = set()  # the names the book's remarks gave speakers so far
    called_before: str | None = None  # the name the previous turn opened by calling
    callee: str | None = None  # the first name the previous turn called
    first_names: list[str | None] = [None, None]  # the first name each side of the run is called or named by
    callee_is_new = False  # the previous turn called someone by a first name this run's other side does not have
    run_on_before = ""  # the narration the previous turn's remark ran on with
    surnames: FirstNamesOfSurnames | dict | None = None  # surname -> first name, from the book's full names

    def close_run():
        nonlocal run, slots, gap, first_names
        first_names = [None, None]
        if split_speakers and len(run) >= _MONOLOGUE_TURNS and _monologue(run):
            report.skipped["monologue"] += len(run)
        elif len(run) >= 2:
            dialogues.append(Dialogue([speech for speech, _, _ in run], [speaker for _, speaker, _ in run]))
            report.turns += len(run)
        elif run:
            report.skipped["lone_turn"] += 1
        run, slots, gap = [], [None, None], 0

    for index, paragraph in enumerate(paragraphs):
        if layout == "dash" and paragraph[0] not in _DASHES and not run:
            report.skipped["narrative"] += 1  # most paragraphs: narration with no run of turns to end
            continue
        turn = paragraph_turn(paragraph, layout)
        if turn is not None and index and _narration_goes_on(paragraphs[index - 1], turn):
            turn.problem = "not_speech"
        if turn is not None and turn.speaker is None and turn.gender is None and announced:
            turn.speaker, turn.gender = announced[0] or None, announced[1]
        announced = turn.announced if turn is not None else None
        if turn is None:
            report.skipped["narrative"] += 1
            if run and gap < max_narrative and len(paragraph) <= narrative_max_chars:
                speakers = [slot for slot in slots if slot and slot[0]]
                new_person = split_speakers and any(is_new_person(name, speakers) for name in _NAME_IN_NARRATIVE.findall(paragraph))
                if not new_person:
                    gap += 1
                    continue
                report.speaker_splits += 1
            close_run()
            continue
        report.dashless_remarks += turn.dashless_remarks
        reason = turn.problem or ("empty_turn" if not turn.speech else "long_turn" if len(turn.speech) > max_turn_chars else "")
        if reason:
            close_run()
            report.skipped[reason] += 1
            continue
        speech, fixed = fix_lookalikes(turn.speech)
        report.lookalikes += fixed
        if run and not turn.remarks and speech[:1].islower() and run[-1][0][-1:].isalpha() and paragraphs[index - 1][-1:].isalpha():
            run[-1] = (f"{run[-1][0]} {speech}", run[-1][1], run[-1][2])  # `– Это на наши деньги` / `– около пятнадцати
            report.skipped["goes_on"] += 1  # тысяч рублей`: an edition broke one turn in two paragraphs
            continue
        person = (turn.speaker or "", turn.gender) if turn.speaker or turn.gender else None
        if split_speakers and person and person[1] == "plur":  # `закричали с другого конца улицы`: several
            # people at once are none of the two
            close_run()
            report.skipped["crowd"] += 1
            continue
        called = opening_call(speech) if split_speakers and speech[:1].isupper() else None
        named_first = first_name(turn.speaker) if split_speakers and turn.speaker else None
        by_surname = None
        if split_speakers and turn.speaker and not named_first and turn.speaker[0].isupper():
            if surnames is None:
                surnames = FirstNamesOfSurnames(paragraphs) if layout == "dash" else {}
            by_surname = surnames.get(turn.speaker)
        named_first = named_first or by_surname
        if split_speakers and (cuts(person, slots, len(run)) or (turn.meanwhile and run) or callee_is_new or (
            run and other_first_name(named_first, first_names[len(run) % 2])  # `Здравствуй, Хома!` ... `произнес Спирид`
        ) or (
            len(run) > 1 and first_names[1 - len(run) % 2] and by_surname and not other_first_name(by_surname, first_names[1 - len(run) % 2])
            # `Вот мы вас женим, Павел Иванович` ... `Что ж? ... – сказал Чичиков` in the turn after another's answer: he
            # is the other side, called before, so the one who spoke between is a third person
        ) or (
            turn.addressee and spoken_to_elsewhere(turn.addressee, slots, len(run))
        ) or (run and ((called and called == called_before) or speech == run[-1][0] or (
            len(run) > 1 and (_calls_several(speech) or (person and person[0] in _SOMEONE_ELSE))  # `сказал один из
            # гостей` after two turns: someone new; `Господа, господа, пожалуйста, без
        )))):  # личностей!`: to both of those speaking, from a third; `Добчинский. Марья Антоновна!`
            # `Бобчинский. Марья Антоновна, ...`, `Артемий Филиппович. Читайте!` `Лука Лукич. Читайте!`: both speak to
            # someone else, not to each other
            report.speaker_splits += 1  # `говорил между тем Василий Иванович`: not an answer to the turn before
            close_run()
            if callee_is_new:
                first_names[0] = callee  # the one called speaks now
        if split_speakers and run and run_on_before and not turn.remarks and not any(
            slot and slot[0] and surely_same((name, None), slot) for name in _CAPITALISED.findall(run_on_before) for slot in slots
        ):  # `– Вот пропадут ... – говорил он отчаянно и взглянул вниз ... Он увидел ... четыре кормы` / `– К берегу!`:
            report.speaker_splits += 1  # after narration about the speaker, a line with no remark may be his again;
            close_run()  # narration naming the other (`Латыгин опять сжал ее в объятиях`) gives him the next line
        run_on_before = turn.runs_on
        called_before = called
        if turn.speaker and turn.speaker[0].isupper():
            known.add(turn.speaker)
        if split_speakers and turn.narrated and in_the_scene(_person_told_of(turn.narrated[1]), [*slots, person], known):
            speech = speech[: -len(turn.narrated[0])].rstrip()  # `... наверх с господином Леммом. Старик пошел было...`
            turn.closes = True
        position = len(run) % 2
        if person and (person[0] or slots[position] is None):
            slots[position] = person
        first_names[position] = first_names[position] or named_first
        called_people = addressees(speech) if split_speakers else []
        callee = next((first_name(name) for name, _ in called_people if f"{name}," in speech or f", {name}?" in speech or f", {name}!" in speech), None)
        # `Шурочка, ... Ступай.` said to Лиза's side: Шурочка answers, a third person
        callee_is_new = other_first_name(callee, first_names[1 - position])
        if callee and not callee_is_new:
            first_names[1 - position] = first_names[1 - position] or callee
        if split_speakers and turn.addressee == "я" and slots[1 - position] is None:
            slots[1 - position] = (turn.addressee, None)  # `спросил он меня`: the narrator answers
        if split_speakers and slots[1 - position] is None:  # the one called by name likely answers: by gender only,
            # as `Александр Давидыч` may be `Самойленко` in the remarks
            called = [gender for name, gender in called_people if not (slots[position] and surely_same((name, gender), slots[position]))]
            slots[1 - position] = ("", called[0]) if called and called[0] else None
        if split_speakers and turn.turns_to and spoken_to_elsewhere(turn.turns_to, slots, len(run)):
            # `Отойди, братец ... – Довольно? – промолвил он, обращаясь к Павлу Петровичу`: the rest is said to
            # Павел Петрович, who answers next; the words said to him are dropped (counted) and the run ends
            speech, turn.closes = fix_lookalikes(turn.before_turning)[0], True
            if not speech:
                report.skipped["said_to_another"] += 1
                close_run()
                continue
            report.tails_said_to_another += 1
        run.append((speech, turn.speaker, bool(turn.remarks)))
        gap = 0
        if split_speakers and turn.newcomers and any(
            is_new_person(name, [slot for slot in slots if slot and slot[0]]) for name in turn.newcomers
        ):
            report.speaker_splits += 1  # the next line is likely said to the newcomer
            close_run()
        elif turn.closes:
            close_run()
    close_run()
    report.dialogues = len(dialogues)
    return dialogues
