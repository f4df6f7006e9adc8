"""The stdlib's own answers, faster: the feed parser's boundaries and
simple address lists (mail/speedups.py)."""

from __future__ import annotations

import base64
import binascii
import email
import re
from email import policy
from email.message import Message
from email.utils import getaddresses

from hypothesis import example, given, settings
from hypothesis import strategies as st

from supportctl.mail import speedups
from supportctl.mail.parse import parse_email
from tests.conftest import CORPUS

_TAIL = speedups._TAIL

# Boundaries and lines built from the characters that matter: regex
# specials, white space, line ends, dashes.
_chars = st.sampled_from(list("ab-_=.+*?()[]{}|^$\\ \t\r\n'\"/:") + ["é", "\x00", "\u2028"])
_text = st.lists(_chars, max_size=12).map("".join)


@settings(max_examples=400, deadline=None)
@given(boundary=_text, before=_text, after=_text, dashes=st.booleans())
@example(boundary="a", before="", after="\r\n", dashes=True)
@example(boundary="x\n", before="", after="--", dashes=False)
def test_boundary_matches_as_the_compiled_pattern(boundary: str, before: str, after: str,
                                                   dashes: bool) -> None:
    sep = "--" + boundary
    pattern = "(?P<sep>" + re.escape(sep) + _TAIL
    compiled = re.compile(pattern)
    ours = speedups._FeedParserRe.compile(pattern)
    assert isinstance(ours, speedups.Boundary)
    for line in (sep + after, before + sep + after, sep + ("--" if dashes else "") + after,
                 sep, sep + "--", sep + " \t\r\n", after):
        want, got = compiled.match(line), ours.match(line)
        assert (want is None) == (got is None), line
        if want is not None and got is not None:
            assert [want.group(g) for g in ("end", "ws", "linesep")] == \
                [got.group(g) for g in ("end", "ws", "linesep")]
            assert want.end() == got.end()


def test_other_patterns_compile_as_before() -> None:
    fake = speedups._FeedParserRe()
    assert fake.compile(r"a+") is re.compile(r"a+")
    assert isinstance(fake.compile("(?P<sep>a" + _TAIL, re.I), re.Pattern)
    # Not a separator as re.escape writes one ("|" unescaped): re compiles it.
    assert isinstance(fake.compile("(?P<sep>a|b" + _TAIL), re.Pattern)
    assert fake.escape("a.") == re.escape("a.")


def test_the_feed_parser_uses_it() -> None:
    from email import feedparser

    assert isinstance(feedparser.re, speedups._FeedParserRe)
    raw = (b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"b.(1)*\"\r\n\r\n"
           b"pre\r\n--b.(1)*\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b.(1)*--\r\nepi\r\n")
    msg = email.message_from_bytes(raw, policy=policy.compat32)
    parts = msg.get_payload()
    assert [p.get_payload() for p in parts] == ["hello"]
    assert msg.preamble == "pre" and msg.epilogue == "epi\r\n"
    assert parse_email(raw).text == "hello"


# -- addresses ----------------------------------------------------------

_atom = st.text(st.sampled_from(list("abZ09_'+-éßж")), min_size=1, max_size=5)
_ws = st.text(st.sampled_from(list(" \t\r\n")), max_size=2)
_addr = st.builds(lambda *p: "".join(p), _atom, st.sampled_from(["", "."]), _atom,
                  st.just("@"), _atom, st.sampled_from([".", ".x.", ""]), _atom)
_name = st.lists(_atom, min_size=1, max_size=3).flatmap(
    lambda words: _ws.map(lambda w: (w or " ").join(words)))
_simple = st.one_of(
    st.builds(lambda a, b, c: a + b + c, _ws, _addr, _ws),
    st.builds(lambda a, n, b, addr, c: f"{a}{n}{b}<{addr}>{c}", _ws, _name, _ws, _addr, _ws),
)
# Near misses: what the fast path must hand to the stdlib, or read the same.
_odd = st.text(st.sampled_from(list("ab@.<>,;:\"()[]\\ \t\r\n'é=?\ue000")), max_size=14)


@settings(max_examples=600, deadline=None)
@given(st.lists(st.lists(st.one_of(_simple, _odd), min_size=1, max_size=3).map(", ".join),
                min_size=1, max_size=2))
@example(["Björn <bjrn0@example.com>"])
@example(["support@example.org, Ann  Lee <ann.lee@example.com>"])
@example(["a@b,"])
@example(["a..b@c"])
def test_simple_addresses_are_the_stdlibs(values: list[str]) -> None:
    got = speedups.simple_addresses(values)
    if got is not None:
        assert got == getaddresses(values)


