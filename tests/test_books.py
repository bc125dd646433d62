"""Turns and dialogues from real passages of the real books: author's words, dash-less remarks, speakers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rugpt_chitchat.books.layouts import fix_lookalikes, play_line
from rugpt_chitchat.books.turns import BookReport, clean_turn, group_dialogues, read_turn, spoken_words
from rugpt_chitchat.books.extract import ExtractArguments, extract_book
from rugpt_chitchat.books.library import BookRef, find_books

ANYUTA_VISIT = [
    "А я к вам с просьбой. Сделайте одолжение, одолжите мне вашу прекрасную девицу часика на два! "
    "Пишу, видите ли, картину, а без натурщицы никак нельзя!",
    "Ах, с удовольствием! Ступай, Анюта.",
    "Чего я там не видела!",
    "Ну, полно! Человек для искусства просит, а не для пустяков каких-нибудь. Отчего не помочь, если можешь?",
]


def extract_dialogues_from_book(path, **rules):
    dialogues, report, _ = extract_book(BookRef(str(path)), ExtractArguments(**rules))
    return [dialogue.turns for dialogue in dialogues], report


def line_of(book: Path, words: str) -> str:
    """The line of a real book holding `words`: the tests quote passages by locating them."""
    return next(line.strip() for line in book.read_text(encoding="utf-8").splitlines() if words in line)


@pytest.fixture(scope="module")
def books(books_dir) -> Path:
    return books_dir


@pytest.fixture(scope="module")
def anyuta(books) -> Path:
    return books / "Chekhov" / "Анюта.txt"


def test_author_words_are_removed_and_spoken_words_stay_in_order(anyuta):
    dialogues, _ = extract_dialogues_from_book(anyuta, split_speakers=False)
    assert ANYUTA_VISIT in dialogues
    text = "\n".join(turn for dialogue in dialogues for turn in dialogue)
    for author_words in ("начал он", "согласился Клочков", "тихо проговорила Анюта", "сказал художник"):
        assert author_words not in text
    assert "Так-то так... но можно все-таки лучше жить..." in text


def test_first_turn_of_the_story_keeps_speech_around_the_author_words(anyuta):
    line = anyuta.read_text(encoding="utf-8").splitlines()[4]
    assert "зубрил Клочков" in line
    assert spoken_words(line).startswith("Правое легкое состоит из трех долей... Границы! Верхняя доля")
    assert "зубрил" not in spoken_words(line)
    assert "4 — 5 ребер" in spoken_words(line)


def test_narrative_paragraph_ends_a_dialogue_unless_one_short_one_is_allowed(anyuta):
    strict, strict_report = extract_dialogues_from_book(anyuta, split_speakers=False)
    assert strict[strict.index(ANYUTA_VISIT) + 1][0] == "А что вы пишете?"
    loose, report = extract_dialogues_from_book(anyuta, max_narrative=1, split_speakers=False)
    joined = next(dialogue for dialogue in loose if ANYUTA_VISIT[0] in dialogue)
    start = joined.index(ANYUTA_VISIT[0])
    assert joined[start - 1] == "Можно войти?"  # across "Анюта быстро накинула... Вошел художник Фетисов."
    assert joined[start:start + 5] == ANYUTA_VISIT + ["А что вы пишете?"]  # across "Анюта стала одеваться."
    assert report.turns > strict_report.turns  # lone turns joined dialogues
    long_narrative, _ = extract_dialogues_from_book(anyuta, max_narrative=1, narrative_max_chars=10, split_speakers=False)
    assert ANYUTA_VISIT in long_narrative


def test_a_lone_turn_is_not_a_dialogue_but_is_counted(anyuta):
    dialogues, report = extract_dialogues_from_book(anyuta)
    assert not any("Можно войти?" in turn for dialogue in dialogues for turn in dialogue)
    assert report.skipped["lone_turn"] >= 1
    assert all(len(dialogue) >= 2 for dialogue in dialogues)


def test_hard_wrapped_book_is_joined_into_paragraphs(books):
    dialogues, _ = extract_dialogues_from_book(books / "Tolstoy" / "Хозяин и работник.txt")
    lost_way = next(dialogue for dialogue in dialogues if "Вре?" in dialogue)
    assert lost_way[:3] == ["А что?", "А то, что мы на захаровском поле. Вон куда заехали!", "Вре?"]
    # the author's words "- сказал / Никита." are cut across a line break of the file
    assert lost_way[-1] == "А надо прямо брать, вот и все, куда-нибудь да выедем. Не в Захаровку, так на барский хутор выедем."


def test_control_bytes_become_spaces_and_are_counted(books):
    dialogues, report = extract_dialogues_from_book(books / "Tolstoy" / "Юность.txt")
    assert report.control_chars > 0
    text = "\n".join(turn for dialogue in dialogues for turn in dialogue)
    assert "\x7f" not in text
    assert "Наше дело какое? Куда седок скажет, туда и везем," not in text
    assert "Наше дело какое? Куда седок скажет, туда и везем." in text


def test_every_paragraph_of_every_book_is_kept_or_counted(books):
    for ref in find_books([books / "Chekhov", books / "Lermontov"]).books:
        for split_speakers in (False, True):
            dialogues, report = extract_dialogues_from_book(ref.path, max_narrative=1, split_speakers=split_speakers)
            assert report.paragraphs == report.turns + sum(report.skipped.values()), ref.name
            assert report.dialogues == len(dialogues) and all(len(dialogue) >= 2 for dialogue in dialogues)




@pytest.mark.parametrize(("book", "words", "speech", "speaker"), [
    ("Turgenev/Дым.txt", "проговорил Литвинов вполголоса",
     "Зачем же я стану вам рассказывать, что вы и без меня знаете?", "Литвинов"),
    ("Dostoevsky/Хозяйка.txt", "сказал Ордынов, и голос", "А за много ль счастья ты свое горе купила?", "Ордынов"),
    # speech goes on after the dash-less remark, set off by a dash
    ("Dostoevsky/Хозяйка.txt", "продажного! отвечал старик",
     "Знать, у тебя, барин, своего много продажного! что суешься непрошеный.", "старик"),
    # the dashes around "вы извините!" are the speaker's, not the author's: the remark without a dash shows it
    ("Gorky/Фома Гордеев.txt", "не умею я говорить! сказал Фома",
     "Нет! Не это... а то, что... Я — вы извините! — не умею я говорить! Необразован я...", "Фома"),
])  # fmt: skip
def test_a_remark_without_its_dash_after_a_question_or_exclamation_is_removed(books, book, words, speech, speaker):
    turn = read_turn(" ".join(line_of(books / book, words).replace("--", "—").split()))
    assert (turn.speech, turn.speaker, turn.dashless_remarks) == (speech, speaker, 1)


@pytest.mark.parametrize(("book", "words"), [
    ("Dostoevsky/Игрок.txt", "не превышают? сказал!"),  # "сказал!" is the speaker's own word
    ("Gogol/Вечера на хуторе близ Диканьки.txt", "служила тебе? сказала ли противное"),  # a question, not a remark
    ("Gogol/Мёртвые души.txt", "Как жаль мне, что нечего вам покушать! не хотите"),  # lower case after "!" is speech
])  # fmt: skip
def test_lower_case_speech_after_a_question_or_exclamation_stays(books, book, words):
    line = line_of(books / book, words)
    assert words in spoken_words(line)
    assert read_turn(" ".join(line.split())).dashless_remarks == 0


def test_the_issues_remark_after_an_exclamation_is_removed():
    assert spoken_words("— Браво! раздалось было несколько восклицаний.") == "Браво!"


def test_a_dialogue_is_split_where_a_third_named_speaker_talks(books):
    bab = books / "Chekhov" / "Бабы.txt"
    question, answer, third = (spoken_words(line_of(bab, words)) for words in
                               ("спросил Матвей Саввич", "ответил Дюдя", "вздохнула Афанасьевна"))  # fmt: skip
    together, report = extract_dialogues_from_book(bab, split_speakers=False)
    assert any([question, answer, third] == dialogue[i:i + 3] for dialogue in together for i in range(len(dialogue)))
    split, split_report = extract_dialogues_from_book(bab, split_speakers=True)
    assert [question, answer] in split
    assert any(dialogue[0] == third for dialogue in split)
    assert split_report.speaker_splits >= 1 and report.speaker_splits == 0
    assert split_report.turns + split_report.skipped["lone_turn"] == report.turns + report.skipped["lone_turn"]


def test_a_narrative_paragraph_naming_a_newcomer_ends_the_dialogue(anyuta):
    """"Анюта быстро накинула... Вошел художник Фетисов." lies between "Можно войти?" and the painter's request."""
    joined, _ = extract_dialogues_from_book(anyuta, max_narrative=1, split_speakers=False)
    assert any(dialogue[dialogue.index(ANYUTA_VISIT[0]) - 1] == "Можно войти?" for dialogue in joined if ANYUTA_VISIT[0] in dialogue)
    split, report = extract_dialogues_from_book(anyuta, max_narrative=1)
    visit = next(dialogue for dialogue in split if ANYUTA_VISIT[0] in dialogue)
    assert visit == ANYUTA_VISIT[:2]  # "начал он" (the painter), "согласился Клочков", then "проговорила Анюта": a third
    assert any(dialogue[:2] == ANYUTA_VISIT[2:] for dialogue in split)
    assert report.speaker_splits >= 2


