"""The author's words inside a turn, told from speech by the language (pymorphy3 part of speech, tense, case).

A piece of a turn reads as a remark when it opens (after adverbs, particles, a prepositional phrase or a
gerund clause) with a verb in the indicative, past (`сказал`, `вскинулся`, `отрезал`: any verb, not a list),
or present/future in the third person with its subject after it (`говорит хохол`, `стонет он`), or with a
pronoun or a name before a past verb (`он усмехнулся`). The subject, named or not (`исправник`, `я`,
`тучный генерал`), is who speaks. `князь понимает: весь народ` (a noun before a present verb) or `все — все
золотильщики` read as speech, so a dash inside speech loses nothing.

After a remark that no dash closes, the rest is judged sentence by sentence: past-tense narration is the
author's (`заревел капитан. Все шестеро пошли к воротам.`), a sentence in the second person or the imperative
is speech again (`подхватил генерал. Мерзавец, не слушайте его`); both in one tail: not sure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

TOKEN = re.compile(r"[А-Яа-яЁёA-Za-z]+(?:-[А-Яа-яЁё]+)*|[^\w\s]")
_WORD = re.compile(r"[А-Яа-яЁёA-Za-z]+(?:-[А-Яа-яЁё]+)*")
# spaces after `.`, `!`, `?` or `…`: written to open with a space, so that it is tried at spaces only
_SENTENCE_END = re.compile(r"\s(?<=[.!?…]\s)\s*")
# a capitalised word or two before `,`, `!` or `?`: a name called when at the start or after punctuation and a
# space, checked in `addressees` (a regex opening with that is tried at every character, this one at capitals)
GLUED_SENTENCE = re.compile(r"[.!?…](?=[А-ЯЁ][а-яё])")  # no space after a sentence's end
_GLUED_NAME = re.compile(r"(?<=[а-яё] )[А-ЯЁ][а-яё]+")
_VOCATIVE = re.compile(r"[А-ЯЁ][а-яё]+(?: [А-ЯЁ][а-яё]+)?(?=[,!?])")
_NOT_A_REMARK_AFTER_VERB = {"ли", "бы", "б", "же", "ж"}  # `сказал бы`, `сказал ли`: speech
_PRONOUN_SUBJECTS = {"я", "он", "она", "оно", "мы", "они", "тот", "та"}  # `прибавил тот`: the one just named
# a past (`сказал`, `вскинулась`) or present third-person (`говорит`, `стонут`) verb's ending, first or among the
# first five words
_VERB_END = r"[а-яё](?:л[аои]?|л(?:ся|ась|ось|ись)|[еиёуюая]т(?:ся)?|[её][сзкр](?:ся)?|ог|[юу](?=\s+я\b))\b"  # also `произнес`, `оперся`, `мог`, `говорю я`
VERB_FIRST = re.compile(rf"[а-яё]*{_VERB_END}", re.IGNORECASE)
_VERB_ENDING = re.compile(_VERB_END, re.IGNORECASE)
_ANSWERS = {"ответ", "вопрос", "возглас", "крик"}  # `был опять ответ`: a remark with no one named
_OLD_GERUND = re.compile(r"[а-я]{2,}шед(?:ши)?")  # `подошед`, `пришедши`: the dictionary reads them as nouns
_PROPER = {"Name", "Surn", "Patr"}  # first names, surnames, patronymics
_LIPS = {"губы", "уста"}
_VOICES = {"голос", "голосок", "голоса", "бас", "шепот", "шёпот", "крик", *_LIPS}  # the voice is not the speaker's name
_SOUNDS = {"голос", "голосок", "бас", "шепот", "шёпот", "крик", "восклицание", "возглас", "хор", "губа", "уста"}
_SEXLESS = {"фигура", "особа", "персона", "личность", "тень", "физиономия", "каналья"}  # say nothing of who
_CROWDS = {"толпа", "народ", "хор", "публика", "толпы"}
_OBJECT_PRONOUNS = {"его", "ее", "её", "их", "свои", "свой", "свою"}
_SOMEONE = {"кто-то", "кто-нибудь", "некто", "кто", "другой", "другая"}  # `сказал другой`: not the one before
_TO_ME = {"меня", "мне"}  # `спросил он меня`: the narrator is spoken to, so the narrator answers
_THIRD_PERSON = {"он", "она", "оно", "они"}
_MEANWHILE = {"между", "временем"}  # with `тем` in a remark's head (`говорил между тем`, `тем временем`): not an answer
# nouns that stand for a person already named (`Маякин` ... `съехидничал старик`), unlike ranks and trades
# (`исправник`, `городовой`), which bring in someone new
ANAPHORIC_NOUNS = {
    "старик", "старуха", "старушка", "старичок", "девочка", "мальчик", "девушка", "юноша", "женщина", "мужчина",
    "человек", "ребенок", "ребёнок", "собеседник", "собеседница", "незнакомец", "незнакомка", "гость", "гостья",
    "хозяин", "хозяйка", "барин", "барыня", "молодой человек", "приятель", "приятельница", "друг", "подруга",
}
_RELATIVE = {"который", "которая", "которое", "которые", "которому", "которой", "которого", "которым", "что", "как", "когда", "где", "будто", "словно", "точно"}
_FIRST_PERSON_WORDS = {"я", "мне", "меня", "мной", "мой", "моя", "мое", "моё", "мою", "моего", "моей", "моих", "мы", "нас", "нам", "нами", "наш", "наша", "наше", "наши"}
_OURS_OR_YOURS = {"наш", "наша", "наше", "наши", "нашего", "нашей", "нашему", "нашим", "наших", "ваш", "ваша", "ваше",
                  "ваши", "вашего", "вашей", "вашему", "вашим", "ваших", "твой", "твоя", "твое", "твоё", "твоего", "твоей"}
_SECOND_PERSON = {"ты", "вы", "тебя", "тебе", "тобой", "вас", "вам", "вами", "твой", "ваш"}
# words that open no sentence of the author's about a person he names (`Он ушел`, `Мы`, `Вы`)
_SPEAKERS_DAYS = {"вчера", "сегодня", "завтра", "позавчера", "намедни", "давеча", "нынче"}
_NO_PERSON_TOLD_OF = _FIRST_PERSON_WORDS | _SECOND_PERSON | _PRONOUN_SUBJECTS
# verbs a narrator's remark in the present has (`– Смотри, Остап! – говорю я брату`); `знаю я вас`, `посмотрю я`,
# `люблю я его` are speech
_COMPARING = {"как", "словно", "точно", "будто"}
_BEFORE_VERB = {"и", "не", "так", "уж", "уже", "тут", "же", "ж"}  # between a remark's subject and its verb
_SAYING_NOW = {"говорить", "спрашивать", "отвечать", "кричать", "шептать", "бормотать", "просить", "напоминать", "думать"}
# verbs of thought: a quoted thought (`«Взяли бы и меня», — думала она`) is not a turn
THOUGHT_VERBS = {"думать", "подумать", "мелькнуть", "пронестись", "решить", "соображать", "сообразить", "мечтать"}


@lru_cache(maxsize=1)
def _analyzer():
    import pymorphy3  # imported here: loading the dictionaries takes half a second

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=300_000)
def parses(word: str) -> tuple:
    """The likely parses of a word (score at least a tenth of the best): a word read several ways is tried each way."""
    morph, lower = _analyzer(), word.lower()
    found = _dictionary_parses(morph, lower) or morph.parse(lower)
    if word[:1].islower() and len(found) > 1 and _PROPER & found[0].tag.grammemes:  # `возвыся` is a gerund, not `Возвыся`
        common = [p for p in found if not _PROPER & p.tag.grammemes]
        found = common or found
    return tuple(p for p in found if p.score >= found[0].score / 10)


class _DictionaryParse:
    """A parse of a dictionary word, as pymorphy3's `Parse` (tag, score, normal_form, is_known), with the normal
    form built only when asked: nearly all words are only looked at for their tags."""

    __slots__ = ("tag", "score", "_word", "_para_id", "_idx")
    is_known = True

    def __init__(self, tag, score: float, word: str, para_id: int, idx: int):
        self.tag, self.score, self._word, self._para_id, self._idx = tag, score, word, para_id, idx

    @property
    def normal_form(self) -> str:
        return _analyzer().dictionary.build_normal_form(self._para_id, self._idx, self._word)


def _dictionary_parses(morph, lower: str) -> list:
    """`morph.parse(lower)` for a word in the dictionary (its readings scored by P(tag | word), likeliest first),
    [] for other words: pymorphy3's own parse builds normal forms and runs analyzers a lower-case word skips."""
    if morph.prob_estimator is None:
        return []
    dictionary = morph.dictionary
    found = [(fixed, para_id, idx) for fixed, pairs in dictionary.words.similar_items(lower, morph.char_substitutes)
             for para_id, idx in pairs]  # fmt: skip
    if not found:
        return []
    tags = [dictionary.build_tag_info(para_id, idx) for _, para_id, idx in found]
    probability = morph.prob_estimator.p_t_given_w.prob
    scores = [probability(lower, tag) for tag in tags]
    if sum(scores) == 0:  # no P(t|w) for the word: pymorphy3 scores its readings alike
        return [_DictionaryParse(tag, 1.0 / len(found), *where) for tag, where in zip(tags, found)]
    readings = [_DictionaryParse(tag, score, *where) for tag, score, where in zip(tags, scores, found)]
    return sorted(readings, key=lambda parse: parse.score, reverse=True)


