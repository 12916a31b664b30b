"""Request bodies: orjson's fast parse answers exactly what the stdlib parse and the full tree
check answered (the same data, the same 400 or 422)."""

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from api.errors import ApiError
from api.io import MAX_DEPTH, _check_tree, _no_constants, parse_json


def reference(raw: bytes):
    """The parse before orjson: the stdlib, strictly, then every node checked."""
    try:
        data = json.loads(raw, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise ApiError(400, "the request body is not valid JSON", code="malformed_json") from None
    _check_tree(data)
    return data


def outcome(parse, raw):
    try:
        return "ok", parse(raw)
    except ApiError as err:
        return "api", err.status, err.code, err.message
    except ValidationError as err:
        return "invalid", err.messages


def same(a, b):
    if a[0] == b[0] == "ok":  # NaN never parses; compare by the JSON text to see -0.0 vs 0
        return json.dumps(a[1]) == json.dumps(b[1])
    return a == b


def nested(depth: int) -> bytes:
    return b"[" * depth + b"1" + b"]" * depth


text = st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from('\x00\ud800\udfff\\"'))
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=15,
)
SPECIAL = [
    b"NaN", b"[Infinity]", b"-Infinity", b"1e400", b"[-0.0, 0]", b"12345678901234567890123",
    b'{"a": 1, "b": 2, "a": 3}', b"\xef\xbb\xbf{}", '{"a": "b"}'.encode("utf-16"),
    '{"a": "b"}'.encode("utf-32"), b'"\\ud800"', b'"\\uDFFF x"', b'"\\u0000"', b'"\\\\u0000"',
    b'"\xed\xa0\x80"', b'"\xff"', b'{"k\\u0000": 1}', b'["\\ud83d\\ude00"]', b"[1,]", b"{,}",
    b'"a\tb"', b"01", b" [1] ", b"[1] x", nested(MAX_DEPTH), nested(MAX_DEPTH + 1),
    nested(2000), b'{"a":' * 40 + b"1" + b"}" * 40, b"[[]]" , b"[" * 40 + b"]" * 40,
]  # fmt: skip


@st.composite
def bodies(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.sampled_from(SPECIAL))
    body = json.dumps(draw(values), ensure_ascii=draw(st.booleans())).encode(
        "utf-8", "surrogatepass"
    )
    if kind == 1 and body:  # a byte changed, cut or added somewhere
        i = draw(st.integers(0, len(body) - 1))
        body = body[:i] + draw(st.binary(max_size=2)) + body[i + draw(st.integers(0, 2)) :]
    return body


@settings(max_examples=2000, deadline=None)
@given(raw=bodies())
def test_the_fast_parse_answers_as_the_stdlib_and_the_tree_check(raw):
    fast, slow = outcome(parse_json, raw), outcome(reference, raw)
    assert same(fast, slow), (raw, fast, slow)


def test_specials_are_decided_alike():
    for raw in SPECIAL:
        assert same(outcome(parse_json, raw), outcome(reference, raw)), raw
    assert outcome(parse_json, b"NaN")[1] == 400 and math.isinf(parse_json(b"1e400"))