def test_a_play_gives_dialogues_between_its_characters(books):
    dialogues, report, _ = extract_book(BookRef(str(books / "Gogol" / "Ревизор.txt")), ExtractArguments())
    assert report.layout == "play" and len(dialogues) > 50
    first = dialogues[0]
    assert first.turns[:2] == ["Я пригласил вас, господа, с тем, чтобы сообщить вам пренеприятное известие: к нам едет ревизор.",
                               "Как ревизор?"]  # fmt: skip
    assert first.speakers[:2] == ["Городничий", "Аммос Федорович"]  # "Артемий Филиппович" speaks third: cut
    assert all(len(set(d.speakers)) <= 2 for d in dialogues)


def test_quoted_speech_is_read_where_the_book_sets_dialogue_in_quotes(books):
    dialogues, report, _ = extract_book(BookRef(str(books / "Gogol" / "Нос.txt")), ExtractArguments())
    assert report.layout == "quotes"
    assert any(d.turns[:3] == ["Нет, нет, братец, не благородию; скажи-ка, что ты там делал, стоя на мосту?",
                               "Ей богу, сударь, ходил брить, да посмотрел только, шибко ли река идет.",
                               "Врешь, врешь! Этим не отделаешься. Изволь-ка отвечать!"] for d in dialogues)  # fmt: skip