@lru_cache(maxsize=300_000)
def _has(word: str, *grammemes: str) -> bool:
    return any(all(g in p.tag.grammemes for g in grammemes) for p in parses(word))


@lru_cache(maxsize=300_000)
def _top(word: str, grammeme: str) -> bool:
    return grammeme in parses(word)[0].tag.grammemes


def gender_of(parse) -> str | None:
    """masc, femn, neut, plur (`сказали`) or None (a present verb: `говорит`)."""
    if "plur" in parse.tag.grammemes:
        return "plur"
    return str(parse.tag.gender) if parse.tag.gender else None


def _subject_gender(subject: str) -> str | None:
    """The gender of a subject's nominative singular reading (`цыган` is not the genitive plural here)."""
    parse = next((p for p in parses(subject.split()[-1]) if {"nomn", "sing"} <= p.tag.grammemes), None)
    return gender_of(parse) if parse else None


def opening_call(speech: str) -> str | None:
    """The name a turn opens by calling (`Марья Антоновна!`, `Анна Андреевна, ...`), None when it opens otherwise."""
    match = _VOCATIVE.match(speech)
    return match.group() if match and is_name(match.group().split()[0]) else None


def addressees(speech: str) -> list[tuple[str, str | None]]:
    """People a turn calls by name (`Послушай, Даша, ...`, `И ты, Анна Савишна, полагаешь`), with their gender:
    who will likely answer."""
    found = []
    # a name called is near a turn's start or end (`Послушай, Даша, ...`, `... Ступай, Анюта.`): the middle of a
    # long turn is not read
    text = speech if len(speech) < 240 else f"{speech[:160]} … {speech[-80:]}"
    for match in _VOCATIVE.finditer(text):
        start = match.start()
        if start and not (start > 1 and text[start - 1].isspace() and text[start - 2] in ",.!?…"):
            continue  # in the middle of a sentence
        name = match.group()
        is_name, gender = _name_gender(name.split()[0])
        if is_name:
            found.append((name, gender))
    return found


def is_name(word: str) -> bool:
    """A first name, surname or patronymic in the dictionary (`Полозов`, `Анюта`)."""
    return _name_gender(word)[0]


@lru_cache(maxsize=100_000)
def first_name(name: str) -> str | None:
    """The first name a person's name opens with (`Марфа` of `Марфа Тимофеевна`, `Хома`), None for a surname,
    a description or `я`: first names tell people apart where surnames and patronymics may be the same person's."""
    word = name.split()[0] if name else ""
    known = [p for p in parses(word) if p.is_known] if word[:1].isupper() else []
    return word if known and "Name" in known[0].tag.grammemes else None


@lru_cache(maxsize=100_000)
def _name_gender(word: str) -> tuple[bool, str | None]:
    parse = next((p for p in parses(word) if p.is_known and _PROPER & p.tag.grammemes), None)
    return (True, gender_of(parse)) if parse is not None else (False, None)


