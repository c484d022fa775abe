#!/usr/bin/python3
"""Generates smuggling.json: malformed HTTP/1.1 requests the proxy must refuse.

Single source of truth for the corpus: tests/unit/http/h1/smuggling_test.cc loads the JSON and
asserts each refusal against the codec; tests/integration sends each to the running proxy.

Each entry: name (snake_case), request_b64 (raw bytes), expect (HTTP status the proxy answers
before closing), stage ("head": the request head is refused; "body": the head is valid and the
chunked body framing is refused, after the head may already have gone upstream).

Run: /usr/bin/python3 tests/integration/data/gen_smuggling.py  (rewrites smuggling.json)
"""
import base64
import json
import os
import re

H = b"Host: example.com\r\n"
GET = b"GET / HTTP/1.1\r\n" + H
POST = b"POST /upload HTTP/1.1\r\n" + H


def post_te(te_line: bytes, body: bytes = b"0\r\n\r\n") -> bytes:
    return POST + te_line + b"\r\n\r\n" + body


def chunked(body: bytes) -> bytes:
    return POST + b"Transfer-Encoding: chunked\r\n\r\n" + body


CASES = [
    # --- Content-Length / Transfer-Encoding ambiguity -------------------------------------------
    ("cl_and_te", POST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_and_cl", POST + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("cl_conflicting", POST + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("cl_repeated_identical", POST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("cl_list", POST + b"Content-Length: 5, 5\r\n\r\nhello", 400),
    ("cl_plus_sign", POST + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl_negative", POST + b"Content-Length: -1\r\n\r\n", 400),
    ("cl_underscore", POST + b"Content-Length: 1_0\r\n\r\n0123456789", 400),
    ("cl_huge", POST + b"Content-Length: 99999999999999999999\r\n\r\n", 400),
    ("cl_over_int64", POST + b"Content-Length: 9223372036854775808\r\n\r\n", 400),
    ("cl_hex", POST + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("cl_empty", POST + b"Content-Length: \r\n\r\n", 400),
    ("cl_inner_space", POST + b"Content-Length: 1 0\r\n\r\n0123456789", 400),
    ("cl_decimal_point", POST + b"Content-Length: 5.0\r\n\r\nhello", 400),
    ("cl_space_before_colon", POST + b"Content-Length : 5\r\n\r\nhello", 400),
    ("te_http10", b"POST / HTTP/1.0\r\n" + H + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te_xchunked", post_te(b"Transfer-Encoding: xchunked"), 400),
    ("te_chunked_twice", post_te(b"Transfer-Encoding: chunked, chunked"), 400),
    ("te_chunked_then_identity", post_te(b"Transfer-Encoding: chunked, identity"), 400),
    ("te_identity", post_te(b"Transfer-Encoding: identity"), 400),
    ("te_gzip_chunked", post_te(b"Transfer-Encoding: gzip, chunked"), 501),
    ("te_quoted", post_te(b'Transfer-Encoding: "chunked"'), 400),
    ("te_trailing_comma", post_te(b"Transfer-Encoding: chunked,"), 400),
    ("te_parameter", post_te(b"Transfer-Encoding: chunked;q=1"), 400),
    ("te_space_before_colon", post_te(b"Transfer-Encoding : chunked"), 400),
    ("te_tab_before_colon", post_te(b"Transfer-Encoding\t: chunked"), 400),
    ("te_vertical_tab", post_te(b"Transfer-Encoding: chunked\x0b"), 400),
    ("te_form_feed_prefix", post_te(b"Transfer-Encoding:\x0cchunked"), 400),
    ("te_two_lines", post_te(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"), 400),
    ("te_obs_fold", post_te(b"Transfer-Encoding:\r\n chunked"), 400),
    ("te_name_underscore", post_te(b"Transfer_Encoding: chunked"), 400),
    ("cl_name_underscore", POST + b"Content_Length: 5\r\n\r\nhello", 400),
    ("cl_and_te_underscore", POST + b"Content-Length: 5\r\nTransfer_Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # --- line endings and control characters ---------------------------------------------------
    ("obs_fold_tab", GET + b"X-Foo: a\r\n\tb\r\n\r\n", 400),
    ("obs_fold_space", GET + b"X-Foo: a\r\n b\r\n\r\n", 400),
    ("space_before_first_header", b"GET / HTTP/1.1\r\n " + H + b"\r\n", 400),
    ("bare_lf_everywhere", b"GET / HTTP/1.1\nHost: example.com\n\n", 400),
    ("bare_lf_in_headers", b"GET / HTTP/1.1\r\nHost: example.com\nX-A: b\r\n\r\n", 400),
    ("bare_lf_terminator", GET + b"\n", 400),
    ("bare_lf_before_request_line", b"\n" + GET + b"\r\n", 400),
    ("bare_cr_in_headers", b"GET / HTTP/1.1\r\nHost: example.com\rX-A: b\r\n\r\n", 400),
    ("bare_cr_after_request_line", b"GET / HTTP/1.1\rHost: example.com\r\n\r\n", 400),
    ("nul_in_value", GET + b"X-A: a\x00b\r\n\r\n", 400),
    ("del_in_value", GET + b"X-A: a\x7fb\r\n\r\n", 400),
    ("escape_in_value", GET + b"X-A: a\x1bb\r\n\r\n", 400),
    ("control_in_name", GET + b"X-\x01A: b\r\n\r\n", 400),
    # --- Host ------------------------------------------------------------------------------------
    ("missing_host", b"GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two_hosts", GET + H + b"\r\n", 400),
    ("two_different_hosts", GET + b"Host: evil.com\r\n\r\n", 400),
    ("host_userinfo", b"GET / HTTP/1.1\r\nHost: user@example.com\r\n\r\n", 400),
    ("host_with_space", b"GET / HTTP/1.1\r\nHost: example.com evil.com\r\n\r\n", 400),
    ("host_with_slash", b"GET / HTTP/1.1\r\nHost: example.com/evil\r\n\r\n", 400),
    ("absolute_target_host_mismatch", b"GET http://evil.com/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("absolute_target_userinfo", b"GET http://u@example.com/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    # --- field names -----------------------------------------------------------------------------
    ("empty_field_name", GET + b": x\r\n\r\n", 400),
    ("field_name_with_space", GET + b"Foo Bar: x\r\n\r\n", 400),
    ("field_name_with_at", GET + b"Foo@: x\r\n\r\n", 400),
    ("field_without_colon", GET + b"Foo\r\n\r\n", 400),
    ("field_name_non_ascii", GET + b"F\xc3\xb6o: x\r\n\r\n", 400),
    # --- request line ----------------------------------------------------------------------------
    ("request_line_two_spaces", b"GET  / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request_line_extra_token", b"GET / HTTP/1.1 extra\r\n" + H + b"\r\n", 400),
    ("request_line_trailing_space", b"GET / HTTP/1.1 \r\n" + H + b"\r\n", 400),
    ("request_line_leading_space", b" GET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request_line_tab", b"GET\t/ HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("request_line_no_version", b"GET /\r\n" + H + b"\r\n", 400),
    ("space_in_target", b"GET /a b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("lowercase_version", b"GET / http/1.1\r\n" + H + b"\r\n", 400),
    ("version_without_minor", b"GET / HTTP/1\r\n" + H + b"\r\n", 400),
    ("version_two_digit_minor", b"GET / HTTP/1.10\r\n" + H + b"\r\n", 400),
    ("http_2_0", b"GET / HTTP/2.0\r\n" + H + b"\r\n", 505),
    ("http_1_2", b"GET / HTTP/1.2\r\n" + H + b"\r\n", 505),
    ("http_0_9", b"GET / HTTP/0.9\r\n" + H + b"\r\n", 505),
    ("method_with_paren", b"G(ET / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_without_slash", b"GET index.html HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_control_char", b"GET /a\x01b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_non_ascii", b"GET /caf\xc3\xa9 HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("target_fragment", b"GET /a#b HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("asterisk_with_get", b"GET * HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("connect_origin_form", b"CONNECT / HTTP/1.1\r\n" + H + b"\r\n", 400),
    ("connect_without_port", b"CONNECT example.com HTTP/1.1\r\n" + H + b"\r\n", 400),
    # --- size limits -----------------------------------------------------------------------------
    ("too_many_headers", GET + b"".join(b"X-H%d: v\r\n" % i for i in range(200)) + b"\r\n", 431),
    ("header_100k", GET + b"X-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n", 431),
    ("many_leading_crlfs", b"\r\n" * 9 + GET + b"\r\n", 400),
    # --- chunked body framing (stage "body") -----------------------------------------------------
    ("chunk_size_0x_prefix", chunked(b"0x10\r\n0123456789abcdef\r\n0\r\n\r\n"), 400),
    ("chunk_ext_with_lf", chunked(b"5;ext\nfoo\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_ext_garbage", chunked(b"5;a=\x01\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_data_without_crlf", chunked(b"5\r\nhelloX0\r\n\r\n"), 400),
    ("chunk_data_lf_only", chunked(b"5\r\nhello\n0\r\n\r\n"), 400),
    ("chunk_data_too_long", chunked(b"3\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_17_digits", chunked(b"00000000000000001\r\na\r\n0\r\n\r\n"), 400),
    ("chunk_size_over_2_63", chunked(b"ffffffffffffffff\r\na\r\n0\r\n\r\n"), 400),
    ("chunk_size_negative", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_trailing_space", chunked(b"5 \r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_leading_space", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_bare_lf", chunked(b"5\nhello\r\n0\r\n\r\n"), 400),
    ("chunk_size_missing", chunked(b"\r\nhello\r\n0\r\n\r\n"), 400),
    ("last_chunk_bare_lf", chunked(b"5\r\nhello\r\n0\n\r\n"), 400),
    ("trailer_bare_lf", chunked(b"0\r\nX-T: a\nX-U: b\r\n\r\n"), 400),
    ("trailer_obs_fold", chunked(b"0\r\nX-T: a\r\n b\r\n\r\n"), 400),
    ("trailer_too_large", chunked(b"0\r\nX-T: " + b"a" * (9 * 1024) + b"\r\n\r\n"), 400),
]

BODY_STAGE_PREFIXES = ("chunk_", "last_chunk_", "trailer_")


def main() -> None:
    names = set()
    entries = []
    for name, raw, expect in CASES:
        assert re.fullmatch(r"[a-z0-9_]+", name), name
        assert name not in names, name
        names.add(name)
        stage = "body" if name.startswith(BODY_STAGE_PREFIXES) else "head"
        entries.append({"name": name, "request_b64": base64.b64encode(raw).decode("ascii"),
                        "expect": expect, "stage": stage})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smuggling.json")
    with open(out, "w", encoding="ascii") as f:  # one entry per line, fixed key order
        f.write("[\n")
        f.write(",\n".join("  " + json.dumps(e) for e in entries))
        f.write("\n]\n")
    print(f"wrote {len(entries)} cases to {out}")


if __name__ == "__main__":
    main()