@pytest.mark.parametrize(("text", "fixed"), [
    ("Ваrbаri!", "Barbari!"), ("Хорошо… Веnоnе!", "Хорошо… Benone!"), ("Пiдождить!..", "Підождить!.."),
    ("Jе ne suis", "Je ne suis"), ("Нет, нет", "Нет, нет"),
])  # fmt: skip
def test_latin_look_alikes_inside_cyrillic_words_are_made_one_script(text, fixed):
    assert fix_lookalikes(text) == (fixed, int(text != fixed))


def test_the_scans_written_for_speed_find_what_the_plain_patterns_find():
    """Author's dashes found from each dash, sentence ends tried at spaces, mixed words looked for at Latin letters:
    the same as the plain patterns on random strings of the characters they turn on."""
    import random
    import re

    from rugpt_chitchat.books.layouts import _MIXED_PAIR, _MIXED_WORD
    from rugpt_chitchat.books.remarks import sentences
    from rugpt_chitchat.books.turns import _AUTHOR_DASH, _split_at_author_dashes

    sentence_end, rng = re.compile(r"(?<=[.!?…])\s+"), random.Random(0)
    for _ in range(20_000):
        text = "".join(rng.choice(" \t\u2009,.!?…:;—–-аБZz1»") for _ in range(rng.randint(0, 14)))
        assert _split_at_author_dashes(text) == _AUTHOR_DASH.split(text)
        assert sentences(text) == sentence_end.split(text)
        assert bool(_MIXED_PAIR.search(text)) == bool(_MIXED_WORD.search(text))


