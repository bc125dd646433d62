"""Turns and dialogues from real passages of the real books: author's words, dash-less remarks, speakers."""

from __future__ import annotations

from pathlib import Path

import pytest

from rugpt_chitchat.books.layouts import fix_lookalikes, play_line
from rugpt_chitchat.books.turns import BookReport, clean_turn, group_dialogues, paragraph_turn, read_turn, spoken_words
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


@pytest.mark.parametrize(("line", "speech"), [
    ("– Смотри, Остап! – говорю я брату, – вон чумаки едут!", "Смотри, Остап! вон чумаки едут!"),  # Гоголь, «Вечера на хуторе»
    ("— Грешен!! — шепчу я. — Ох, как грешен!..", "Грешен!! Ох, как грешен!.."),
    ("— Ну, — знаю я вас!", "Ну, — знаю я вас!"),  # not a verb of saying: speech
])  # fmt: skip
def test_the_narrators_remark_in_the_present_is_the_authors(line, speech):
    turn = read_turn(clean_turn(line))
    assert turn.speech == speech and turn.speaker == ("я" if "знаю" not in line else None)


def test_a_name_after_a_rank_is_the_speaker_even_where_it_reads_as_a_thing():
    # Гоголь, «Невский проспект»: `пирогов` is also pies, the genitive plural of a thing
    turn = read_turn(clean_turn("-- Вас видеть, больше ничего мне не угодно, -- произнес поручик Пирогов, довольно приятно улыбаясь."))
    assert turn.speaker == "поручик Пирогов"


def test_narration_an_edition_left_in_a_turn_is_the_authors_when_it_tells_of_someone_in_the_scene():
    # Тургенев, «Дворянское гнездо»: the edition lost the paragraph break before the author's words
    paragraphs = [
        "– Вы рассеянны и забывчивы, как все светские люди, – промолвила Лиза, – вот и все. Паншин немного нахмурился.",
        "– Послушайте, – сказал он, – не будемте больше говорить обо мне.",
        "– Начнем, пожалуй, – сказала Лиза.",
    ]
    dialogues = group_dialogues(["– Ну, а вы? – промолвил Паншин.", *paragraphs], BookReport("book"))
    assert [d.turns for d in dialogues] == [["Ну, а вы?", "Вы рассеянны и забывчивы, как все светские люди, вот и все."],
                                            ["Послушайте, не будемте больше говорить обо мне.", "Начнем, пожалуй."]]
    # a story the speaker tells of someone not in the scene stays speech
    story = ["– Ты с ним ушла? – спросил Петр.", "– Нет, не с ним. Мамаша ушла с другим от дедушки, а тот ее и оставил.", "– Вот как."]
    assert group_dialogues(story, BookReport("book"))[0].turns[1].startswith("Нет, не с ним. Мамаша ушла")


def test_a_turn_the_remark_says_is_said_to_someone_else_does_not_answer_the_turn_before():
    from rugpt_chitchat.books.remarks import remark_head

    # Гоголь, «Тарас Бульба»: Янкель speaks twice, the second time to a guard
    paragraphs = [
        "— Это мы, это я, это свои! — говорил Янкель, встречаясь со всяким.",
        "— А что, можно теперь? — спросил он одного из стражей, когда они наконец подошли к тому месту.",
        "— Можно; только не знаю, пропустят ли вас, — отвечал часовой.",
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.speakers for d in dialogues] == [[None, "часовой"]]
    assert remark_head("сказал товарищ прокурора.").addressee is None  # the subject's genitive, not whom he speaks to
    assert remark_head("начал он неверным голосом.").addressee is None


def test_a_play_line_said_by_all_is_no_one_of_the_two():
    # Гоголь, «Ревизор»
    paragraphs = ["Бобчинский. Чрезвычайное происшествие!", "Добчинский. Неожиданное известие!", "Все. Что, что такое?",
                  "Добчинский. Непредвиденное дело: приходим в гостиницу…", "Бобчинский (перебивая). Приходим в гостиницу…"]
    report = BookReport("book")
    dialogues = group_dialogues(paragraphs, report, layout="play")
    assert [d.speakers for d in dialogues] == [["Бобчинский", "Добчинский"], ["Добчинский", "Бобчинский"]]
    assert report.skipped["crowd"] == 1