@lru_cache(maxsize=300_000)
def is_narrative_verb(word: str, subject_follows: bool) -> bool:
    """A verb a remark opens with: indicative past, or present/future third person (then its subject must follow)."""
    for parse in parses(word):
        # the grammemes as a set: pymorphy3's tag.POS, tag.mood... build a set and a string class each time
        grammemes = parse.tag.grammemes
        if "VERB" in grammemes and "indc" in grammemes and ("past" in grammemes or (subject_follows and "3per" in grammemes)):
            return True
    return False


@dataclass(slots=True)
class Head:
    """The opening of a remark: who speaks (None when not named), the verb's lemma, where the head ends, and
    whether a subject was found (`сказал он`: named, but not by name)."""

    speaker: str | None
    verb: str
    end: int
    named: bool = True
    gender: str | None = None  # masc, femn, neut or plur, from the verb (`отвечала`) or the subject
    addressee: str | None = None  # `я` when the remark says whom: `спросил он меня`, `сказал мне Пасынков`
    meanwhile: bool = False  # `говорил между тем Василий Иванович`: said alongside, not in answer to the turn before


def _token_end(text: str, index: int) -> int:
    """Where the `index`-th token of `text` ends: tokens are kept as strings, only a head's end needs a place."""
    return next(islice(TOKEN.finditer(text), index, None)).end()


def _skip_lead(tokens, i: int) -> int:
    """Past adverbs, particles, `и`, a prepositional phrase (`с любопытством`) and a gerund clause (`улыбнувшись,`)."""
    limit = i + 5
    while i < len(tokens) and i < limit:
        word = tokens[i]
        if word == "," and i + 1 < len(tokens) and tokens[i + 1][0].isalpha() and (
            _top(tokens[i + 1], "PRTF") or _top(tokens[i + 1], "GRND") or tokens[i + 1].lower() in _COMPARING
        ):  # `И, восхищенный ...,`, `И, как призрак, исчезнула ... тройка`
            i = tokens.index(",", i + 1) + 1 if "," in tokens[i + 1 :] else len(tokens)  # `И, восхищенный таким своим
            continue  # замечанием, Чуб засмеялся`
        if not word[0].isalpha():
            break
        if _top(word, "ADVB") or word.lower() in {"и", "тоже", "было", "опять", "вдруг", "еще", "ещё", "так"}:  # `так начала`
            i += 1
        elif word.lower() == "не" and i + 1 < len(tokens) and tokens[i + 1][0].isalpha() and (
            _top(tokens[i + 1], "GRND") or _top(tokens[i + 1], "ADVB")
        ):  # `не спеша перебил его Базаров`
            i += 1
        elif _top(word, "ablt") and (_top(word, "ADJF") or _top(word, "NOUN")):  # `страшным голосом заревел`
            i += 1
        elif _top(word, "PREP") and i + 1 < len(tokens) and tokens[i + 1][0].isalpha():
            noun = first = i + 1
            while noun + 1 < len(tokens) and tokens[noun + 1][0].isalpha() and _top(tokens[noun], "ADJF"):
                noun += 1  # `В сию минуту новое явление`: the adjectives before the noun
            i = noun + 1
            while noun == first and i < len(tokens) and tokens[i][0].isalpha() and _top(tokens[i], "ADJF"):
                i += 1  # and after it, where none came before
        elif _top(word, "GRND"):
            if i + 1 < len(tokens) and tokens[i + 1][0].isalpha() and is_narrative_verb(tokens[i + 1], True):
                i += 1  # `не спеша перебил`: a gerund alone, as an adverb
                continue
            while i < len(tokens) and tokens[i] != ",":
                i += 1
            i += 1
        else:
            break
    return i


def _subject(tokens, i: int) -> tuple[str | None, int]:
    """The nominative noun phrase after a remark's verb (`тучный генерал`, `Кирила Петрович`, `я`), and where it ends."""
    for _ in range(6):
        if i >= len(tokens):
            return None, i
        word = tokens[i]
        if word == ",":
            if any(_top(t, "GRND") for t in tokens[i + 1 : i + 3] if t[0].isalpha()):  # `отвечала, немного подумав, тетушка`
                j = i + 1
                while j < len(tokens) and tokens[j] != ",":
                    j += 1
                i = j + 1
                continue
            j = next((k for k in range(i + 1, min(i + 5, len(tokens))) if not tokens[k][0].isalpha()), None)
            if j is not None and tokens[j] == "," and j + 1 < len(tokens) and tokens[j + 1][0].isupper() and (
                _has(tokens[j + 1], "Name") or _has(tokens[j + 1], "Surn")
            ):
                i = j + 1  # `сказал, между прочим, Лаврецкий`: a name after a phrase set off by commas
                continue
            return None, i
        if not word[0].isalpha():
            return None, i
        lower = word.lower()
        if lower in _PRONOUN_SUBJECTS:
            return (lower if lower == "я" else None), i + 1
        if lower in _SOMEONE:  # `кричит кто-то из толпы`: someone else
            return lower, i + 1
        if lower in ("один", "одна") and i + 1 < len(tokens) and tokens[i + 1] == "из":  # `сказал один из гостей`
            return lower, i + 1
        if lower in _OBJECT_PRONOUNS:  # `поцеловал ее Лаврецкий`: the object, not the speaker
            i += 1
            continue
        quantity = _top(word, "NUMR") or lower in {"несколько", "много", "немного"}
        if quantity and i + 1 < len(tokens) and not _has(tokens[i + 1], "NOUN"):  # `немного погодя`: an adverb
            i += 1
            continue
        if quantity:  # `раздалось несколько восклицаний`; `пробило два часа`, `протянул обе руки`: no speaker
            end = min(i + 2, len(tokens))
            if end == i + 2 and _thing(tokens[i + 1]):
                return None, end
            return " ".join(tokens[i:end]), end
        if _top(word, "ablt") and (_top(word, "NOUN") or _top(word, "ADJF")):  # `махнул рукой дьякон`
            i += 1
            continue
        if lower.endswith("ть") and _has(word, "INFN"):  # `хотел было произнесть ... Пискарев`: not a noun
            i += 1
            continue
        if word[0].isupper() or _has(word, "NOUN", "nomn") or _has(word, "ADJF", "nomn") or _has(word, "PRTF", "nomn"):
            if _top(word, "PREP") or _top(word, "CONJ"):
                return None, i
            start = i
            while i < len(tokens) and tokens[i][0].isalpha() and (
                tokens[i][0].isupper() or _has(tokens[i], "ADJF", "nomn") or _has(tokens[i], "NOUN", "nomn")
                or _has(tokens[i], "PRTF", "nomn")
            ) and not _top(tokens[i], "PREP") and not _top(tokens[i], "CONJ") and i - start < 3 and not (
                i > start and _spoken_to_name(tokens[i])
            ):
                i += 1
            if i - start == 1 and _top(word, "PRTF"):  # `произнес изумившийся более всех Чуб`: the name after it
                name = next((k for k in range(i, min(i + 4, len(tokens))) if not tokens[k][0].isalpha()
                             or tokens[k][0].isupper()), None)
                if name is not None and tokens[name][0].isupper():
                    return tokens[name], name + 1
            while i - start > 1 and tokens[start].islower() and _thing(tokens[start]) and not _may_speak(tokens[start]):
                start += 1  # `говорил в ту же ночь Базаров`, `произнес в это время поручик Пирогов`: the time, then the speaker
            if tokens[i - 1].islower() and _top(tokens[i - 1], "plur") and _thing(tokens[i - 1]):
                return None, i  # `прошептали ее губы`, `протянул руки`: things (their accusative reads as the nominative);
                # `поручик Пирогов` is a man, though `пирогов` is pies
            return " ".join(tokens[start:i]), i
        if _top(word, "ADVB") or _top(word, "PRCL") or _top(word, "NPRO") or _top(word, "INFN") or lower == "было":
            i += 1
        elif _top(word, "PREP"):
            i = _past_prepositional_phrase(tokens, i)
        else:
            return None, i
    return None, i


