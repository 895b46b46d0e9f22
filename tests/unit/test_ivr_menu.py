import pytest

from ivr.menu import Line, choose


@pytest.mark.parametrize(
    ("digit", "line"), [("1", Line.CRUISE), ("2", Line.TOUR), ("3", Line.FREE_TRAVEL)]
)
def test_main_menu_keys_pick_the_dedicated_lines(digit, line):
    assert choose(digit).line is line
    assert choose(digit).valid


def test_other_keys_are_invalid_choices_and_non_keys_are_errors():
    assert not choose("9").valid
    with pytest.raises(ValueError, match="not a DTMF key"):
        choose("x")