def test_narration_an_edition_left_unpunctuated_is_not_speech():
    # Тургенев, «Вешние воды»: a paragraph cut off before its last words, set off by a dash; a full stop left out
    paragraphs = [
        "– Деньги нужны, брат. Я бы дешево продал.",
        "Полозов проглотил стакан вина, уперся салфеткой и опять принялся жевать",
        "– медленно и шумно.",
        "– Н-да, – проговорил он наконец.",
        "– Неужели же твоя жена сама распоряжается… по хозяйству? – спросил Санин.",
        "– Сама. Я сказал тебе, Дмитрий Павлович, что ни в какие женины дела я не вхожу, и теперь тебе то же повторяю Полозов продолжал чавкать",
        "– Гм… Но как я с ней переговорить могу?",
    ]
    report = BookReport("book")
    dialogues = group_dialogues(paragraphs, report)
    assert [d.turns for d in dialogues] == [["Н-да.", "Неужели же твоя жена сама распоряжается… по хозяйству?",
                                             "Сама. Я сказал тебе, Дмитрий Павлович, что ни в какие женины дела я не вхожу, и теперь тебе то же повторяю"]]
    assert report.skipped["not_speech"] == 1


def test_narration_glued_to_speech_or_about_a_speaker_the_book_named_before_is_the_authors():
    # Тургенев, «Дым»: no space after the speech; «Дворянское гнездо»: Лемм, a name the dictionary reads as `лемма`
    line = "– Вам весело, – сказал Литвинов, – но это не мешает мне видеть подобные штучки…Он указал на двух проходивших лореток."
    assert spoken_words(line) == "Вам весело, но это не мешает мне видеть подобные штучки…"
    paragraphs = [
        "– Этого не будет! – воскликнул Лемм.",
        "– Почему?",
        "Лаврецкому стало жаль старика.",
        "– Как вы думаете, Христофор Федорыч, – сказал, между прочим, Лаврецкий, – не пригласить ли ее? Лемм наклонил голову над тарелкой.",
        "– Пригласите, – проговорил он чуть слышно.",
        "– А Паншина не надобно?",
    ]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.speakers for d in dialogues] == [["Лемм", None], [None, None]]
    assert dialogues[0].turns == ["Этого не будет!", "Почему?"]
    assert read_turn(clean_turn(paragraphs[3])).speaker == "Лаврецкий"  # a name after a phrase set off by commas


def test_a_thought_a_remark_brings_in_is_not_speech():
    # Гоголь, «Вечера на хуторе близ Диканьки», «Иван Федорович Шпонька и его тетушка»
    line = ("– Узнаешь, Иван Федорович, узнаешь, – промолвила, улыбаясь, тетушка и подумала про себя: – «Куды ж! ще зовсим "
            "молода дытына, ничего не знает!» – Да, Иван Федорович! – продолжала она вслух, – лучшей жены нельзя сыскать тебе.")
    assert spoken_words(line) == "Узнаешь, Иван Федорович, узнаешь. Да, Иван Федорович! лучшей жены нельзя сыскать тебе."


def test_narration_breaking_off_speech_that_picks_up_again_with_the_same_word_is_the_authors():
    # Гоголь, «Повесть о том, как поссорился Иван Иванович с Иваном Никифоровичем»
    line = ("-- Да, не нашего балыка, которым, -- при этом судья сделал языком и улыбнулся, причем нос понюхал свою "
            "всегдашнюю табакерку, -- которым угощает наша бакалейная миргородская лавка.")
    assert spoken_words(line) == "Да, не нашего балыка, которым, которым угощает наша бакалейная миргородская лавка."
    assert spoken_words("– Подруги, – друзья и подруги любят укусить, – подруги!") == "Подруги, — друзья и подруги любят укусить, — подруги!"


def test_a_stage_direction_naming_someone_by_a_word_of_the_name_brings_in_no_newcomer():
    paragraphs = ["Анна Андреевна. Помилуйте, я никак не смею.", "Хлестаков. Если б, признаюсь, не такой случай, "
                  "который меня… (посматривает на Анну Андреевну и рисуется перед ней) так вознаградил за все…",
                  "Анна Андреевна. В самом деле, как вам должно быть неприятно."]
    assert len(group_dialogues(paragraphs, BookReport("book"), layout="play")[0].turns) == 3


def test_an_unclosed_remark_goes_on_through_a_clause_in_an_oblique_case():
    # Тургенев, «Ася»: the clause after the comma continues `в плисовом жилете`, it does not start speech again
    line = "– Что это? – спросил я у подошедшего ко мне старика в плисовом жилете, синих чулках и башмаках с пряжками."
    assert spoken_words(line) == "Что это?"
    assert spoken_words("– Ну да, – возразил тучный генерал и сморщил нос, дело известное.") == "Ну да, дело известное."