@settings(max_examples=300, deadline=None)
@given(st.lists(_simple, min_size=1, max_size=3).map(", ".join))
def test_simple_shapes_take_the_fast_path(value: str) -> None:
    got = speedups.simple_addresses([value])
    assert got is not None and got == getaddresses([value])


# -- base64 bodies --------------------------------------------------------

_b64_chars = st.sampled_from(list("QUJDRA==+/az09") + ["\r\n", "\n", " ", "-", "é", "\udcff", "*"])


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.binary(max_size=80).map(lambda b: binascii.b2a_base64(b, newline=False).decode()),
    st.binary(max_size=80).map(lambda b: base64.encodebytes(b).decode().replace("\n", "\r\n")),
    st.lists(_b64_chars, max_size=30).map("".join)),
    st.sampled_from(["base64", "BASE64 ", "Base64", "quoted-printable", "7bit", ""]))
@example("QUJD", "base64")
@example("QUJ", "base64")
@example("QUJD=", "base64")
@example("=QUJD", "base64")
def test_base64_bodies_decode_as_the_stdlib_does(body: str, cte: str) -> None:
    part = Message()
    part["Content-Type"] = "application/pdf"
    if cte:
        part["Content-Transfer-Encoding"] = cte
    part.set_payload(body)
    got = speedups.base64_payload(part)
    if got is not None:
        assert got == part.get_payload(decode=True)
        assert not part.defects


def test_a_multipart_is_left_to_the_stdlib() -> None:
    msg = email.message_from_string(
        "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\nQUJD\n--b--\n",
        policy=policy.compat32)
    assert speedups.base64_payload(msg) is None
    assert speedups.base64_payload(msg.get_payload(0)) == b"ABC"


# -- single-part mail -------------------------------------------------------


def _same_message(fast: Message, slow: Message) -> None:
    assert fast._headers == slow._headers  # type: ignore[attr-defined]
    assert [type(d) for d in fast.defects] == [type(d) for d in slow.defects] == []
    for attr in ("_unixfrom", "preamble", "epilogue", "_default_type", "_charset", "policy"):
        assert getattr(fast, attr) == getattr(slow, attr), attr
    assert fast.is_multipart() == slow.is_multipart()
    if fast.is_multipart():
        mine, theirs = fast.get_payload(), slow.get_payload()
        assert len(mine) == len(theirs)
        for a, b in zip(mine, theirs, strict=True):
            _same_message(a, b)
    else:
        assert fast._payload == slow._payload  # type: ignore[attr-defined]
    assert fast.as_bytes() == slow.as_bytes()


def test_every_corpus_mail_the_fast_path_reads_is_the_stdlibs() -> None:
    taken = 0
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        fast = speedups.plain_mail(raw)
        if fast is not None:
            taken += 1
            _same_message(fast, email.message_from_bytes(raw, policy=policy.compat32))
    assert taken >= 20  # the common mail takes it


_line_end = st.sampled_from(["\r\n", "\n", "\r", ""])
_field = st.builds(
    lambda name, value, end: f"{name}:{value}{end}",
    st.sampled_from(["Subject", "From", "X-A", "Content-Type", "content-type", "To", "From x", ""]),
    st.sampled_from([" hi", "", " text/plain", " multipart/mixed; boundary=b", " message/rfc822",
                     " text/html; charset=\"utf-8\"", "\té", " a\rb", " \udcff"]),
    _line_end)
_continuation = st.builds(lambda lead, value, end: f"{lead}{value}{end}",
                          st.sampled_from([" ", "\t"]), st.sampled_from(["more", "", "x: y"]), _line_end)
_head = st.lists(st.one_of(_field, _field, _continuation,
                           st.sampled_from(["From someone Mon Jan 1\n", "no colon\n", ":x\n"])),
                 max_size=6).map("".join)
_body = st.lists(st.sampled_from(["line\r\n", "line\n", "\r", "--b\r\n", "\n", "é", "\x00"]),
                 max_size=6).map("".join)


@settings(max_examples=600, deadline=None)
@given(_head, st.sampled_from(["\r\n", "\n", "\r", "", "\n\r\n"]), _body)
@example("Subject: a\r\n b\r\nContent-Type: text/plain\r\n", "\r\n", "hello\r\n")
def test_the_fast_path_reads_generated_mail_as_the_stdlib(head: str, gap: str, body: str) -> None:
    raw = (head + gap + body).encode("utf-8", "surrogateescape")
    fast = speedups.plain_mail(raw)
    if fast is not None:
        _same_message(fast, email.message_from_bytes(raw, policy=policy.compat32))


def test_the_parser_uses_it() -> None:
    raw = b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"
    assert speedups.plain_mail(raw) is not None
    assert parse_email(raw).text == "hello"


