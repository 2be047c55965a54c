"""Passkeys (WebAuthn) on top of py_webauthn: options out, responses verified in.

User verification is always required (a passkey replaces password *and* second factor, and it
is what the mobile app's biometric unlock relies on). The caller keeps each challenge
server-side for one ceremony only (at most ``CEREMONY_TIMEOUT_MS``), looks the stored passkey
up by ``credential_id_of`` and saves the returned sign count.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    options_to_json_dict,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

# WebAuthn recommends 5-10 minutes when user verification is required (PIN entry is slow).
CEREMONY_TIMEOUT_MS: Final = 300_000

# In order of preference: ES256 (nearly every authenticator), EdDSA, RS256 (Windows Hello).
ALGORITHMS: Final = (
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
)

_B64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class PasskeyConfig:
    """The relying party: its id (registrable domain), display name and allowed origins."""

    rp_id: str
    rp_name: str
    origins: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.rp_id or not self.rp_name or not self.origins:
            raise ValueError("PasskeyConfig needs an rp_id, an rp_name and at least one origin.")


class PasskeyError(ValueError):
    """A passkey response was refused; ``str(error)`` is one sentence for the person.

    ``reason`` is a stable slug for logs and metrics (``sign_count`` deserves an alert: it
    suggests a cloned authenticator).
    """

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class RegisteredPasskey:
    """What to store for a newly registered passkey."""

    credential_id: bytes
    public_key: bytes  # COSE_Key bytes, as given to verify_authentication later
    sign_count: int
    aaguid: str
    transports: tuple[str, ...]
    backed_up: bool


def _plain(value: Any) -> Any:
    # py_webauthn only parses real dicts and lists, not other Mappings/Sequences.
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _as_json(credential: Mapping[str, Any] | str) -> dict[str, Any] | str:
    return credential if isinstance(credential, str) else _plain(credential)


# py_webauthn reports every failure as an exception with an English message; these fragments
# (py_webauthn 3.x wording, pinned by the tests) map them to a sentence for the person.
_LIBRARY_MESSAGES: Final[tuple[tuple[str, str, str], ...]] = (
    (
        "challenge was not expected",
        "challenge",
        "This passkey response does not match the current request, which may have expired; "
        "please start again.",
    ),
    (
        "client data origin",
        "origin",
        "This passkey response came from a website or app that may not use {rp_name} passkeys; "
        "please use the official {rp_name} website or app.",
    ),
    (
        "RP ID hash",
        "rp_id",
        "This passkey was made for a different website; please use a passkey created for "
        "{rp_name}.",
    ),
    (
        "User verification is required",
        "user_verification",
        "Your device did not confirm it was you; unlock it with your fingerprint, face or PIN "
        "and try again.",
    ),
    (
        "not present",
        "user_presence",
        "Your device did not confirm you were there; touch or unlock it and try again.",
    ),
    (
        "sign count",
        "sign_count",
        "This passkey's use counter did not go up, which suggests a copied device, so it was "
        "refused; please sign in another way and contact support.",
    ),
    (
        "authentication signature",
        "signature",
        "The passkey signature is not valid; please try again with a passkey registered to this "
        "account.",
    ),
    (
        "Unsupported credential public key alg",
        "algorithm",
        "This passkey uses an algorithm {rp_name} does not accept; please try another device or "
        "password manager.",
    ),
    (
        "client data type",
        "ceremony",
        "This response belongs to a different passkey step; please start again.",
    ),
)


def _translate(exc: Exception, config: PasskeyConfig) -> PasskeyError:
    text = str(exc)
    for fragment, reason, message in _LIBRARY_MESSAGES:
        if fragment in text:
            return PasskeyError(message.format(rp_name=config.rp_name), reason=reason)
    return PasskeyError(
        "The passkey response is incomplete or malformed; please try again.", reason="malformed"
    )


def _reject_cross_origin(client_data_json: bytes, config: PasskeyConfig) -> None:
    # CEMS never runs its passkey pages inside another site's iframe; the library allows it.
    if parse_client_data_json(client_data_json).cross_origin:
        raise PasskeyError(
            "Passkeys cannot be used from inside another website; "
            f"please open the {config.rp_name} page directly.",
            reason="cross_origin",
        )


def registration_options(
    config: PasskeyConfig,
    *,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    exclude_credential_ids: Sequence[bytes] = (),
) -> tuple[dict[str, Any], bytes]:
    """JSON-ready PublicKeyCredentialCreationOptions and the challenge to remember server-side.

    ``user_handle`` is the account's opaque WebAuthn id (1-64 random bytes, never an email).
    """
    if not 1 <= len(user_handle) <= 64:
        raise ValueError("user_handle must be 1 to 64 bytes.")
    options = generate_registration_options(
        rp_id=config.rp_id,
        rp_name=config.rp_name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        timeout=CEREMONY_TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(cid)) for cid in exclude_credential_ids
        ],
        supported_pub_key_algs=list(ALGORITHMS),
    )
    return options_to_json_dict(options), options.challenge


def verify_registration(
    config: PasskeyConfig, *, credential: Mapping[str, Any] | str, expected_challenge: bytes
) -> RegisteredPasskey:
    """Check a ``navigator.credentials.create()`` response; raise PasskeyError if refused."""
    try:
        parsed = parse_registration_credential_json(_as_json(credential))
        _reject_cross_origin(parsed.response.client_data_json, config)
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=expected_challenge,
            expected_rp_id=config.rp_id,
            expected_origin=list(config.origins),
            require_user_presence=True,
            require_user_verification=True,
            supported_pub_key_algs=list(ALGORITHMS),
        )
    except PasskeyError:
        raise
    except Exception as exc:  # the library raises many types for hostile input
        raise _translate(exc, config) from exc
    return RegisteredPasskey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        aaguid=verified.aaguid,
        transports=tuple(t.value for t in parsed.response.transports or ()),
        backed_up=verified.credential_backed_up,
    )


def authentication_options(
    config: PasskeyConfig, *, allow_credential_ids: Sequence[bytes] = ()
) -> tuple[dict[str, Any], bytes]:
    """JSON-ready PublicKeyCredentialRequestOptions and the challenge to remember server-side.

    With no ``allow_credential_ids`` the device offers its discoverable passkeys for the site.
    """
    options = generate_authentication_options(
        rp_id=config.rp_id,
        timeout=CEREMONY_TIMEOUT_MS,
        allow_credentials=[
            PublicKeyCredentialDescriptor(id=bytes(cid)) for cid in allow_credential_ids
        ],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return options_to_json_dict(options), options.challenge


def verify_authentication(
    config: PasskeyConfig,
    *,
    credential: Mapping[str, Any] | str,
    expected_challenge: bytes,
    public_key: bytes,
    sign_count: int,
) -> int:
    """Check a ``navigator.credentials.get()`` response against the stored passkey.

    Returns the new sign count to store. A counter that does not go up (unless it stays 0, as
    synced passkeys report) is refused with reason ``sign_count``: a cloned authenticator.
    """
    try:
        parsed = parse_authentication_credential_json(_as_json(credential))
        _reject_cross_origin(parsed.response.client_data_json, config)
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=expected_challenge,
            expected_rp_id=config.rp_id,
            expected_origin=list(config.origins),
            credential_public_key=public_key,
            credential_current_sign_count=sign_count,
            require_user_verification=True,
        )
    except PasskeyError:
        raise
    except Exception as exc:  # the library raises many types for hostile input
        raise _translate(exc, config) from exc
    return verified.new_sign_count


def credential_id_of(credential: Mapping[str, Any] | str) -> bytes:
    """The raw credential id a client response names, to look up the stored passkey."""
    malformed = PasskeyError(
        "The passkey response does not say which passkey was used; please try again.",
        reason="malformed",
    )
    try:
        data = json.loads(credential) if isinstance(credential, str) else credential
        raw_id = data["rawId"]
    except (ValueError, TypeError, KeyError) as exc:
        raise malformed from exc
    # Strict base64url: the stdlib decoder silently skips characters outside the alphabet.
    if not isinstance(raw_id, str) or not _B64URL.fullmatch(raw_id) or data.get("id") != raw_id:
        raise malformed
    try:
        return base64.urlsafe_b64decode(raw_id + "=" * (-len(raw_id) % 4))
    except binascii.Error as exc:
        raise malformed from exc