@pytest.mark.parametrize(("lines", "speakers"), [
    # both congratulate Марья Антоновна, neither answers the other
    (["Городничий. Ну, что?", "Добчинский. Марья Антоновна! Честь имею поздравить.",
      "Бобчинский (перебивая). Марья Антоновна, имею честь поздравить!"], [["Городничий", "Добчинский"]]),
    # `Анна Андреевна (дочери).` after Хлестаков's line speaks to her daughter
    (["Хлестаков (вставая) А, черт возьми!", "Анна Андреевна (дочери). Это что значит, сударыня!",
      "Марья Антоновна. Я, маменька…"], [["Анна Андреевна", "Марья Антоновна"]]),
])  # fmt: skip
def test_a_play_line_said_to_someone_other_than_the_last_speaker_does_not_answer_him(lines, speakers):
    # Гоголь, «Ревизор»: two lines calling the same third person, or a direction naming another addressee
    assert [d.speakers for d in group_dialogues(lines, BookReport("book"), layout="play")] == speakers


def test_two_people_sharing_a_first_name_are_two_and_a_figure_has_no_sex():
    from rugpt_chitchat.books.remarks import remark_head
    from rugpt_chitchat.books.speakers import surely_same

    assert not surely_same(("Иван Иванович", "masc"), ("Иван Никифорович", "masc"))  # Гоголь
    assert surely_same(("Иван Иванович", "masc"), ("Иван Ивановича", None))
    assert remark_head("сказала, подходя ко мне, черная фигура.").gender is None  # Толстой, «Рубка леса»: Максимов


def test_a_thought_told_with_no_dash_is_the_speakers_own():
    # Тургенев, «Дворянское гнездо»: Марфа Тимофеевна tells what she once thought
    line = ("– Уж на что я, бывало, завидовала мухам: вот, думала я, кому хорошо на свете пожить; да услыхала раз ночью, как "
            "муха у паука в лапках ноет, – нет, думаю, и на них есть гроза.")
    assert read_turn(clean_turn(line)).speech.startswith("Уж на что я, бывало, завидовала мухам: вот, думала я, кому хорошо")


def test_a_remark_opening_with_a_participle_phrase_set_off_by_commas_is_the_authors():
    # Гоголь, «Ночь перед Рождеством»
    line = ("– Может быть, ты кого-нибудь спрятала уже, а? – И, восхищенный таким своим замечанием, Чуб засмеялся, "
            "внутренно торжествуя. – Ну, Солоха, дай теперь выпить водки.")
    turn = read_turn(clean_turn(line))
    assert (turn.speech, turn.speaker) == ("Может быть, ты кого-нибудь спрятала уже, а? Ну, Солоха, дай теперь выпить водки.", "Чуб")


def test_a_play_line_aside_with_a_capital_and_the_same_words_twice_are_no_exchange():
    # Гоголь, «Ревизор»
    assert play_line("Аммос Федорович (поспешно.) Как же-с, с большим удовольствием. (В сторону.) Ну, смелее!") == (
        "Аммос Федорович", "Как же-с, с большим удовольствием.")
    paragraphs = ["Почтмейстер. Как же бы я стал писать?", "Артемий Филиппович. Читайте!", "Лука Лукич. Читайте!"]
    dialogues = group_dialogues(paragraphs, BookReport("book"), layout="play")
    assert [d.speakers for d in dialogues] == [["Почтмейстер", "Артемий Филиппович"]]


def test_a_sentence_of_narration_set_off_by_dashes_after_a_sentence_is_the_authors():
    # Гоголь, «Мёртвые души»: 93 turns of the shelf had such a sentence kept
    line = "– А покажите-ка, Фома Большой, осетра. – Два здоровых мужика вытащили из кадушки какое-то чудовище. – Каков князек?"
    assert spoken_words(line) == "А покажите-ка, Фома Большой, осетра. Каков князек?"
    assert spoken_words("– Где он? – Ушел. – Куда?") == "Где он? — Ушел. — Куда?"  # a verb first: speech


def test_a_bracketed_sentence_of_the_authors_in_the_present_is_not_speech():
    # Тургенев, «Дым» and «Записки охотника»: a general remark of the author's, a capital to a full stop
    line = "– Теперь можно приступить к операции рака. Ха, ха, ха! (Русские люди всегда первые смеются собственным остротам.)"
    assert spoken_words(line) == "Теперь можно приступить к операции рака. Ха, ха, ха!"
    assert spoken_words("– Еще лучше! (Это все тот голос.)") == "Еще лучше!"
    assert spoken_words("– Видите (я вам говорю правду) это все.") == "Видите (я вам говорю правду) это все."