def _past_prepositional_phrase(tokens, i: int) -> int:
    """Past a preposition, its adjectives and the noun they agree with (`из супротивного окна сьора Сусанна`,
    `в ту же ночь Базаров`), or the one word after it (`в передней голос Дубкова`: `голос` does not agree)."""
    k, adjective = i + 1, None
    while k < min(len(tokens) - 1, i + 4) and tokens[k].isalpha() and tokens[k].islower() and (
        _top(tokens[k], "ADJF") or _top(tokens[k], "PRCL")
    ):
        adjective = tokens[k] if _top(tokens[k], "ADJF") else adjective
        k += 1
    if adjective is None or k - i < 2:
        return i + 2
    noun = tokens[k]
    if noun.isalpha() and noun.islower() and _top(noun, "NOUN") and any(
        a.tag.case == n.tag.case and (a.tag.gender == n.tag.gender or a.tag.number == n.tag.number == "plur")
        for a in parses(adjective) if "ADJF" in a.tag.grammemes for n in parses(noun) if "NOUN" in n.tag.grammemes
    ):
        return k + 1
    return k


def remark_head(
    text: str, strict: bool = False, inverted: bool = False, after_sentence: bool = True, closed: bool = False
) -> Head | None:
    """The remark `text` opens with, or None when it reads as speech.

    Most pieces after a dash have no word with a verb's ending among their first four words: those are speech
    without asking the morphology (`_VERB_ENDING`, a filter for speed; the morphology decides).

    `strict` (a dash with no punctuation before it, `Ступайте - крикнула Сеата`): the verb must come first and its
    subject must follow, since such a dash is far more often inside speech (`Оно — растет!`). `inverted`
    (a remark without its dash): only the verb first, as `я переменился?` after a `?` is speech. A pronoun or a
    name before the verb (`Она замолчала`) only `after_sentence` (the speech before the dash ended a sentence):
    `Юлий навсегда находился в толпе, — он услышал и повторил их` is speech. A piece `closed` by another dash
    after a sentence may also be told in the present (`– Она не слушает и идет. –`): `он`/`она`/`они`, then the verb.
    """
    start = text[:80]
    if strict or inverted:
        if not VERB_FIRST.match(start):
            return None
    else:
        words = start.split(None, 6)[:6] if not start.startswith("И,") else start.split(None, 9)[:9]
        if start[:1].isupper():  # only `Она замолчала`, `И он злобно и неслышно захохотал`
            if not after_sentence or not _VERB_ENDING.search(" ".join(words[1:])):
                return None
        elif not _VERB_ENDING.search(" ".join(words[:4])):
            return None
    return _remark_head(start, strict, inverted or not after_sentence, closed and after_sentence)


