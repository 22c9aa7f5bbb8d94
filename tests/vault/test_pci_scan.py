"""The PCI scan's finders: what counts as a card number or a CVV, and what never does."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import re
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.luhn import luhn_valid
from gateway.vault.pci_scan import (
    KNOWN_TEST_CARDS,
    READ_CHUNK,
    Hit,
    ScanReport,
    compile_patterns,
    find_all,
    find_card_numbers,
    find_cvvs,
    mask_number,
    redact,
    redis_url_for_db,
    scan_bytes,
    scan_file,
)
from tests.support import TEST_CARD_NUMBERS


def digits_of(hits: list[Hit]) -> list[str]:
    return [hit.masked for hit in hits]


def grouped(number: str, separator: str) -> str:
    """A number as printed on a card: 4-6-5 for 15 digits, 4-6-4 for 14, else by fours."""
    if len(number) == 15:
        sizes = [4, 6, 5]
    elif len(number) == 14:
        sizes = [4, 6, 4]
    else:
        sizes = [4] * (len(number) // 4) + ([len(number) % 4] if len(number) % 4 else [])
    parts, start = [], 0
    for size in sizes:
        parts.append(number[start : start + size])
        start += size
    return separator.join(parts)


def assert_never_shown(hits: list[Hit], number: str) -> None:
    for hit in hits:
        shown = re.sub(r"\D", "", hit.excerpt) + re.sub(r"\D", "", hit.masked)
        assert number not in shown, hit
        assert number not in hit.excerpt.replace(" ", "").replace("-", ""), hit


def luhn_complete(prefix: str, length: int) -> str:
    """`prefix` padded with zeros and a check digit to a Luhn-valid number."""
    body = prefix.ljust(length - 1, "0")
    return next(body + d for d in "0123456789" if luhn_valid(body + d))


# -- card numbers ---------------------------------------------------------------------


def test_the_known_list_holds_every_card_the_tests_use() -> None:
    assert set(TEST_CARD_NUMBERS) <= KNOWN_TEST_CARDS
    assert all(luhn_valid(number) for number in KNOWN_TEST_CARDS)


@pytest.mark.parametrize("number", TEST_CARD_NUMBERS)
@pytest.mark.parametrize(
    "template",
    [
        "{n}",
        "card {n} charged",
        '{{"payment_method": {{"card": {{"number": "{n}", "exp_month": 12}}}}}}',
        '{{"number": {n}}}',
        "(txn_06H012EF380RQHN8,mer_06H012EF380RQHN9,{n},visa,1500)",
        "number={n}\n",
        "<cardNumber>{n}</cardNumber>",
        "pan:{n};",
    ],
)
def test_every_test_card_is_found_in_plain_text_and_json(number: str, template: str) -> None:
    hits = find_card_numbers(template.format(n=number))
    assert [(hit.kind, hit.rule) for hit in hits] == [("card_number", "test_card")]
    assert hits[0].masked == mask_number(number)
    assert_never_shown(hits, number)


@pytest.mark.parametrize("number", TEST_CARD_NUMBERS)
@pytest.mark.parametrize("separator", [" ", "-"])
def test_every_test_card_is_found_spaced_or_dashed(number: str, separator: str) -> None:
    text = f"the card {grouped(number, separator)} was declined"
    hits = find_card_numbers(text)
    assert digits_of(hits) == [mask_number(number)]
    assert_never_shown(hits, number)


def test_a_test_card_inside_a_word_or_next_to_other_numbers_is_found() -> None:
    assert digits_of(find_card_numbers("card4111111111111111")) == ["411111******1111"]
    assert digits_of(find_card_numbers("1500 4111111111111111 USD")) == ["411111******1111"]
    assert digits_of(find_card_numbers("4111 1111 1111 1111 2030")) == ["411111******1111"]
    json_text = json.dumps({"cards": TEST_CARD_NUMBERS})
    assert len(find_card_numbers(json_text)) == len(TEST_CARD_NUMBERS)


@pytest.mark.parametrize(
    ("number", "brand"),
    [
        ("5555555555554444", "mastercard"),
        ("4000056655665556", "visa"),
        ("378282246310005", "amex"),
        ("6011111111111117", "discover"),
        ("3530111333300000", "jcb"),
        ("30569309025904", "diners"),
        ("6200000000000005", "unionpay"),
        ("4000000000006", "visa"),
    ],
)
def test_any_brand_number_standing_alone_is_found(number: str, brand: str) -> None:
    for text in (
        f"card {number}",
        f'{{"pan": "{number}"}}',
        f"({number},x)",
        f"card {grouped(number, ' ')} ok",
        f"card {grouped(number, '-')} ok",
    ):
        hits = find_card_numbers(text)
        assert [hit.rule for hit in hits] == [f"brand:{brand}"], text
        assert_never_shown(hits, number)


@pytest.mark.parametrize(
    "text",
    [
        # Our ids, in every form they are written.
        "txn_06H012EF380RQHN8",
        "txn_0600000000000000 pm_4000056655665556X key_5555555555554444",
        '{"id": "txn_06H012EF380RQHN8", "merchant_id": "mer_06H012EF380RQHN9"}',
        # Times.
        "2026-01-15T12:00:00.737Z",
        "2026-01-15 12:00:00.123456+00",
        "2026-01-15 2026-01-16 2026-01-17 2026-01-18",
        "created 1768478400000 (ms) 1768478400000000 (us) 1768478400000000000 (ns)",
        '{"ts": 1768478400.123456789, "at": 1768478400000}',
        # Processor ids: the simulator's and Authorize.Net's are 11 digits.
        "60000000001 60000000002 60000000003 60000000099 40012345678",
        '{"processor_transaction_id": "60000000001", "auth_code": "A1B2C3"}',
        # Digests, ciphertexts, UUIDs, decimals, stream ids.
        "fp 5f3c4000056655665556a9 v1:dev1:Ab4000056655665556_9-x",
        "e3b0c442985555555555554444298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b",
        "12345678-1234-4123-8123-555555555555 5555-5555-5555-4444-0000",
        "duration 0.4000056655665556 ratio 5555555555554444.5",
        "1768478400000-0 1768478400000-1",
        # Luhn-invalid runs, too short, too long.
        "4111111111111112 411111111111 41111111111111111111",
        # Luhn-valid with a brand's prefix, but a length that brand never issues.
        f"{luhn_complete('5555', 15)} {luhn_complete('3782', 14)} {luhn_complete('4', 17)}",
    ],
)
def test_lookalikes_are_not_card_numbers(text: str) -> None:
    assert find_card_numbers(text) == []


def test_a_configured_pattern_adds_numbers_without_a_brand() -> None:
    number = luhn_complete("9100", 16)  # no brand starts with 9
    assert find_card_numbers(f"card {number}") == []
    hits = find_card_numbers(f"card {number}", compile_patterns([r"^9100"]))
    assert [(hit.rule, hit.masked) for hit in hits] == [("pattern", mask_number(number))]
    # Luhn still applies: a pattern does not make any digit run a card.
    wrong_check_digit = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert find_card_numbers(f"card {wrong_check_digit}", compile_patterns([r"^9100"])) == []
    # And a pattern reaches numbers the brand rule passes over (inside an id).
    hits = find_card_numbers("ref_4000056655665556", compile_patterns([r"^400005"]))
    assert [hit.rule for hit in hits] == ["pattern"]


def test_masking_shows_at_most_the_first_six_and_last_four() -> None:
    assert mask_number("4111111111111111") == "411111******1111"
    assert mask_number("6221499053360818123") == "622149*********8123"
    # Under 16 digits, six and four would leave too few hidden.
    assert mask_number("370000000000002") == "3700*******0002"
    assert mask_number("4222222222222") == "4222*****2222"


def test_an_excerpt_masks_every_card_and_cvv_around_the_hit() -> None:
    text = json.dumps(
        {"number": "4111111111111111", "cvv": "737", "other": "5555555555554444", "exp": 12}
    )
    hits = find_all(text)
    assert [hit.kind for hit in hits] == ["card_number", "cvv", "card_number"]
    for hit in hits:
        assert "737" not in hit.excerpt
        assert "4111111111111111" not in hit.excerpt
        assert "5555555555554444" not in hit.excerpt
    assert '"number": "411111******1111", "cvv": "***"' in hits[0].excerpt


def test_an_excerpt_never_cuts_a_number_in_two() -> None:
    # The context window ends in the middle of a second card: it is widened and masked.
    text = "4111111111111111" + "x" * 20 + " 5555555555554444"
    (first, second) = find_all(text)
    assert "555555******4444" in first.excerpt
    assert "55555555" not in first.excerpt
    assert second.masked == "555555******4444"


@given(
    prefix=st.text(alphabet="0123456789 -abc:,\"'", max_size=40),
    suffix=st.text(alphabet="0123456789 -abc:,\"'", max_size=40),
    number=st.sampled_from(TEST_CARD_NUMBERS),
)
def test_no_excerpt_ever_shows_a_whole_test_card(prefix: str, suffix: str, number: str) -> None:
    hits = find_all(f"{prefix} {number} {suffix}")
    assert hits  # the card is found whatever is around it...
    for hit in hits:  # ...and never printed
        assert number not in re.sub(r"[ -]", "", hit.excerpt)
        assert number not in re.sub(r"[ -]", "", hit.masked)


# -- CVVs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('{"cvv": "123"}', "cvv"),
        ('{"cvv": 123}', "cvv"),
        ("{'cvc': '1234'}", "cvc"),
        ('{"cvv2":"456"}', "cvv2"),
        ("card_code=789 amount=1500", "card_code"),
        ('{"cardCode": "900"}', "cardCode"),
        ('{"securityCode": "4821"}', "securityCode"),
        ("<cardCode>901</cardCode>", "cardCode"),
        ("x_card_code=123&x_amount=15.00", "x_card_code"),
        ("CVV: 123", "CVV"),
        ('"{\\"cvv\\": \\"123\\"}"', "cvv"),  # JSON inside a JSON string
        ('(txn_1,"{""cvv"": ""737""}")', "cvv"),  # a jsonb column in a row's text
    ],
)
def test_a_cvv_next_to_its_key_is_found(text: str, key: str) -> None:
    hits = find_cvvs(text)
    assert [(hit.kind, hit.rule, hit.masked) for hit in hits] == [("cvv", f"key:{key}", "***")]
    assert not re.search(r"(?<!\d)(123|1234|456|789|900|901|4821|737)(?!\d)", hits[0].excerpt)


@pytest.mark.parametrize(
    "text",
    [
        '{"cvv": "[REDACTED]"}',
        '{"cvv": "***"}',
        "cvv=*** card_code=XXX",
        '{"cvv": null, "cvc": ""}',
        '{"cvv_result": "M", "cvvResultCode": "P", "cardCodeResponse": "M"}',
        '{"cvv_filter": 123, "cvv_length": 3}',
        '{"field": "payment_method.card.cvv", "message": "must be 3 digits for a visa card"}',
        "payment_method.card.cvv: must be 3 or 4 digits",
        '{"cvv": "12345", "cvc": "12"}',
        '{"cvv": 12.5}',
        "recvv=123 mycvvx=123",
        '{"amount": 737, "duration_ms": 737}',
    ],
)
def test_redacted_or_unrelated_values_are_not_cvvs(text: str) -> None:
    assert find_cvvs(text) == []


def test_redact_masks_cards_and_cvvs_in_a_location() -> None:
    assert redact("card:4111111111111111:cvv=737") == "card:411111******1111:cvv=***"
    assert redact("rq:job:abc") == "rq:job:abc"


# -- binary values -------------------------------------------------------------------------


def test_compressed_base64_and_pickled_values_are_searched_without_unpickling() -> None:
    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (pytest.fail, ("unpickled!",))

    payload = pickle.dumps(("jobs.charge", (4111111111111111, {"cvv": "737"}), Boom()))
    for raw in (
        payload,
        zlib.compress(payload),
        gzip.compress(payload),
        base64.b64encode(payload),
        base64.b64encode(zlib.compress(b'{"number": "5424000000000015"}')),
    ):
        found = scan_bytes(raw)
        assert found, raw[:10]
        for _, hit in found:
            assert "4111111111111111" not in hit.excerpt
            assert "5424000000000015" not in hit.excerpt
    # The card pickled as an int is binary: only the pickle reader can see it.
    found = scan_bytes(zlib.compress(payload))
    assert ("inflated, pickle", "411111******1111") in [(label, h.masked) for label, h in found]
    assert ("inflated, pickle", "***") in [(label, h.masked) for label, h in found]


def test_damaged_or_plain_values_are_still_searched() -> None:
    assert scan_bytes(b"\x80\x05garbage 4111111111111111")
    assert scan_bytes(b"x\x9c not really zlib 4111111111111111")
    # A truncated stream still gives up what was written before the cut.
    assert scan_bytes(zlib.compress(b"4111111111111111 " + bytes(100))[:-4])
    assert scan_bytes(b"plain 60000000001 txn_06H012EF380RQHN8") == []


# -- files ---------------------------------------------------------------------------------


def test_a_log_file_is_searched_line_by_line(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        '{"event": "ok", "card": {"number": "[REDACTED]", "cvv": "[REDACTED]"}}\n'
        '{"event": "leak", "number": "4007000000027"}\n'
        "plain line 60000000001\n"
        "cvv=4821"
    )
    report = ScanReport()
    scan_file(log, report)
    assert report.lines == 4
    assert report.files == [str(log)]
    assert [(hit.position, hit.kind) for hit in report.hits] == [
        ("line 2", "card_number"),
        ("line 4", "cvv"),
    ]
    assert all(hit.source == "file" and hit.location == str(log) for hit in report.hits)


def test_a_gzipped_log_is_read_as_text(tmp_path: Path) -> None:
    log = tmp_path / "app.log.1.gz"
    log.write_bytes(gzip.compress(b"one\ntwo 4111 1111 1111 1111\n"))
    report = ScanReport()
    scan_file(log, report)
    assert report.lines == 2
    assert [hit.position for hit in report.hits] == ["line 2"]


def test_a_line_longer_than_a_read_is_searched_across_its_pieces(tmp_path: Path) -> None:
    log = tmp_path / "huge.log"
    # Hits near and across the piece boundary, a CVV whose key and value straddle it.
    filler = "a" * (READ_CHUNK - 300)
    line = filler + ' "cvv": ' + " " * 290 + '"737" 4111111111111111 ' + "b" * 5000
    log.write_text("first\n" + line + "\nlast 5424000000000015\n")
    report = ScanReport()
    scan_file(log, report)
    assert report.lines == 3
    assert [(hit.position, hit.masked) for hit in report.hits] == [
        ("line 2", "***"),
        ("line 2", "411111******1111"),
        ("line 3", "542400******0015"),
    ]


def test_redis_urls_are_pointed_at_each_database() -> None:
    assert redis_url_for_db("redis://127.0.0.1:6379/9", 3) == "redis://127.0.0.1:6379/9?db=3"
    assert redis_url_for_db("unix:///tmp/r.sock?db=9&x=1", 0) == "unix:///tmp/r.sock?x=1&db=0"