def test_a_story_told_in_the_present_after_a_comma_is_speech_not_a_remark_missing_its_dash():
    # Тургенев, «Дым»: Потугин's story lost its middle (`Гляжу, неизвестно.`); `скоро, проговорила она ..., –`
    # with the opening dash missing is still a remark
    story = ("– Гляжу, сидит на поляне перед избушкой купеческий приказчик, свежий и ядреный, как лущеный орех, сидит, "
             "ухмыляется, чему – неизвестно.")
    assert spoken_words(story) == ("Гляжу, сидит на поляне перед избушкой купеческий приказчик, свежий и ядреный, как "
                                   "лущеный орех, сидит, ухмыляется, чему — неизвестно.")
    remark = ("– Мы еще увидимся с вами, Григорий Михайлович, и, я надеюсь, скоро, проговорила она по-французски, "
              "презрительно перебивая мужнину речь, – а теперь я должна идти одеваться.")
    assert spoken_words(remark) == "Мы еще увидимся с вами, Григорий Михайлович, и, я надеюсь, скоро, а теперь я должна идти одеваться."


def test_a_footnote_number_flattened_after_the_last_sentence_is_dropped():
    # Пушкин, «Египетские ночи»
    assert spoken_words("— Signor, — отвечал иностранец с низкими поклонами, — Lei voglia perdonarmi se... 2") == (
        "Signor. Lei voglia perdonarmi se...")
    assert spoken_words("— Сколько их было? Двадцать 2") == "Сколько их было? Двадцать 2"


def test_another_speaker_called_another_is_a_third_speaker():
    # Гоголь, «Вий»: `сказал другой` after the овчар and Дорош is neither of them; `один`/`другой` of two talk
    paragraphs = ["— Правда ли, — сказал один молодой овчар, — правда ли, что панночка зналась с нечистым?",
                  "— Кто? панночка? — сказал Дорош. — Да она была целая ведьма!",
                  "— Полно, полно, Дорош! — сказал другой, который во время дороги изъявлял большую готовность утешать."]
    assert [d.speakers for d in group_dialogues(paragraphs, BookReport("book"))] == [["один молодой овчар", "Дорош"]]
    pair = ["— Ты куда? — спросил один.", "— Домой, — ответил другой.", "— А я в город."]
    assert [len(d.turns) for d in group_dialogues(pair, BookReport("book"))] == [3]


def test_narration_after_a_gerund_and_its_subject_and_speech_an_edition_left_undashed():
    # Гоголь, «Мёртвые души» and «Тарас Бульба»; Пушкин, «Дубровский» (no dash after `Кирила Петрович`)
    assert spoken_words("– Кнута не видишь, такая потьма! – Сказавши это, он так покосил бричку, что Чичиков принужден "
                        "был держаться обеими руками.") == "Кнута не видишь, такая потьма!"
    assert spoken_words("– Не доведут тебя бабы до добра! – Сказавши это, он оперся головою на локоть.") == (
        "Не доведут тебя бабы до добра!")
    line = ("– Люблю молодца за искренность, – сказал Кирила Петрович, а жаль покойного нашего исправника – кабы не "
            "сожгли его, так в околодке было бы тише. А что слышно про Дубровского? где его видели последний раз?")
    assert spoken_words(line) == ("Люблю молодца за искренность, а жаль покойного нашего исправника — кабы не сожгли его, "
                                  "так в околодке было бы тише. А что слышно про Дубровского? где его видели последний раз?")


def test_a_first_name_called_that_the_other_side_was_not_called_by_brings_in_a_third_speaker():
    # Тургенев, «Дворянское гнездо»: Марфа Тимофеевна talks with Лиза, sends Шурочка out; Шурочка answers
    paragraphs = ["– Лиза, Лизочка, – хлопотливо заговорила Марфа Тимофеевна, – куда ты мою книжку положила?",
                  "– Какую книжку, тетенька?", "– Да, ведь она на все руки. Шурочка, я вижу, тебе по саду бегать хочется.",
                  "– Да нет, Марфа Тимофеевна…", "– Не рассуждай, пожалуйста, ступай.", "– Позвольте, я поищу, – промолвила Лиза.",
                  "Марфа Тимофеевна удалилась."]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [len(d.turns) for d in dialogues] == [3, 2]  # Лиза's `Позвольте` is cut off from Шурочка's exchange
    # the same person called by another form of the name is no one new (`Алеша` ... `Леша`, `Петя` ... `Пётр`)
    same = ["– Алеша, а тот-то? – спросил он.", "– Никто ее не видал.", "– Леша, утоли ты мое сердце, скажи правду!",
            "– Вы все про то? – горестно проговорил Алеша."]
    assert [len(d.turns) for d in group_dialogues(same, BookReport("book"))] == [4]