@lru_cache(maxsize=100_000)
def _remark_head(text: str, strict: bool, inverted: bool, present: bool = False) -> Head | None:
    tokens = TOKEN.findall(text)
    if not tokens or not tokens[0][0].isalpha():
        return None
    i = 0 if strict else _skip_lead(tokens, 0)
    if i >= len(tokens) or not tokens[i][0].isalpha():
        return None
    word = tokens[i]
    verb_at = i
    if not (is_narrative_verb(word, subject_follows=True) or _narrator_says(tokens, i)):
        # `он усмехнулся`, `Иван махнул рукой`, `И воздушная красавица задрожала`: a pronoun, a name or a noun
        # phrase, then a past verb (agreeing with the noun)
        noun_end = None if strict or inverted else _noun_subject_end(tokens, i)
        if strict or inverted or i + 1 >= len(tokens) or not (noun_end or word.lower() in _PRONOUN_SUBJECTS or (word[0].isupper() and _has(word, "Name"))):
            return None
        full_name_end = _full_name_end(tokens, i) if word[0].isupper() else i + 1
        if full_name_end > i + 1 and (noun_end == i + 1 or (not noun_end and _has(word, "Name"))):
            noun_end = full_name_end  # `Иван Иванович поклонился`: the name with its patronymic or surname
        j = noun_end or i + 1
        while j < min(len(tokens), i + 6) and tokens[j][0].isalpha() and (_top(tokens[j], "ADVB") or tokens[j] in _BEFORE_VERB):
            j += 1  # `он злобно и неслышно захохотал`, `Она не слушает`, `он так покосил бричку`
        if j + 2 < len(tokens) and _top(tokens[j], "PREP") and tokens[j + 1][0].isalpha():  # `И Степан с невольной
            k = j + 1  # усмешкой пожался`: a prepositional phrase before the verb
            while k < min(len(tokens), j + 4) and tokens[k][0].isalpha() and not is_narrative_verb(tokens[k], False):
                k += 1
            j = k
        if j >= len(tokens):
            return None
        # the present only in a piece set off by dashes on both sides, and with `он`/`она`/`они` before the verb
        present_ok = present and word.lower() in _THIRD_PERSON
        if not is_narrative_verb(tokens[j], subject_follows=False) and not (
            present_ok and _has(tokens[j], "VERB", "pres", "3per") and _sentence_ends(tokens, j)
        ):
            return None
        name = word.lower() if word.lower() == "я" else (None if word.lower() in _PRONOUN_SUBJECTS else word)
        verb = parses(tokens[j])[0]
        if noun_end:  # `Кузнец иногда умел...` opens a sentence: `кузнец`, unless a name (`Базаров`)
            name = " ".join(tokens[i:noun_end])
            name = name if _name_gender(word)[0] or not parses(word)[0].is_known else name[0].lower() + name[1:]
            if gender_of(verb) != _noun_gender(tokens[noun_end - 1]):
                return None
        return Head(name, verb.normal_form, _token_end(text, j), gender=gender_of(verb))
    if i + 1 < len(tokens) and tokens[i + 1].lower() in _NOT_A_REMARK_AFTER_VERB:
        return None
    past = is_narrative_verb(word, subject_follows=False)
    speaker, end = _subject(tokens, verb_at + 1)
    end = min(end, len(tokens))
    named = speaker is not None or (end > verb_at + 1 and tokens[end - 1].lower() in _PRONOUN_SUBJECTS)
    if not named and (strict or not past):
        return None
    if strict and speaker and not _may_speak(speaker):  # `на мне – до некоторой степени – лежала обязанность`:
        return None  # a dash with no punctuation before it and a thing for subject: the speaker's dash
    lemma, gender = _verb_reading(word)
    if lemma == "быть":  # `я господская… была господская`: a predicate, not a remark's verb; `– Не найдут-с, – был
        if not (speaker and speaker.lower() in _ANSWERS):  # опять ответ.` is one, with no one named
            return None
        speaker, gender = None, None
    thing = _thing(tokens[end - 1]) and not any(_top(t, "PREP") for t in tokens[max(verb_at + 1, end - 4) : end - 1])
    if not named and _top(word, "plur") and not thing:  # `кричали из залы`: several people, none
        # of the two speakers (`прошептали ее губы`: one)
        speaker = "они"
    if not named and gender == "plur" and thing:
        gender = None  # `прошептали ее губы`: one person, not named
    gender = gender or (_subject_gender(speaker) if speaker else None)
    if speaker and speaker.lower().split()[-1] in _SEXLESS:  # `сказала черная фигура`: Максимов
        gender = None
    if speaker and speaker.lower().split()[-1] in _CROWDS:  # `закричала вся толпа`: several people
        gender = "plur"
    if speaker and _VOICES & set(speaker.lower().split()):  # `раздался голос Василия Ивановича`, `его голос`
        lips = bool(_LIPS & set(speaker.lower().split()))  # `шепчут ее губы`: one person, the plural says nothing
        speaker = _whose_voice(speaker)
        gender = _subject_gender(speaker) if speaker else "plur" if gender == "plur" and not lips else None  # `раздались голоса`
    # whom the remark says the speaker speaks to: `меня`/`мне` beside the verb and its subject
    addressee, meanwhile = None, False
    if "мне" in text or "меня" in text or "тем" in text:  # rare: most heads skip the word set
        words = {t.lower() for t in tokens[: end + 1]}
        addressee = "я" if _TO_ME & words else None
        meanwhile = "тем" in words and bool(_MEANWHILE & words)
    if addressee is None and named and end < len(tokens) and tokens[end][0].isalpha():
        addressee = _spoken_to(tokens, end)
    return Head(speaker, lemma, _token_end(text, end - 1 if named else verb_at), named, gender, addressee, meanwhile)


def _spoken_to(tokens, i: int) -> str | None:
    """Whom the remark says the speaker speaks to, right after the subject: a person in the dative or the accusative
    (`спросил он одного из стражей`, `сказал Тарас жиду`), in the nominative singular; None when not said."""
    # after a noun the accusative of a person is its genitive too (`товарищ прокурора`, `жена посланника`)
    cases = {"datv"} if tokens[i - 1].islower() and tokens[i - 1].lower() not in _PRONOUN_SUBJECTS else {"datv", "accs"}
    while i < len(tokens) - 1 and tokens[i].isalpha() and _top(tokens[i], "ADVB"):
        i += 1  # `шепнул он тихо черту`
    if tokens[i].lower() in {"одного", "одному", "одну", "одной"} and i + 2 < len(tokens) and tokens[i + 1] == "из":
        i, cases = i + 2, {"gent"}  # `одного из стражей`: one of them
    if i >= len(tokens) or not tokens[i].isalpha() or tokens[i].lower() in _OBJECT_PRONOUNS:
        return None
    found = parses(tokens[i])
    parse = next((p for p in found if {"NOUN", "anim"} <= p.tag.grammemes and p.tag.grammemes & cases), None)
    if parse is None or not (found[0].tag.grammemes & cases or "gent" in cases):  # `начал он неверным голосом`
        return None
    return parse.normal_form if tokens[i].islower() else parse.normal_form.capitalize()


def person_in_dative(phrase: str) -> str | None:
    """Whom a stage direction says a line is said to (`(дочери)`: `дочь`, `(Анне Андреевне)`: `Анна Андреевна`), in
    the nominative; None when the direction is anything else (`(в сторону)`, `(входя)`)."""
    words = phrase.split()
    if not 0 < len(words) <= 2 or (len(words) == 2 and not words[1][0].isupper()):
        return None
    nominative = []
    for word in words:
        parse = next((p for p in parses(word) if {"NOUN", "anim", "datv"} <= p.tag.grammemes), None)
        if parse is None:
            return None
        nominative.append(parse.normal_form if word.islower() else parse.normal_form.capitalize())
    return " ".join(nominative)


def _narrator_says(tokens, i: int) -> bool:
    """A verb of saying in the present, first person, then `я`: the narrator telling his story in the present
    (`говорю я брату`, `спрашиваю я себя`)."""
    if i + 1 >= len(tokens) or tokens[i + 1].lower() != "я":
        return False
    return any({"VERB", "pres", "1per"} <= p.tag.grammemes and p.normal_form in _SAYING_NOW for p in parses(tokens[i]))


