"""The satisfaction survey's rules (pure)."""

from ivr.survey import Ask, Done, Survey


def test_a_key_from_1_to_5_is_the_score():
    for key in "12345":
        assert Survey().on_key(key) == Done(int(key), ("survey_thanks",))


def test_an_invalid_key_repeats_once_then_no_answer():
    survey = Survey()
    assert survey.start() == Ask(("survey_question",))
    assert survey.on_key("9") == Ask(("survey_invalid", "survey_question"))
    assert survey.on_key("#") == Done(None, ("survey_thanks",))


def test_silence_is_recorded_as_no_answer():
    done = Survey().on_key(None)
    assert done.score is None
