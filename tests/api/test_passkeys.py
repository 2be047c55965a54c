"""Passkeys: registration and sign-in against a software authenticator, and every refusal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import pytest
from softauthn import SOFT_AAGUID_STR, SoftAuthenticator, b64url, b64url_decode

from api.core.passkeys import (
    PasskeyConfig,
    PasskeyError,
    RegisteredPasskey,
    authentication_options,
    credential_id_of,
    registration_options,
    verify_authentication,
    verify_registration,
)

RP_ID = "cems.example"
ORIGIN = "https://cems.example"
APP_ORIGIN = "android:apk-key-hash:Zm9vYmFyYmF6cXV4"
CONFIG = PasskeyConfig(rp_id=RP_ID, rp_name="CEMS", origins=(ORIGIN, APP_ORIGIN))
USER_HANDLE = bytes(range(16))


def register(authenticator: SoftAuthenticator, **kwargs: Any) -> RegisteredPasskey:
    options, challenge = registration_options(
        CONFIG, user_handle=USER_HANDLE, user_name="alice@example.com", display_name="Alice"
    )
    response = authenticator.create(options, **kwargs)
    return verify_registration(CONFIG, credential=response, expected_challenge=challenge)


def refusal(error: pytest.ExceptionInfo[PasskeyError], reason: str) -> None:
    assert error.value.reason == reason, str(error.value)
    message = str(error.value)
    assert message[0].isupper() and message.endswith(".")
    assert ". " not in message.rstrip(".")  # one sentence


@dataclass
class Stored:
    """What the database would hold for one passkey."""

    passkey: RegisteredPasskey
    sign_count: int


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(RP_ID, ORIGIN)


@pytest.fixture
def stored(authenticator: SoftAuthenticator) -> Stored:
    passkey = register(authenticator)
    return Stored(passkey, passkey.sign_count)


def sign_in(authenticator: SoftAuthenticator, stored: Stored, **kwargs: Any) -> int:
    options, challenge = authentication_options(
        CONFIG, allow_credential_ids=[stored.passkey.credential_id]
    )
    response = authenticator.get(options, **kwargs)
    assert credential_id_of(response) == stored.passkey.credential_id
    count = verify_authentication(
        CONFIG,
        credential=response,
        expected_challenge=challenge,
        public_key=stored.passkey.public_key,
        sign_count=stored.sign_count,
    )
    stored.sign_count = count
    return count


# --- options ------------------------------------------------------------------------------


def test_registration_options_are_json_and_require_user_verification() -> None:
    options, challenge = registration_options(
        CONFIG,
        user_handle=USER_HANDLE,
        user_name="alice@example.com",
        display_name="Alice",
        exclude_credential_ids=[b"\x01\x02\x03"],
    )
    decoded = json.loads(json.dumps(options))
    assert decoded["rp"] == {"id": RP_ID, "name": "CEMS"}
    assert b64url_decode(decoded["user"]["id"]) == USER_HANDLE
    assert decoded["user"]["name"] == "alice@example.com"
    assert decoded["user"]["displayName"] == "Alice"
    assert b64url_decode(decoded["challenge"]) == challenge
    assert len(challenge) >= 16
    selection = decoded["authenticatorSelection"]
    assert selection["userVerification"] == "required"
    assert selection["residentKey"] == "preferred"
    algs = [p["alg"] for p in decoded["pubKeyCredParams"]]
    assert -7 in algs and -257 in algs
    assert decoded["excludeCredentials"] == [{"id": b64url(b"\x01\x02\x03"), "type": "public-key"}]


def test_authentication_options_are_json_and_require_user_verification() -> None:
    options, challenge = authentication_options(CONFIG, allow_credential_ids=[b"\xaa" * 8])
    decoded = json.loads(json.dumps(options))
    assert decoded["userVerification"] == "required"
    assert decoded["rpId"] == RP_ID
    assert decoded["allowCredentials"] == [{"id": b64url(b"\xaa" * 8), "type": "public-key"}]
    assert b64url_decode(decoded["challenge"]) == challenge


def test_every_ceremony_gets_a_fresh_challenge() -> None:
    assert authentication_options(CONFIG)[1] != authentication_options(CONFIG)[1]


def test_user_handle_must_be_1_to_64_bytes() -> None:
    for handle in (b"", b"x" * 65):
        with pytest.raises(ValueError):
            registration_options(CONFIG, user_handle=handle, user_name="a", display_name="a")


def test_config_needs_an_origin() -> None:
    with pytest.raises(ValueError):
        PasskeyConfig(rp_id=RP_ID, rp_name="CEMS", origins=())


# --- registration -------------------------------------------------------------------------


def test_register_then_sign_in(authenticator: SoftAuthenticator, stored: Stored) -> None:
    passkey = stored.passkey
    assert passkey.credential_id == authenticator.credentials[0].credential_id
    assert passkey.aaguid == SOFT_AAGUID_STR
    assert passkey.transports == ("internal",)
    assert passkey.sign_count == 0
    assert passkey.backed_up is False
    assert sign_in(authenticator, stored) == 1
    assert sign_in(authenticator, stored) == 2


def test_second_configured_origin_is_accepted(authenticator: SoftAuthenticator) -> None:
    passkey = register(authenticator, origin=APP_ORIGIN)
    assert sign_in(authenticator, Stored(passkey, 0), origin=APP_ORIGIN) == 1


def test_response_as_json_string_or_read_only_mapping(authenticator: SoftAuthenticator) -> None:
    options, challenge = registration_options(
        CONFIG, user_handle=USER_HANDLE, user_name="alice", display_name="Alice"
    )
    response = authenticator.create(options)
    as_text = verify_registration(
        CONFIG, credential=json.dumps(response), expected_challenge=challenge
    )
    frozen = MappingProxyType({**response, "response": MappingProxyType(response["response"])})
    as_mapping = verify_registration(CONFIG, credential=frozen, expected_challenge=challenge)
    assert as_text == as_mapping
    assert credential_id_of(json.dumps(response)) == as_text.credential_id


def test_registration_with_wrong_challenge_is_refused(authenticator: SoftAuthenticator) -> None:
    options, _ = registration_options(
        CONFIG, user_handle=USER_HANDLE, user_name="alice", display_name="Alice"
    )
    _, other_challenge = registration_options(
        CONFIG, user_handle=USER_HANDLE, user_name="alice", display_name="Alice"
    )
    with pytest.raises(PasskeyError) as error:
        verify_registration(
            CONFIG, credential=authenticator.create(options), expected_challenge=other_challenge
        )
    refusal(error, "challenge")


def test_registration_from_foreign_origin_is_refused(authenticator: SoftAuthenticator) -> None:
    with pytest.raises(PasskeyError) as error:
        register(authenticator, origin="https://cems.example.evil.test")
    refusal(error, "origin")


def test_registration_for_another_rp_id_is_refused() -> None:
    with pytest.raises(PasskeyError) as error:
        register(SoftAuthenticator("evil.test", ORIGIN))
    refusal(error, "rp_id")


def test_registration_without_user_verification_is_refused() -> None:
    with pytest.raises(PasskeyError) as error:
        register(SoftAuthenticator(RP_ID, ORIGIN, user_verified=False))
    refusal(error, "user_verification")


def test_registration_inside_a_cross_origin_iframe_is_refused(
    authenticator: SoftAuthenticator,
) -> None:
    with pytest.raises(PasskeyError) as error:
        register(authenticator, cross_origin=True)
    refusal(error, "cross_origin")


def test_assertion_is_not_a_registration(authenticator: SoftAuthenticator, stored: Stored) -> None:
    options, challenge = authentication_options(CONFIG)
    assertion = authenticator.get(options)
    with pytest.raises(PasskeyError) as error:
        verify_registration(CONFIG, credential=assertion, expected_challenge=challenge)
    refusal(error, "malformed")


def test_excluded_credentials_reach_the_authenticator(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    options, _ = registration_options(
        CONFIG,
        user_handle=USER_HANDLE,
        user_name="alice",
        display_name="Alice",
        exclude_credential_ids=[stored.passkey.credential_id],
    )
    with pytest.raises(ValueError, match="InvalidStateError"):
        authenticator.create(options)


# --- sign-in ------------------------------------------------------------------------------


def assertion_for(
    authenticator: SoftAuthenticator, stored: Stored, **kwargs: Any
) -> tuple[dict[str, Any], bytes]:
    options, challenge = authentication_options(
        CONFIG, allow_credential_ids=[stored.passkey.credential_id]
    )
    return authenticator.get(options, **kwargs), challenge


def verify(stored: Stored, response: Any, challenge: bytes) -> int:
    return verify_authentication(
        CONFIG,
        credential=response,
        expected_challenge=challenge,
        public_key=stored.passkey.public_key,
        sign_count=stored.sign_count,
    )


def test_discoverable_sign_in_names_the_passkey(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    options, challenge = authentication_options(CONFIG)  # no allow list: username-less
    response = authenticator.get(options)
    assert credential_id_of(response) == stored.passkey.credential_id
    assert b64url_decode(response["response"]["userHandle"]) == USER_HANDLE
    assert verify(stored, response, challenge) == 1


def test_sign_in_with_wrong_challenge_is_refused(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    response, _ = assertion_for(authenticator, stored)
    _, other_challenge = authentication_options(CONFIG)
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, other_challenge)
    refusal(error, "challenge")


def test_sign_in_from_foreign_origin_is_refused(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    response, challenge = assertion_for(authenticator, stored, origin="https://evil.test")
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "origin")


def test_sign_in_for_another_rp_id_is_refused(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    authenticator.rp_id = "evil.test"
    response, challenge = assertion_for(authenticator, stored)
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "rp_id")


def test_sign_in_without_user_verification_is_refused(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    response, challenge = assertion_for(authenticator, stored, user_verified=False)
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "user_verification")


def test_sign_in_inside_a_cross_origin_iframe_is_refused(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    response, challenge = assertion_for(authenticator, stored, cross_origin=True)
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "cross_origin")


def flip_last_byte(text: str) -> str:
    raw = bytearray(b64url_decode(text))
    raw[-1] ^= 0x01
    return b64url(bytes(raw))


def test_tampered_signature_is_refused(authenticator: SoftAuthenticator, stored: Stored) -> None:
    response, challenge = assertion_for(authenticator, stored)
    response["response"]["signature"] = flip_last_byte(response["response"]["signature"])
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "signature")


def test_tampered_authenticator_data_is_refused(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    # Bumping the counter by hand breaks the signature that covers it.
    response, challenge = assertion_for(authenticator, stored)
    response["response"]["authenticatorData"] = flip_last_byte(
        response["response"]["authenticatorData"]
    )
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "signature")


def test_cloned_authenticator_is_refused(authenticator: SoftAuthenticator, stored: Stored) -> None:
    clone = authenticator.clone()
    assert sign_in(authenticator, stored) == 1
    assert sign_in(authenticator, stored) == 2
    response, challenge = assertion_for(clone, stored)  # clone's counter: 1, stored: 2
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "sign_count")


def test_counter_that_does_not_move_is_refused(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    assert sign_in(authenticator, stored) == 1
    authenticator.counter = 0  # next assertion says 1 again
    response, challenge = assertion_for(authenticator, stored)
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "sign_count")


def test_same_assertion_cannot_be_replayed(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    response, challenge = assertion_for(authenticator, stored)
    stored.sign_count = verify(stored, response, challenge)
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "sign_count")


def test_authenticators_that_never_count_are_accepted(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    # Synced passkeys (iCloud Keychain, Google Password Manager) always report 0.
    for _ in range(2):
        authenticator.counter = -1  # get() increments to 0
        assert sign_in(authenticator, stored) == 0


def test_assertion_from_another_authenticator_is_refused(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    stranger = SoftAuthenticator(RP_ID, ORIGIN)
    register(stranger)
    options, challenge = authentication_options(CONFIG)
    response = stranger.get(options)
    assert credential_id_of(response) != stored.passkey.credential_id  # lookup finds nothing
    # Even pretending to be the stored credential does not help without its private key.
    response["id"] = response["rawId"] = b64url(stored.passkey.credential_id)
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "signature")


@pytest.mark.parametrize(
    "response",
    [
        "not json",
        "[]",
        {},
        {"id": "abc", "rawId": "abd"},
        {"id": "a+b/", "rawId": "a+b/"},
        {"id": 5, "rawId": 5},
    ],
)
def test_credential_id_of_malformed_response(response: Any) -> None:
    with pytest.raises(PasskeyError) as error:
        credential_id_of(response)
    refusal(error, "malformed")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda r: r.pop("response"),
        lambda r: r["response"].pop("signature"),
        lambda r: r["response"].update(clientDataJSON=b64url(b"{not json")),
        lambda r: r["response"].update(authenticatorData=b64url(b"short")),
        lambda r: r.update(type="password"),
        lambda r: r.update(id="AAAA"),
    ],
)
def test_malformed_assertions_are_refused(
    authenticator: SoftAuthenticator, stored: Stored, mangle: Any
) -> None:
    response, challenge = assertion_for(authenticator, stored)
    mangle(response)
    with pytest.raises(PasskeyError) as error:
        verify(stored, response, challenge)
    refusal(error, "malformed")


def test_garbage_public_key_is_a_passkey_error(
    authenticator: SoftAuthenticator, stored: Stored
) -> None:
    response, challenge = assertion_for(authenticator, stored)
    with pytest.raises(PasskeyError):
        verify_authentication(
            CONFIG,
            credential=response,
            expected_challenge=challenge,
            public_key=b"\xa1\x01\x02",
            sign_count=0,
        )