def tells_now(remark: str) -> bool:
    """A remark-like piece opening with a verb in the present that is not one of saying (`сидит на поляне
    приказчик`): the speaker telling a story in the present, where a remark's verb of action is in the past."""
    verb = remark.split(maxsplit=1)[0].lower() if remark.strip() else ""
    return any({"VERB", "pres"} <= p.tag.grammemes and p.normal_form not in _SAYING_NOW for p in parses(verb)[:1])


@lru_cache(maxsize=100_000)
def _thing(word: str) -> bool:
    """A noun read first as inanimate, and not a voice or a cry (`раздались голоса`, `несколько восклицаний`)."""
    parse = parses(word)[0]
    return "NOUN" in parse.tag.grammemes and "inan" in parse.tag.grammemes and parse.normal_form not in _SOUNDS


def _spoken_to_name(word: str) -> bool:
    """A name in the dative only (`Базаров Аркадию`): the one spoken to, not a word of the speaker's name."""
    if not word[0].isupper():
        return False
    found = parses(word)
    dative_name = any(p.is_known and "datv" in p.tag.grammemes and _PROPER & p.tag.grammemes for p in found)
    return dative_name and not any("nomn" in p.tag.grammemes for p in found)


def _may_speak(subject: str) -> bool:
    """A subject that can say something: anything but a thing (`обязанность`, `угол`; a voice or a figure can)."""
    word = subject.split()[-1]
    return word[0].isupper() or not _thing(word) or word.lower() in _SEXLESS


def _sentence_ends(tokens, j: int) -> bool:
    """The piece is one short clause: at most three words after the verb (`Она не слушает и идет`)."""
    return len(tokens) - j <= 4 and all(t[0].isalpha() for t in tokens[j + 1 :])


@lru_cache(maxsize=100_000)
def _verb_reading(word: str) -> tuple[str, str | None]:
    """A remark's verb: its lemma (as a verb) and the gender its likeliest reading gives (`отвечала`: femn)."""
    return next(p.normal_form for p in parses(word) if "VERB" in p.tag.grammemes), gender_of(parses(word)[0])


def _whose_voice(subject: str) -> str | None:
    """`хриплый бас Биндасова` -> `Биндасов`; None when the voice is not named (`ровный голос`)."""
    words = subject.split()
    owner = words[next(i for i, w in enumerate(words) if w.lower() in _VOICES) + 1 :]
    if not owner or not owner[0][0].isupper():
        return None
    nominative = []
    for word in owner:
        parse = next((p for p in _analyzer().parse(word) if "gent" in p.tag), None)  # a full parse: it inflects
        inflected = parse.inflect({"nomn"}) if parse else None
        nominative.append(inflected.word.capitalize() if inflected else word)
    return " ".join(nominative)


def _full_name_end(tokens, i: int) -> int:
    """Past a first name's patronymic or surname (`Иван Иванович поклонился`, `Анна Сергеевна Одинцова сказала`)."""
    end = i + 1
    while end < min(len(tokens), i + 3) and tokens[end][0].isupper() and (_has(tokens[end], "Patr") or _has(tokens[end], "Surn")):
        end += 1
    return end


def _noun_subject_end(tokens, i: int) -> int | None:
    """Where a nominative noun phrase naming a person starts at `i` and ends (`воздушная красавица`, `Старуха`),
    None if there is none; only its first word may be capitalised."""
    word = lambda k: k < len(tokens) and tokens[k].isalpha() and (k == i or tokens[k].islower())  # noqa: E731
    k = i
    while word(k) and k - i < 3 and _top(tokens[k], "ADJF") and _has(tokens[k], "ADJF", "nomn"):
        k += 1
    if word(k) and _top(tokens[k], "NOUN") and _has(tokens[k], "NOUN", "nomn", "anim"):
        return k + 1  # a person (`Старое вымерло, а молодое не нарождается!` is speech)
    return None


def _noun_gender(word: str) -> str | None:
    parse = next((p for p in parses(word) if "NOUN" in p.tag and "nomn" in p.tag), None)
    return gender_of(parse) if parse else None


def sentence_kind(sentence: str) -> str:
    """`narration` (a past verb, no second person), `speech` (second person, imperative, first/second person verb,
    or a question or exclamation going on in lower case: `? где его видели последний раз?`), or ''."""
    if sentence[:1].islower() and sentence.rstrip()[-1:] in ("?", "!"):
        return "speech"
    kinds = {_word_kind(word) for word in _WORD.findall(sentence)}
    if "narration" in kinds and "speech" in kinds:
        return "both"
    return "narration" if "narration" in kinds else "speech" if "speech" in kinds else ""


@lru_cache(maxsize=300_000)
def _word_kind(word: str) -> str:
    lower = word.lower()
    if lower in _SECOND_PERSON:
        return "speech"
    tag = parses(word)[0].tag.grammemes
    if is_narrative_verb(word, subject_follows=False) or "GRND" in tag or _OLD_GERUND.fullmatch(lower):
        return "narration"
    if ("VERB" in tag and ("impr" in tag or "1per" in tag or "2per" in tag)) or ("INTJ" in tag and lower.endswith("те")):
        return "speech"  # `слушайте` is read as an interjection
    return ""


def _oblique(word: str) -> bool:
    """An adjective or a noun with no nominative reading (`синих`, `чулках`): a clause opening with it goes on with
    the words before the comma, not a new sentence of speech (`дело известное`)."""
    return (_top(word, "ADJF") or _top(word, "NOUN")) and not _has(word, "nomn") and word.lower() not in _SECOND_PERSON


def sentences(text: str) -> list[str]:
    return _SENTENCE_END.split(text)


def narration_at_end(speech: str) -> tuple[str, Head] | None:
    """The last sentences of a turn when they read as the author's (an edition that left out the dash and the
    paragraph break: `Леночка, ступай наверх с господином Леммом. Старик пошел было вслед за девочкой, но Паншин
    остановил его.`), with the head naming who they tell of; None when not. Told in the past, no `я`/`мы`, no
    second person, no `?`/`!`, and the first of them opens with a person and a past verb. A speaker telling a
    story talks the same way (`Мамаша ушла с другим от дедушки`): the caller checks the person is in the scene."""
    if not speech.endswith(".") or not _SENTENCE_END.search(speech):
        return None
    spoken = sentences(speech[-300:])  # the closing sentences: the rest of a long turn is not read
    heads = {k: _person_and_past_verb(spoken[k]) for k in range(len(spoken) - 1, max(0, len(spoken) - 4), -1)
             if _may_open_narration(spoken[k - 1], spoken[k])}  # fmt: skip
    heads = {k: head for k, head in heads.items() if head}
    found = None
    for k in range(len(spoken) - 1, min(heads, default=len(spoken)) - 1, -1):  # the cheap tests first
        if not told_by_author(spoken[k]):
            break
        if k in heads:
            found = (" ".join(spoken[k:]), heads[k])
    return found