@pytest.mark.parametrize(("line", "speech", "speaker"), [
    # the dash is the speaker's: "князь понимает" has its subject first and is not a remark
    ("— Я помню карнавал: когда народ, -- князь понимает: весь народ, все -- все золотильщики!",
     "Я помню карнавал: когда народ, — князь понимает: весь народ, все — все золотильщики!", None),
    # a remark with no closing dash, the speech going on after the speaker
    ("– Точно так, ваше превосходительство, – провозгласил исправник, у меня в кармане и приметы.",
     "Точно так, ваше превосходительство, у меня в кармане и приметы.", "исправник"),
    # no punctuation before the dash; an uncommon verb
    ("– De la poigne et des formes – воскликнул тучный генерал, – de la poigne surtout!",
     "De la poigne et des formes de la poigne surtout!", "тучный генерал"),
    ("— Вот вам и соловей... — усмехнулся Савка. — Дерг-дерг!", "Вот вам и соловей... Дерг-дерг!", "Савка"),
    # the author's words running on into narration
    ("- Кто там? - страшным голосом заревел капитан. Все шестеро вооруженных твердо пошли к воротам.", "Кто там?", "капитан"),
    # a pronoun and a past verb after a comma and a dash: speech (after a full stop it would be a remark)
    ("– Юлий находился в толпе, – он услышал и повторил их, – и уж, конечно, не к лучшему!",
     "Юлий находился в толпе, — он услышал и повторил их, — и уж, конечно, не к лучшему!", None),
    # an aside of the author's in brackets; closing narration that opens the next turn
    ("– Граф очень поощрял меня (произнося слова граф, она робко взглянула на Левина) – поощрял меня заняться школой.",
     "Граф очень поощрял меня — поощрял меня заняться школой.", None),
    ("-- Что ж сидишь, слезай, мы приехали. А нищий сказал:", "Что ж сидишь, слезай, мы приехали.", None),
    # issue 20's reader: a dash glued to the remark; a remark a dash closes is the author's to that dash, and an
    # apposition after the speaker too; speech after a second dash; the speaker's own aside in brackets
    ("- Разве гомеопатией попробовать...-проговорил толстяк, искоса взглянув на меня.", "Разве гомеопатией попробовать...", "толстяк"),
    ("- Нищий,-ответила Варвара, нагнулась, достала с окна медный пятак.", "Нищий.", "Варвара"),
    ("– Смотрю я на вас, – говорил Василий Иванович, покачивая головой, с фигурой турка вместо набалдашника, – смотрю.",
     "Смотрю я на вас, смотрю.", "Василий Иванович"),
    ("– Ах, вуй, мсье Вердие, – простонала другая, родом прямо уже из Арзамаса.", "Ах, вуй, мсье Вердие.", "другая"),
    ("— Отчего редки? — говаривал приказчик, — пропали! и черви проточили, — пропали, пани, пропали.",
     "Отчего редки? пропали! и черви проточили, — пропали, пани, пропали.", "приказчик"),
    ("– Еще в прошлом году (тогда еще я держал руку этого неверного народа) мне говорил игумен.",
     "Еще в прошлом году (тогда еще я держал руку этого неверного народа) мне говорил игумен.", None),
    ("– Это дьяк! – произнес изумившийся более всех Чуб.", "Это дьяк!", "Чуб"),
    ("– Полно, – поцеловал ее Лаврецкий.", "Полно.", "Лаврецкий"),
    # narration after a sentence and a dash: a person named by a noun, then a past verb that agrees with it
    ("– Разве я тебя просил говорить про это? – И воздушная красавица задрожала. – Где теперь пани твоя?",
     "Разве я тебя просил говорить про это? Где теперь пани твоя?", "воздушная красавица"),
    ("– Что за притча? – Старое вымерло, а молодое не нарождается!", "Что за притча? — Старое вымерло, а молодое не нарождается!", None),
    # a voice is not a speaker: its owner is (`голос Ирины`), or nobody named (`его голос`)
    ("– Ну! – послышался вкрадчивый голос Ирины.", "Ну!", "Ирина"),
    ("– Нет, не умею, – раздался его голос из-за тростника.", "Нет, не умею.", None),
    # the author's words run on after the speaker: an infinitive clause, a participle after an adverb
    ("– Ты видишь, что я еще не умывался, – продолжал Черевик, зевая и стараясь, между прочим, выиграть время для своей лени.",
     "Ты видишь, что я еще не умывался.", "Черевик"),
    ("– За котенка – ручку, – проговорил гусар, передернув всем своим могучим телом, туго затянутым в новый мундир.",
     "За котенка — ручку.", "гусар"),
])  # fmt: skip
def test_speech_and_the_authors_words_are_told_apart_by_the_language(line, speech, speaker):
    turn = read_turn(clean_turn(line))
    assert (turn.speech, turn.speaker) == (speech, speaker)


