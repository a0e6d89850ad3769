"""Messages as data (ddpm/messages.py): every catalogue has both languages with the same keys and placeholders, and
a message renders, nests, round-trips through JSON and raises as an error."""
import json

import pytest

import demo  # noqa: F401  (registers demo/locales: the app's catalogues are checked too)
from ddpm import messages
from ddpm.messages import Message, MessageError, msg, placeholders, render


def test_catalogues_match():
    en, zh = messages.catalogue("en"), messages.catalogue("zh")
    assert sorted(en) == sorted(zh), f"keys in one language only: {sorted(set(en) ^ set(zh))}"
    for key in en:
        assert placeholders(en[key]) == placeholders(zh[key]), key


def test_render_nested_and_json_round_trip():
    m = msg("list.and", a=msg("list.and", a=1, b=2), b="x")
    assert render(m, "en") == "1 and 2 and x"
    assert render(m, "zh") == "1和2和x"
    back = Message.from_dict(json.loads(json.dumps(m.as_dict())))
    assert back == m and str(back) == "1 and 2 and x"


def test_lists_join_per_language():
    assert render([msg("list.and", a=1, b=2), msg("list.and", a=3, b=4)], "zh") == "1和2；3和4"


def test_missing_key_or_value_is_an_error():
    with pytest.raises(KeyError, match="no en template"):
        render(msg("no.such.key"))
    with pytest.raises(KeyError):
        render(msg("list.and", a=1))


def test_message_error_is_a_value_error_in_english():
    e = MessageError("list.and", a="p", b="q")
    assert isinstance(e, ValueError) and str(e) == "p and q" and render(e.message, "zh") == "p和q"