def test_a_remark_opening_with_a_prepositional_phrase_or_a_comparison_is_the_authors():
    # Достоевский, «Братья Карамазовы»; Гоголь, «Мёртвые души»: 31 turns of the shelf lost such remarks
    assert spoken_words("– Прииски? Золотые прииски! – изо всей силы закричал Митя и закатился смехом. – Хотите, "
                        "Перхотин, на прииски?") == "Прииски? Золотые прииски! Хотите, Перхотин, на прииски?"
    assert spoken_words("– Irene? – в третий раз спросила дама в желтой шляпке.") == "Irene?"
    assert spoken_words("– Вот я тебя палашом! – И, как призрак, исчезнула с громом и пылью тройка.") == "Вот я тебя палашом!"


def test_lips_that_whisper_are_one_person_in_the_present_too():
    # Тургенев, «Стихотворения в прозе»: `шепчут ее губы` was left in the speech
    for line in ("– Какая моя вина? — шепчут ее губы.", "– Не знаю, – прошептали ее губы."):
        turn = read_turn(clean_turn(line))
        assert turn.speech in ("Какая моя вина?", "Не знаю.") and turn.gender is None


def test_closing_narration_about_a_speakers_hands_or_face_is_the_authors():
    # Тургенев, «Яков Пасынков»: an edition left `Руки Софьи ... задрожали` in the narrator's turn
    paragraphs = ["– Я вас не понимаю, – проговорила Софья.",
                  "– А главное, я никак не мог вообразить, что вы уже умеете так мастерски разыгрывать роль... Руки "
                  "Софьи слегка задрожали над клавишами.", "– Что вы это говорите? я разыгрываю роль?"]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.turns for d in dialogues] == [["Я вас не понимаю.", "А главное, я никак не мог вообразить, что вы уже "
                                             "умеете так мастерски разыгрывать роль..."]]


def test_a_dash_with_no_punctuation_before_a_thing_doing_something_is_the_speakers():
    # Тургенев, «Вешние воды»: eight words after `– до некоторой степени –` were lost as a remark
    line = ("– Ваша матушка, – заговорил Санин, – сказала мне, что на мне – до некоторой степени – лежала обязанность "
            "уговорить вас не отказывать вашему жениху…")
    assert spoken_words(line).endswith("на мне — до некоторой степени — лежала обязанность уговорить вас не отказывать вашему жениху…")
    assert spoken_words("– А у нас одного солдатика нет, Николай Петрович - сказала, подходя ко мне, черная фигура.") == (
        "А у нас одного солдатика нет, Николай Петрович")


def test_narration_going_on_after_a_remark_and_its_dash_is_the_authors():
    # Пушкин, «Дубровский»: `и толпа стала напирать…` was left in the crowd's line; `– и ты увидишь` is speech
    assert spoken_words("– Ребята, вязать?, – закричал тот же голос, – и толпа стала напирать…") == "Ребята, вязать?"
    assert spoken_words("– Ступай, – сказал он, – и ты увидишь.") == "Ступай, и ты увидишь."


def test_the_speaker_is_not_a_prepositional_phrase_nor_the_one_spoken_to():
    # Тургенев, «Отцы и дети»: the speaker was `ночь Базаров Аркадию`
    turn = read_turn(clean_turn("– Знаешь ли что? – говорил в ту же ночь Базаров Аркадию. – Мне в голову пришла мысль."))
    assert (turn.speaker, turn.addressee) == ("Базаров", "Аркадий")
    assert read_turn(clean_turn("– Смотрю я на вас, – говорил между тем Василий Иванович.")).speaker == "Василий Иванович"


def test_quoted_pieces_around_a_remark_are_joined_as_sentences():
    # Гоголь, «Нос»: «Ничего решительно не понимаю», — отвечал нос. «Изъяснитесь…» lost the full stop between
    turn = paragraph_turn("«Ничего решительно не понимаю», — отвечал нос. «Изъяснитесь удовлетворительнее.»", "quotes")
    assert turn.speech == "Ничего решительно не понимаю. Изъяснитесь удовлетворительнее."


