"""Standard Webhooks signing and verification against the specification's published test vector."""

import base64

import pytest

from videojobs.standard_webhooks import StandardWebhook, WebhookVerificationError, read_delivery

# The test vector from standard-webhooks/standard-webhooks, libraries/python/tests/test_webhooks.py
# (test_sign_function); the same values appear in the other libraries' tests.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

OTHER_SECRET = "whsec_" + base64.b64encode(b"the key of some other endpoint").decode()


def vector_headers(**overrides: str) -> dict[str, str]:
    return {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": SIGNATURE,
        **overrides,
    }


def test_the_vector_signs_to_the_published_signature() -> None:
    assert StandardWebhook(SECRET).sign(MSG_ID, TIMESTAMP, BODY) == SIGNATURE


def test_headers_carries_id_timestamp_and_signature() -> None:
    assert StandardWebhook(SECRET).headers(MSG_ID, TIMESTAMP, BODY) == vector_headers()


def test_verify_accepts_the_vector() -> None:
    StandardWebhook(SECRET).verify(vector_headers(), BODY, now=TIMESTAMP)


def test_verify_looks_headers_up_case_insensitively() -> None:
    headers = {name.title(): value for name, value in vector_headers().items()}
    assert "Webhook-Signature" in headers
    StandardWebhook(SECRET).verify(headers, BODY, now=TIMESTAMP + 10)


def test_prefixed_and_bare_secrets_sign_alike() -> None:
    bare = SECRET.removeprefix("whsec_")
    assert StandardWebhook(bare).sign(MSG_ID, TIMESTAMP, BODY) == SIGNATURE
    StandardWebhook(bare).verify(vector_headers(), BODY, now=TIMESTAMP)


def test_unpadded_base64_secret_is_accepted() -> None:
    padded = StandardWebhook("whsec_YWJjZA==")
    assert StandardWebhook("whsec_YWJjZA").sign(MSG_ID, TIMESTAMP, BODY) == padded.sign(
        MSG_ID, TIMESTAMP, BODY
    )


@pytest.mark.parametrize("secret", ["", "whsec_", "   ", "whsec_not base64!", "ab$cd", "whsec_abcde"])
def test_a_bad_secret_is_refused_at_construction(secret: str) -> None:
    with pytest.raises(ValueError, match="webhook secret"):
        StandardWebhook(secret)


def test_a_tampered_body_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        StandardWebhook(SECRET).verify(vector_headers(), b'{"test": 2432232315}', now=TIMESTAMP)


def test_the_wrong_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        StandardWebhook(OTHER_SECRET).verify(vector_headers(), BODY, now=TIMESTAMP)


def test_a_timestamp_at_the_tolerance_edge_is_accepted() -> None:
    StandardWebhook(SECRET).verify(vector_headers(), BODY, now=TIMESTAMP + 300)
    StandardWebhook(SECRET).verify(vector_headers(), BODY, now=TIMESTAMP - 300)


def test_a_timestamp_older_than_the_tolerance_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        StandardWebhook(SECRET).verify(vector_headers(), BODY, now=TIMESTAMP + 301)


def test_a_timestamp_newer_than_the_tolerance_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="too new"):
        StandardWebhook(SECRET).verify(vector_headers(), BODY, now=TIMESTAMP - 301)


def test_the_tolerance_can_be_narrowed() -> None:
    with pytest.raises(WebhookVerificationError, match="too old"):
        StandardWebhook(SECRET).verify(vector_headers(), BODY, now=TIMESTAMP + 31, tolerance_seconds=30)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing: str) -> None:
    headers = vector_headers()
    del headers[missing]
    with pytest.raises(WebhookVerificationError, match="missing"):
        StandardWebhook(SECRET).verify(headers, BODY, now=TIMESTAMP)


@pytest.mark.parametrize("timestamp", ["hello", "1614265330.5", "-1614265330", "１６１４２６５３３０"])
def test_a_timestamp_that_is_not_an_integer_is_refused(timestamp: str) -> None:
    with pytest.raises(WebhookVerificationError, match="not an integer"):
        StandardWebhook(SECRET).verify(
            vector_headers(**{"webhook-timestamp": timestamp}), BODY, now=TIMESTAMP
        )


def test_several_signatures_are_accepted_when_the_second_matches() -> None:
    other = StandardWebhook(OTHER_SECRET).sign(MSG_ID, TIMESTAMP, BODY)
    header = f"{other} {SIGNATURE}"
    StandardWebhook(SECRET).verify(vector_headers(**{"webhook-signature": header}), BODY, now=TIMESTAMP)


def test_malformed_and_other_version_entries_are_skipped_not_crashed_on() -> None:
    signature_b64 = SIGNATURE.removeprefix("v1,")
    junk = f"garbage v1 v1,not*base64 v2,{signature_b64} v1a,{signature_b64}"
    with pytest.raises(WebhookVerificationError, match="no matching signature"):
        StandardWebhook(SECRET).verify(vector_headers(**{"webhook-signature": junk}), BODY, now=TIMESTAMP)
    accepted = f"{junk} {SIGNATURE}"
    StandardWebhook(SECRET).verify(vector_headers(**{"webhook-signature": accepted}), BODY, now=TIMESTAMP)


def test_non_utf8_bodies_sign_and_verify() -> None:
    webhook = StandardWebhook(SECRET)
    body = b"\xff\xfe\x00binary"
    webhook.verify(webhook.headers("msg_1", TIMESTAMP, body), body, now=TIMESTAMP)


def test_a_delivery_is_read_before_any_secret_and_then_matched_against_several() -> None:
    delivery = read_delivery(vector_headers(), now=TIMESTAMP)

    assert (delivery.msg_id, delivery.timestamp, delivery.signatures) == (
        MSG_ID,
        str(TIMESTAMP),
        (SIGNATURE,),
    )
    assert StandardWebhook(SECRET).matches(delivery, BODY)
    assert not StandardWebhook(OTHER_SECRET).matches(delivery, BODY)
    assert not StandardWebhook(SECRET).matches(delivery, BODY + b" ")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (vector_headers(**{"webhook-timestamp": str(TIMESTAMP - 301)}), "too old"),
        (vector_headers(**{"webhook-timestamp": "soon"}), "not an integer"),
        ({"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP)}, "missing"),
    ],
)
def test_reading_a_delivery_refuses_what_needs_no_secret_to_refuse(
    headers: dict[str, str], reason: str
) -> None:
    with pytest.raises(WebhookVerificationError, match=reason):
        read_delivery(headers, now=TIMESTAMP)


def test_only_v1_entries_are_kept_for_matching() -> None:
    header = f"v1a,abc v2,{SIGNATURE.removeprefix('v1,')} {SIGNATURE} junk"

    delivery = read_delivery(vector_headers(**{"webhook-signature": header}), now=TIMESTAMP)

    assert delivery.signatures == (SIGNATURE,)