def test_narration_opening_with_a_dash_is_no_turn():
    assert read_turn("— грустно запели два красивых голоса.").problem == "not_speech"


def test_a_thought_is_no_turn():
    line = "– Тут нет никакого сомнения. Но ужели… – думал Кирила Петрович, расхаживая по комнате. – Может быть, я нашел."
    assert read_turn(clean_turn(line)).problem == "not_speech"


def test_the_narrator_is_a_third_speaker_beside_two_named_people():
    paragraphs = [
        "— Василиса Егоровна прехрабрая дама, — заметил важно Швабрин. — Иван Кузмич может это засвидетельствовать.",
        "— Да, слышь ты, — сказал Иван Кузмич, — баба-то не робкого десятка.",
        "— А Марья Ивановна? — спросил я, — так же ли смела, как и вы?",
        "— Смела ли Маша? — отвечала ее мать. — Нет, Маша трусиха.",
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.speakers for d in dialogues] == [["Швабрин", "Иван Кузмич"], ["я", "мать"]]


def test_a_play_line_with_a_stage_direction_after_the_name_is_a_turn():
    assert play_line("Бобчинский (перебивая). Приходим с Петром Ивановичем") == ("Бобчинский", "Приходим с Петром Ивановичем")
    assert play_line("Осип (принимая деньги.) А покорнейше благодарю.") == ("Осип", "А покорнейше благодарю.")
    assert play_line("Хлестаков (пишет). А что? (Вслух.) Да.") == ("Хлестаков", "А что? Да.")


def test_a_play_line_said_aside_or_to_the_audience_is_no_turn_but_for_what_is_said_aloud():
    assert play_line("Лука Лукич (к зрителям). Ей-богу, и в рот никогда не брал луку.") is None
    assert play_line("Аммос Федорович (раскланиваясь и уходя, в сторону.) Ну, город наш!") is None
    assert play_line("Городничий (в сторону). Не знал, чем заплатить? (Вслух.) Куда ехать изволите?") == ("Городничий", "Куда ехать изволите?")


def test_the_next_speaker_named_by_a_closing_narration_ends_the_dialogue_when_a_newcomer():
    paragraphs = [
        "— Какими злодеями? — спросил грозно Пугачев.",
        "— Виноват: обмолвился, — отвечал Савельич. — Злодеи не злодеи, а твои ребята таки пошарили.",
        "— Дочитывай, — сказал Пугачев. Секретарь продолжал:",
        "— «Одеяло ситцевое, другое тафтяное на хлопчатой бумаге четыре рубля.",
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.speakers for d in dialogues] == [["Пугачев", "Савельич", "Пугачев"]]