def test_a_later_remark_turning_the_speaker_to_someone_else_ends_the_exchange():
    # Тургенев, «Отцы и дети»: Петр, then Базаров answering him and turning to Павел Петрович, who answers
    paragraphs = ["– Евгений Васильич, – с трудом пролепетал Петр, – воля ваша, я отойду.",
                  "– Отойди, братец, отойди. Шесть… семь… – Базаров остановился. – Довольно? – промолвил он, обращаясь "
                  "к Павлу Петровичу, – или еще два шага накинуть?",
                  "– Как угодно, – проговорил тот.",
                  "– Ну, накинем еще два шага."]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.speakers for d in dialogues] == [["Петр", "Базаров"], [None, None]]


def test_narration_about_an_unnamed_speaker_the_book_named_before_closes_the_turn():
    # Тургенев, «Дворянское гнездо»: `Лиза опять взглянула на него.` was left in Лаврецкий's turn
    paragraphs = ["– Здравствуйте, – сказала Лиза.", "Они помолчали.",
                  "– Уж не собираетесь ли вы выйти за Паншина? – спросил он.", "– О нет! – промолвила она.",
                  "– Ах, Лиза, Лиза! – воскликнул Лаврецкий, – как бы мы могли быть счастливы! Лиза опять взглянула на него.",
                  "– Теперь вы сами видите, что счастье зависит не от нас."]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert dialogues[0].turns == ["Уж не собираетесь ли вы выйти за Паншина?", "О нет!",
                                  "Ах, Лиза, Лиза! как бы мы могли быть счастливы!"]


def test_someone_called_by_name_who_does_not_answer_and_several_called_at_once_end_the_exchange():
    # Гоголь, «Ревизор»: two guests greeting the host are no exchange; Тургенев, «Отцы и дети»: `Господа, господа`
    play = ["Аммос Федорович. Верить ли слухам, Антон Антонович? к вам привалило необыкновенное счастие?",
            "Артемий Филиппович. Имею честь поздравить с необыкновенным счастием."]
    assert group_dialogues(play, BookReport("book"), layout="play") == []
    paragraphs = ["– А хоть бы и так? – воскликнул Базаров.", "– Нет, вы не русский!", "– Мой дед землю пахал.",
                  "– Господа, господа, пожалуйста, без личностей! – воскликнул Николай Петрович."]
    assert [len(d.turns) for d in group_dialogues(paragraphs, BookReport("book"))] == [3]


def test_narration_bringing_in_more_speech_after_a_sentence_is_the_authors_and_an_infinitive_is_no_speaker():
    # Пушкин, «Капитанская дочка»: `подошед` (an old gerund the dictionary reads as a noun) was left in Пугачев's
    # speech; Гоголь, «Невский проспект»: the speaker was `произнесть`
    assert spoken_words("— Хорош у тебя лазарет! — Потом, подошед к Марье Ивановне: — Скажи мне, голубушка, за что?") == (
        "Хорош у тебя лазарет! Скажи мне, голубушка, за что?")
    assert spoken_words("– Я? – Рыбин взглянул на нее, помолчал и повторил: – От господ надо дальше.") == "Я? От господ надо дальше."
    turn = read_turn(clean_turn("– Вас ненавидеть! я...- хотел было произнесть совершенно потерявшийся Пискарев."))
    assert turn.speech == "Вас ненавидеть! я..." and turn.speaker.endswith("Пискарев")


def test_a_remark_running_on_with_a_time_phrase_or_naming_the_speaker_late_is_the_authors():
    # Тургенев, «Стихотворения в прозе»; Гоголь, «Мёртвые души»: both were left in the speech
    assert spoken_words("– А теперь? – спрашивает Юнгфрау, спустя другие тысячи лет – одну минуту.") == "А теперь?"
    assert spoken_words("– Вы всегда в деревне проводите время? – сделал наконец, в свою очередь, вопрос Чичиков.") == (
        "Вы всегда в деревне проводите время?")
    # speech resuming after the remark without its dash stays (`у меня` is the speaker's)
    assert spoken_words("– Точно так, – провозгласил исправник, у меня в кармане и приметы.").endswith("у меня в кармане и приметы.")