def _person_and_past_verb(sentence: str) -> Head | None:
    """The head of a sentence opening with a person named (`Старик`, `Лиза`; not `он`) and a past verb."""
    head = remark_head(sentence) or _unknown_name_head(sentence) or _owner_head(sentence)
    if head and head.speaker and head.speaker != "я" and head.verb != "быть" and is_narrative_verb(head_verb_word(sentence, head), False):
        return head
    return None


def _owner_head(sentence: str) -> Head | None:
    """`Руки Софьи слегка задрожали над клавишами`, `Лицо Лизы вспыхнуло`: a thing of a person named in the
    genitive, then a past verb agreeing with the thing; the head tells of the person (`Софья`)."""
    tokens = TOKEN.findall(sentence[:80])
    if len(tokens) < 3 or not (tokens[0].isalpha() and tokens[1].isalpha() and tokens[1][0].isupper()):
        return None
    owner = next((q for q in _analyzer().parse(tokens[1]) if {"Name", "gent"} <= q.tag.grammemes), None)
    if owner is None or not _thing(tokens[0]):
        return None
    j = 2
    while j < min(len(tokens) - 1, 4) and tokens[j].isalpha() and _top(tokens[j], "ADVB"):
        j += 1  # `слегка задрожали`
    if not (tokens[j].isalpha() and is_narrative_verb(tokens[j], False)):
        return None
    if gender_of(parses(tokens[j])[0]) != _noun_gender(tokens[0]):
        return None
    return Head(owner.normal_form.capitalize(), _verb_reading(tokens[j])[0], _token_end(sentence, j),
                gender=gender_of(owner))


def _unknown_name_head(sentence: str) -> Head | None:
    """`Лемм встал со скамейки`: a capitalised noun or a word the dictionary does not know, maybe after adverbs,
    then a past verb. A name it has not got (`лемм`: lemmas), or anything else: the caller checks it against the
    people speaking."""
    tokens = TOKEN.findall(sentence[:80])
    if len(tokens) < 2 or not tokens[0].isalpha() or (parses(tokens[0])[0].is_known and not _top(tokens[0], "NOUN")):
        return None
    j = 1
    while j < min(len(tokens) - 1, 3) and tokens[j].isalpha() and _top(tokens[j], "ADVB"):
        j += 1  # `Лемм вдруг остановился`
    if not (tokens[j].isalpha() and is_narrative_verb(tokens[j], False)):
        return None
    lemma, gender = _verb_reading(tokens[j])
    return Head(tokens[0], lemma, _token_end(sentence, j), gender=gender)


def glued_narration(speech: str) -> int | None:
    """Where narration starts in a turn an edition glued it to, with no full stop or no space: a name after a
    lower-case word then a past verb, in a turn that ends with no punctuation (`...и теперь тебе то же повторяю
    Полозов продолжал чавкать`), or a person and a past verb right after a sentence's end (`подобные штучки…Он
    указал на двух проходивших лореток`); told in the past to the end. None when there is none."""
    if speech[-1:].isalpha():
        for match in _GLUED_NAME.finditer(speech[-200:]):
            start = len(speech) - len(speech[-200:]) + match.start()
            head = _person_and_past_verb(speech[start:]) if is_name(match.group()) else None
            if head and told_by_author(speech[start:]):
                return start
    for match in GLUED_SENTENCE.finditer(speech):
        head = remark_head(speech[match.end() :])
        if head and head.speaker != "я" and head.verb != "быть" and told_by_author(speech[match.end() :]):
            return match.end()
    return None


def narrators_aside(speech: str, gender: str) -> int | None:
    """Where a closing sentence of the narrator's starts (`Я невольно покраснел.`, an edition that lost the paragraph
    break) in a turn said by someone of the other gender: `я`, maybe adverbs, a past verb of the other gender; None
    when there is none."""
    *spoken, last = sentences(speech)
    tokens = TOKEN.findall(last[:60])
    if not spoken or spoken[-1][-1:] not in ".!?…" or len(tokens) < 3 or tokens[0] != "Я":
        return None
    j = 1
    while j < len(tokens) - 1 and tokens[j].isalpha() and _top(tokens[j], "ADVB"):
        j += 1
    verb = tokens[j]
    if not (verb.isalpha() and is_narrative_verb(verb, False)) or gender_of(parses(verb)[0]) not in ({"masc", "femn"} - {gender}):
        return None
    return len(speech) - len(last)


def _may_open_narration(before: str, sentence: str) -> bool:
    """A sentence that may open the author's words after speech: after a full sentence, a capital, no `?`/`!`, a
    word with a verb's ending among the next five (`Старик пошел было`), and first a noun or a word the dictionary
    does not know (not `Теперь`, `Это`, `Он`): the cheap tests before the remark's."""
    if not (sentence[:1].isupper() and before[-1:] in ".!?…") or "?" in sentence or "!" in sentence:
        return False
    words = sentence.split(None, 6)
    first = words[1] if words[0] == "И" and len(words) > 1 else words[0]
    if first.lower() in _NO_PERSON_TOLD_OF or not _VERB_ENDING.search(" ".join(words[1:6])):
        return False
    first = _WORD.match(first)
    return bool(first) and (_top(first.group(), "NOUN") or not parses(first.group())[0].is_known)


def head_verb_word(text: str, head: Head) -> str:
    """The word a head ends with when its subject comes first: the verb (`Старик пошел`)."""
    return _WORD.findall(text[: head.end])[-1]