def test_dictionary_words_are_parsed_as_pymorphy3_parses_them():
    from rugpt_chitchat.books.remarks import _analyzer, _dictionary_parses

    morph = _analyzer()
    for word in ("сказал", "стекло", "ежик", "ёжик", "мама", "кто-то", "поди", "течь", "вы"):
        ours = [(p.tag, p.score, p.normal_form, p.is_known) for p in _dictionary_parses(morph, word)]
        assert ours == [(p.tag, p.score, p.normal_form, p.is_known) for p in morph.parse(word)]
    assert _dictionary_parses(morph, "кудрявенькуля") == []  # not in the dictionary: pymorphy3's guesses instead


def test_a_crowd_shouting_is_no_one_of_the_two_and_its_turn_is_dropped():
    from rugpt_chitchat.books.remarks import remark_head

    paragraphs = [
        "— Куда ты идешь? — спросил Петр.",
        "— Домой, — отвечала Маша.",
        "— Держи его! — закричали с другого конца улицы.",
        "— Кого держать? — спросил Петр.",
        "— Вора, — отвечала Маша.",
    ]
    report = BookReport("book")
    dialogues = group_dialogues(paragraphs, report)
    assert [d.speakers for d in dialogues] == [["Петр", "Маша"], ["Петр", "Маша"]]
    assert report.skipped["crowd"] == 1
    assert remark_head("закричала вся толпа.").gender == "plur"


def test_someone_speaking_to_the_narrator_after_another_spoke_to_him_is_a_third_speaker():
    paragraphs = [
        "— Ну что? — спросил я доктора.",
        "— Ничего, микстуру прописал, — отвечал толстяк и ушел. Я вошел к больному.",
        "— Видел ты здешнего эскулапа? — спросил он меня.",
        "— Видел, — отвечал я.",
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.turns for d in dialogues] == [["Ну что?", "Ничего, микстуру прописал."], ["Видел ты здешнего эскулапа?", "Видел."]]


def test_a_remark_in_the_present_between_two_dashes_is_the_authors():
    line = "– Дочь, Христа ради! – Она не слушает и идет. – Дочь, ради несчастной матери!… – Она остановилась. – Приди!"
    assert spoken_words(line) == "Дочь, Христа ради! Дочь, ради несчастной матери!… Приди!"
    assert spoken_words("– Ступай! – Она придет. – Вот увидишь.") == "Ступай! — Она придет. — Вот увидишь."  # the future: speech


def test_a_turn_said_meanwhile_answers_no_one():
    paragraphs = [
        "— Ну, полно, — шепнул Аркадий.",
        "— Смотрю я на вас, — говорил между тем Василий Иванович.",
        "— Вон куда метнул! — промолвил Базаров.",
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.speakers for d in dialogues] == [["Василий Иванович", "Базаров"]]


def test_long_lines_with_no_remark_and_no_question_are_one_persons_monologue():
    line = "— Я призван для того, чтобы распутать узлы всех заблуждений и ошибок, связавшие запуганных людей в кровавый и противный ком животных, взаимно пожирающих друг друга!"
    report = BookReport("book")
    lines = [line, line.replace("призван", "создан"), line.replace("Я", "И я"), line.replace("ком", "клубок"), line[:-1] + "."]
    assert group_dialogues(lines, report) == []
    assert report.skipped["monologue"] == 5
    assert len(group_dialogues(["— Ты куда?", "— Домой.", "— Зачем?", "— Спать.", "— Ну иди."], BookReport("book"))) == 1


@pytest.mark.parametrize("remark", ["пробило два часа.", "протянул обе руки.", "прошептали ее губы."])
def test_things_are_not_speakers(remark):
    from rugpt_chitchat.books.remarks import remark_head

    head = remark_head(remark)
    assert head is not None and head.speaker is None and head.gender != "plur"