def test_words_a_later_remark_says_are_said_to_someone_else_are_dropped_and_counted():
    # Гоголь, «Ночь перед Рождеством»: `Проси!` is whispered to the devil, not said to the Cossacks
    paragraphs = ["– Тебя? – произнес запорожец. – Что ты будешь там делать? Нет, не можно.",
                  "– Возьмите! – настаивал кузнец. – Проси! – шепнул он тихо черту, ударив кулаком по карману.",
                  "– Возьмем его, в самом деле, братцы!"]
    report = BookReport("book")
    dialogues = group_dialogues(paragraphs, report)
    assert [d.turns for d in dialogues] == [["Тебя? Что ты будешь там делать? Нет, не можно.", "Возьмите!"]]
    assert report.tails_said_to_another == 1
    # said to the one who answers: kept whole
    same = ["– Тебя? – произнес запорожец.", "– Возьмите! – настаивал кузнец. – Возьмите! – повторил он запорожцу."]
    assert group_dialogues(same, BookReport("book"))[0].turns[1] == "Возьмите! Возьмите!"


def test_a_play_line_turning_to_someone_midway_keeps_only_what_it_said_before():
    # Гоголь, «Ревизор»: `(Обращаясь к Осипу.) Ну, друг…` was kept in the Городничий's answer to Анна Андреевна
    lines = ["Городничий. Чш! (Поднимается на цыпочки; вся сцена вполголоса). Боже вас сохрани шуметь!",
             "Анна Андреевна. Пойдем, Машенька! я тебе скажу, что я заметила у гостя.",
             "Городничий. О, уж там наговорят! (Обращаясь к Осипу.) Ну, друг…", "Осип. Благодарим, сударь."]
    report = BookReport("book")
    dialogues = group_dialogues(lines, report, layout="play")
    assert [d.turns for d in dialogues] == [["Чш! Боже вас сохрани шуметь!", "Пойдем, Машенька! я тебе скажу, что я "
                                             "заметила у гостя.", "О, уж там наговорят!"]]
    assert report.tails_said_to_another == 1


def test_narration_after_speech_and_the_narrators_glued_sentence_are_the_authors():
    # Гоголь, «Вечера»: `– и уже было и руку поднял, как вдруг загремели ... кости` was left in the speech;
    # Тургенев, «Яков Пасынков»: `Я невольно покраснел.` (the narrator, a man) in Софья's turn
    assert spoken_words("– Нет, этого мало! – закричал дед. – Убей меня гром, когда я не перекрещу всех вас! – и уже "
                        "было и руку поднял, как вдруг загремели перед ним конские кости.") == (
        "Нет, этого мало! Убей меня гром, когда я не перекрещу всех вас!")
    assert spoken_words("- А вы что говорили,- спросила она,- не помните? Я невольно покраснел.") == "А вы что говорили, не помните?"
    assert spoken_words("- А вы что говорили,- спросил он,- не помните? Я невольно покраснел.").endswith("Я невольно покраснел.")
    # `что вам ... как я` after a remark: the speaker's, an edition lost the dash
    assert spoken_words("– Ступайте к вашей особе, – сказала она ему, что вам сидеть у такой плебейки, как я.").endswith(
        "что вам сидеть у такой плебейки, как я.")


def test_only_the_sentence_a_remark_turning_to_someone_else_breaks_goes_with_it():
    # Гоголь, «Мёртвые души»: Собакевич answers his wife, then turns to Чичиков with `Возьмите барана`
    turn = read_turn(clean_turn("– Что ж, душа моя, – сказал Собакевич, – я тебе прямо в глаза скажу. Я знаю, на что устрица "
                                "похожа. Возьмите барана, – продолжал он, обращаясь к Чичикову, – это бараний бок!"))
    assert turn.turns_to == "Чичикову" and turn.before_turning == "Что ж, душа моя, я тебе прямо в глаза скажу. Я знаю, на что устрица похожа."


def test_a_speaker_named_by_surname_who_was_called_by_first_name_on_the_other_side_is_a_third_speakers_sign():
    # Гоголь, «Мёртвые души»: the police chief calls `Павел Иванович`, the chairman answers, then Чичиков speaks
    paragraphs = ["Павел Иванович Чичиков приехал в город.",
                  "– Нет, Павел Иванович! как вы себе хотите! Вот мы вас женим, не правда ли?",
                  "– Женим, женим! – подхватил председатель. – Мы шутить не любим.",
                  "– Что ж? зачем упираться, – сказал, усмехнувшись, Чичиков, – была бы невеста.",
                  "– Будет и невеста, как не быть!"]
    dialogues = group_dialogues(paragraphs, BookReport("book"))
    assert [d.speakers for d in dialogues] == [[None, "председатель"], ["Чичиков", None]]


def test_a_lower_case_word_is_not_read_as_a_name_where_it_reads_otherwise():
    # Тургенев, «Записки охотника»: `возвыся` (an old gerund) was read as the name `Возвыся`, and the remark's
    # gerund phrase kept as speech
    assert spoken_words("– Откелева твой муж? – повторил Ермолай, возвыся голос.") == "Откелева твой муж?"
    assert spoken_words("– Так ты женат! – закричал он, готовяся его растерзать.") == "Так ты женат!"