def told_by_author(sentence: str) -> bool:
    """Past narration in the third person: no `?`/`!`, no first or second person, no verb in the present or future,
    no `вчера` or `сегодня` (the speaker's days: `Алеша говорил про какое-то письмо вчера`)."""
    if "?" in sentence or "!" in sentence or sentence_kind(sentence) != "narration":
        return False
    words = [word.lower() for word in _WORD.findall(sentence)]
    if _SPEAKERS_DAYS & set(words):
        return False
    for word in words:
        if word in _FIRST_PERSON_WORDS or (_top(word, "VERB") and (_top(word, "pres") or _top(word, "futr"))):
            return False
    return True


def told_in_passive(text: str) -> bool:
    """`она в первый раз названа его по одной фамилии`: `он`/`она`/`они`, then a short passive participle among
    the next words (the present `он знает` is not)."""
    words = _WORD.findall(text[:80])
    return len(words) > 1 and words[0] in _THIRD_PERSON and any(_top(word, "PRTS") for word in words[1:5])


def narration_after_remark(text: str, gender: str | None = None, said_before: str = "") -> bool:
    """The last piece of a turn, after a remark and its dash, that goes on with the remark's story: `и`, then a
    person or a thing in the nominative, told in the past (`и толпа стала напирать…`), or a past verb of the remark's
    gender (`gender`: `и направился вслед за мной`) where the speech before it (`said_before`) tells nothing in the
    past; `– и ты увидишь` is speech."""
    if not text.startswith("и "):
        return False
    words = _WORD.findall(text[:60])
    if len(words) > 1 and is_narrative_verb(words[1], False) and gender_of(parses(words[1])[0]) == gender and not (
        {w.lower() for w in words} & (_SECOND_PERSON | {"я", "мы"})
    ) and not any(is_narrative_verb(word, False) for word in _WORD.findall(said_before)):
        return True  # `Очень хорошо-с, – отвечал доктор, – и направился вслед за мной.`: the remark's subject goes on (the
        # narrator may be `мной`); `Француз застращал его, – отвечал исправник, – и взял с него клятву` is speech
    if len(words) < 3 or not (_top(words[1], "NOUN") and _has(words[1], "NOUN", "nomn")):
        return False
    verb = next((word for word in words[2:5] if is_narrative_verb(word, False)), None)  # `и время провел`: an object
    return bool(verb) and gender_of(parses(verb)[0]) == _noun_gender(words[1]) and told_by_author(text)


def _speaks_to_and_of_self(text: str) -> bool:
    """Both a second-person word and a first-person one (`что вам сидеть у такой плебейки, как я`)."""
    words = {word.lower() for word in _WORD.findall(text)}
    return bool(words & _SECOND_PERSON and words & _FIRST_PERSON_WORDS)


def split_tail(tail: str) -> tuple[str, str] | None:
    """An unclosed remark's rest after its head -> (the author's words, speech that resumes); None when not sure.

    The head's own sentence goes on as the author's while it holds a gerund, participle or past verb
    (`начал Ратмиров, обменявшись взглядом с женою,` + `шалость шалостью...`), or an appositive phrase opens it
    with a noun in the instrumental (`простонала другая, родом прямо уже из Арзамаса.`)."""
    tail = tail.strip()
    if ", " not in tail and not _SENTENCE_END.search(tail):
        return tail, ""  # nearly all: `сказал он.`, `спросил он тихо`
    first, *rest = sentences(tail)
    author, speech = first, ""
    clauses = first.split(", ")
    # the clause right after the speaker is the author's (`спросил он тихо.`); so are gerund, participle and
    # adjective phrases after it (`прошептала она, готовая просить...`); speech may resume after those
    for k in range(1, len(clauses)):
        words = _WORD.findall(clauses[k])
        if words and words[0].lower() in ("а", "но") and _OURS_OR_YOURS & {w.lower() for w in words}:
            author, speech = ", ".join(clauses[:k]), ", ".join(clauses[k:])  # `сказал Кирила Петрович, а жаль
            break  # покойного нашего исправника`: the speaker's, the edition lost the dash
        if words and words[0].lower() == "что" and _speaks_to_and_of_self(", ".join(clauses[k:])) and not (
            set('"«»:') & set(tail)  # `с улыбкой, которая значила: "Что, вы видели меня вчера?"`: the author's
        ):
            author, speech = ", ".join(clauses[:k]), ", ".join(clauses[k:])  # `сказала она ему, что вам сидеть у
            break  # такой плебейки, как я`: the speaker's own words, the edition lost the dash
        if not words or words[0].lower() in _RELATIVE or _top(words[0], "CONJ") or any(is_narrative_verb(w, False) for w in words):
            break
        if any(_top(w, "GRND") or _has(w, "PRTF") for w in words) or _has(words[0], "ADJF", "nomn") or (
            _top(words[0], "PREP") and (len(words) <= 4 or not any(_top(w, "VERB") or w.lower() in _NO_PERSON_TOLD_OF for w in words))
            # `спустя другие тысячи лет`; `у меня в кармане и приметы` is speech
        ) or (_top(words[0], "ablt") and _top(words[0], "NOUN")) or _top(words[0], "INFN") or _oblique(words[0]):
            # `простонала другая, родом из Арзамаса.`, `стараясь, между прочим, выиграть время`, `телом, туго затянутым`,
            # `спросил я у старика в плисовом жилете, синих чулках и башмаках с пряжками`
            continue
        candidate = ", ".join(clauses[k:])
        if len(words) <= 3 and words[-1][0].isupper() and is_name(words[-1]) and _has(words[-1], "nomn"):
            break  # `сделал наконец, в свою очередь, вопрос Чичиков`: the speaker, named late
        if not any(_top(w, "GRND") or _top(w, "PRTF") or is_narrative_verb(w, False) for w in _WORD.findall(candidate)):
            author, speech = ", ".join(clauses[:k]), candidate
        break
    speaking, narrated = bool(speech), False
    # four sentences tell whether the author's words run on or the speech resumes; the rest goes the same way
    for sentence in rest[:4]:
        kind = sentence_kind(sentence)
        if kind == "both" or (kind == "narration" and speaking) or (kind == "speech" and narrated):
            return None  # speech and narration mixed: not sure
        if kind == "narration" or not (kind or speaking):
            narrated = True
            author += " " + sentence
        else:
            speaking = True
            speech = f"{speech} {sentence}".strip()
    if rest[4:]:
        if speaking:
            speech += " " + " ".join(rest[4:])
        else:
            author += " " + " ".join(rest[4:])
    return author.strip(), speech.strip()