@pytest.mark.parametrize(
    "line, speech",
    [
        ("– Полно, – не спеша перебил его Базаров. – Врачу непозволительно так говорить.", "Полно. Врачу непозволительно так говорить."),
        ("— Ой-ой-ой! — И Степан с невольной усмешкой пожался и потер себе затылок. — Да, — прибавил он, — рука у него.",
         "Ой-ой-ой! Да, рука у него."),
        ("– Это будет… – здесь герой наш одну секунду, не более, подумал и сказал вдруг: – это будет двадцать четыре рубля!",
         "Это будет… это будет двадцать четыре рубля!"),
        ("– А он пришел, – а я ему и сказал: – ступай.", "А он пришел, — а я ему и сказал: — ступай."),  # the speaker's own `я`
    ],
)
def test_remarks_opening_with_a_gerund_a_phrase_before_the_verb_or_ending_with_a_colon(line, speech):
    assert spoken_words(line) == speech


def test_a_turn_the_remark_turns_to_someone_else_starts_a_new_dialogue():
    paragraphs = [
        "– Точно так-с, – промолвил Петр.",
        "– Куда это они едут, в город, что ли?",
        "– Полагать надо, что в город, – прибавил он.",
        "– Хлопоты у меня большие с мужиками, – продолжал Николай Петрович, обращаясь к сыну. – Что ты будешь делать?",
        "– А своими наемными работниками ты доволен?",
        "– Я гляжу в небо, – проворчал Николай Петрович и, обратившись к Петру, прибавил: – Жаль.",  # only what follows
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [len(d.turns) for d in dialogues] == [3, 3]


def test_a_play_line_spoken_aside_midway_or_bringing_in_a_newcomer():
    assert play_line("Городничий. Я здесь напишу. (Пишет и в то же время говорит про себя.) А вот посмотрим!") == ("Городничий", "Я здесь напишу.")
    paragraphs = [
        "Хлестаков. Да зачем же?",
        "Городничий. Я здесь напишу. (Отдает записку, и подслушивавший Бобчинский летит на сцену.)",
        "Хлестаков. Что? Не ушиблись ли вы где-нибудь?",
        "Бобчинский. Ничего, ничего-с.",
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"), layout="play")
    assert [d.speakers for d in dialogues] == [["Хлестаков", "Городничий"], ["Хлестаков", "Бобчинский"]]


def test_narration_run_on_after_a_question_is_the_authors_and_ends_the_dialogue():
    paragraphs = [
        "– Ну вот, ты это и опиши.",
        "– Что же в этом ты находишь смешного? Полозов только глазами повел. Сок от апельсина тек по его подбородку.",
        "– Это твоя жена тебя посылала? – спросил Санин спустя немного времени.",
        "– Она самая.",
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.turns for d in dialogues] == [["Ну вот, ты это и опиши.", "Что же в этом ты находишь смешного?"],
                                            ["Это твоя жена тебя посылала?", "Она самая."]]
    assert spoken_words("– Где он? Он ушел вчера.") == "Где он? Он ушел вчера."  # one sentence may be the speaker's


def test_was_is_no_remark_verb():
    assert spoken_words("– Нет, я господская… была господская.") == "Нет, я господская… была господская."


def test_a_remark_naming_someone_with_a_patronymic_is_the_authors():
    # Гоголь, «Повесть о том, как поссорился Иван Иванович с Иваном Никифоровичем»
    turn = read_turn(clean_turn("-- Не могу. Весьма благодарен. -- При этом Иван Иванович поклонился и сел."))
    assert (turn.speech, turn.speaker) == ("Не могу. Весьма благодарен.", "Иван Иванович")


def test_a_word_the_authors_aside_quotes_does_not_make_it_speech():
    # Тургенев, «Вешние воды»: the aside quotes «ты», and is the author's all the same
    line = ("– О Джемма! – воскликнул Санин, – мог ли я думать, что ты (сердце в нем затрепетало, как струна, когда его "
            "губы в первый раз произнесли это «ты») – что ты меня полюбишь!")
    assert read_turn(clean_turn(line)).speech == "О Джемма! мог ли я думать, что ты — что ты меня полюбишь!"