def test_a_line_with_no_remark_after_narration_about_the_speaker_does_not_answer_him():
    # Гоголь, «Тарас Бульба»: `К берегу!` is Тарас again, after three sentences of narration about him
    paragraphs = ["— Что ты делаешь? — сказал казак.",
                  "— Вот пропадут, пропадут ни за что! — говорил он отчаянно и взглянул вниз, где сверкал Днестр. Радость "
                  "блеснула в очах его. Он увидел выдвинувшиеся из-за кустарника четыре кормы.",
                  "— К берегу! к берегу, хлопцы!"]
    assert [len(d.turns) for d in group_dialogues(paragraphs, BookReport("book"))] == [2]
    # narration naming the other speaker gives him the next line (Брюсов, «Моцарт»)
    paragraphs = ["- Но теперь так будет всегда, - сказал Латыгин, - разве это плохо?",
                  "- Это слишком хорошо, - отвечала девочка. Латыгин опять сжал ее в объятиях. И все раздумия вылетели из "
                  "его головы. Он встал.", "- Но вот что, Ада, надо одеваться и ехать."]
    assert [len(d.turns) for d in group_dialogues(paragraphs, BookReport("book"))] == [3]


def test_an_editions_break_inside_a_turn_an_authors_passive_aside_and_a_speaker_after_a_place():
    # Тургенев, «Вешние воды»: `– Это на наши деньги` / `– около пятнадцати тысяч` is one turn of Санин's
    paragraphs = ["– Восемь тысяч гульденов, – повторил протяжно Санин. – Это на наши деньги",
                  "– около пятнадцати тысяч рублей ассигнациями… Мой доход гораздо меньше.",
                  "– На службу в России? – воскликнула фрау Леноре."]
    report = BookReport("book")
    dialogues = group_dialogues(paragraphs, report)
    assert [d.speakers for d in dialogues] == [["Санин", "фрау Леноре"]] and report.skipped["goes_on"] == 1
    assert dialogues[0].turns[0].endswith("Это на наши деньги около пятнадцати тысяч рублей ассигнациями… Мой доход гораздо меньше.")
    # `(она в первый раз названа его по одной фамилии)` is the author's; `(он знает, что делает)` the speaker's
    assert spoken_words("– Ну, Санин (она в первый раз названа его по одной фамилии), – вперед, рысью!") == "Ну, Санин, — вперед, рысью!"
    assert spoken_words("– Ну (он знает, что делает), иди.") == "Ну (он знает, что делает), иди."
    # Гоголь, «Рим»: the speaker was `окна`
    assert read_turn(clean_turn("– Экая крикунья, – сказала из супротивного окна Сусанна.")).speaker == "Сусанна"


def test_was_the_answer_is_a_remark_and_the_remarks_subject_going_on_is_the_authors():
    # Лермонтов, Пушкин: `— был ответ` was kept in the speech; Тургенев, «Яков Пасынков»: `– и направился вслед за мной`
    assert spoken_words("– Мне пора, Максим Максимыч, – был ответ.") == "Мне пора, Максим Максимыч."
    assert spoken_words("- Очень хорошо-с,- отвечал доктор,- и направился вслед за мной.") == "Очень хорошо-с."
    # the speech's own subject going on is speech
    assert spoken_words("– Француз застращал его, – отвечал исправник, – и взял с него клятву молчать…") == (
        "Француз застращал его, и взял с него клятву молчать…")


def test_someone_else_speaking_after_an_exchange_is_a_third_person():
    # Пушкин, «Пиковая дама»: `сказал один из гостей` after the host and Сурин; Тургенев: `так начала ... вдова`
    paragraphs = ["— Что ты сделал, Сурин? — спросил хозяин.", "— Проиграл, по обыкновению.", "— И ты ни разу не соблазнился?",
                  "— А каков Германн! — сказал один из гостей, указывая на молодого инженера, — отроду не брал он карты!",
                  "— Игра занимает меня сильно, — сказал Германн."]
    assert [d.speakers for d in group_dialogues(paragraphs, BookReport("book"))] == [["хозяин", None, None], ["один", "Германн"]]
    assert spoken_words("– За что ты меня убила? – так начала свои жалобы огорченная вдова. – Кого тебе еще нужно?") == (
        "За что ты меня убила? Кого тебе еще нужно?")