_eol = st.sampled_from(["\r\n", "\n"])
_text_lines = st.lists(st.sampled_from(["hello", "", "--", "--b", "--b--", "--bb", " --b", "--b x",
                                         "--b  ", "--c", "--c--", "QUJD", "é", "\t"]),
                       max_size=4)


@st.composite
def _multipart_mail(draw: st.DrawFn, depth: int = 0, boundary: str = "b") -> str:
    eol = draw(_eol)

    def body() -> str:
        return "".join(line + draw(_eol) for line in draw(_text_lines))

    parts = []
    for _ in range(draw(st.integers(0, 3))):
        if depth == 0 and draw(st.booleans()):
            parts.append(draw(_multipart_mail(depth + 1, "c")))
        else:
            head = draw(st.sampled_from(["Content-Type: text/plain", "Content-Type: application/pdf",
                                         "X: y", "", "bad line"]))
            parts.append((head + eol if head else "") + eol + body())
    kind = draw(st.sampled_from(["mixed", "alternative", "digest"]))
    head = f"Content-Type: multipart/{kind}; boundary=\"{boundary}\"{eol}"
    if draw(st.booleans()):
        head = "Subject: hi" + eol + head
    close = draw(st.sampled_from([f"--{boundary}--{eol}", f"--{boundary}--", "", f"--{boundary}-- {eol}"]))
    return (head + eol + (body() if draw(st.booleans()) else "")
            + "".join(f"--{boundary}{draw(st.sampled_from([eol, ' ' + eol]))}{p}"
                      + ("" if p.endswith(("\n", "")) else eol) for p in parts)
            + close + (body() if draw(st.booleans()) else ""))


@settings(max_examples=800, deadline=None)
@given(_multipart_mail())
@example("Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\nX: y\r\n\r\nhello\r\n"
         "--b--\r\nepi\r\n")
@example("Content-Type: multipart/mixed; boundary=b\n\n--b\n"
         "Content-Type: multipart/alternative; boundary=c\n\n--c\nContent-Type: text/plain\n\nhi\n"
         "--c\nContent-Type: text/html\n\n<p>hi</p>\n--c--\n\n--b\nContent-Type: application/pdf\n"
         "Content-Transfer-Encoding: base64\n\nQUJD\n--b--\n")
def test_the_fast_path_reads_generated_multiparts_as_the_stdlib(text: str) -> None:
    raw = text.encode("utf-8")
    fast = speedups.plain_mail(raw)
    if fast is not None:
        _same_message(fast, email.message_from_bytes(raw, policy=policy.compat32))


# Parameters read once per header (parse._get_param): the stdlib's get_param
# for every name asked, on headers built from what makes parameters hard
# (quotes, escapes, RFC 2231 continuations and charsets, repeats, case).
_param_chars = st.sampled_from(list("aBc*'=;\"\\ %-.\t<>") + ["é", "*0", "*1*", "''", "utf-8"])
_param_text = st.lists(_param_chars, max_size=10).map("".join)


@settings(max_examples=1000, deadline=None)
@given(params=st.lists(st.tuples(st.sampled_from(["charset", "Charset", "name", "name*",
                                                  "name*0", "name*1*", "boundary", "x"]),
                                 _param_text, st.booleans()), max_size=5),
       tail=_param_text, header=st.sampled_from(["content-type", "content-disposition"]))
@example(params=[("name*0", "a", False), ("name*1*", "utf-8''%C3%A9", False)], tail="",
         header="content-type")
def test_parameters_are_read_as_the_stdlib_reads_them(params: list[tuple[str, str, bool]],
                                                      tail: str, header: str) -> None:
    from supportctl.mail.parse import _get_param, _params

    value = "text/plain" + "".join(
        f"; {k}=" + (f'"{v}"' if quoted else v) for k, v, quoted in params) + tail
    other = "content-disposition: attachment" if header == "content-type" else \
        "content-type: text/plain; charset=us-ascii"
    raw = f"{header}: {value}\n{other}\n\nx\n"
    try:
        whole: object = email.message_from_string(raw).get_params(header=header, unquote=False)
    except Exception as exc:  # noqa: BLE001
        whole = type(exc)
    try:
        mine_whole: object = _params(email.message_from_string(raw), header)
    except Exception as exc:  # noqa: BLE001
        mine_whole = type(exc)
    assert mine_whole == whole, value
    for name in ["charset", "name", "boundary", "x", "missing", "CHARSET"]:
        for hdr in ("content-type", "content-disposition", "x-absent"):
            mine = email.message_from_string(raw)
            theirs = email.message_from_string(raw)
            try:
                want: object = theirs.get_param(name, header=hdr)
            except Exception as exc:  # noqa: BLE001 - must raise alike
                want = type(exc)
            try:
                got: object = _get_param(mine, name, hdr)
            except Exception as exc:  # noqa: BLE001
                got = type(exc)
            assert got == want, (name, hdr, value)
