"""A software WebAuthn authenticator + client for tests (ES256, "none" attestation).

It answers ``registration_options``/``authentication_options`` JSON with exactly what a
browser's ``PublicKeyCredential.toJSON()`` returns. Unlike a real browser it does not check
that its ``rp_id`` fits the origin or the options, so tests can play a phishing site.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import secrets
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40

# An AAGUID of our own, so tests can tell it from the all-zero "unknown authenticator" one.
SOFT_AAGUID = bytes.fromhex("5c0f7a0b1e2d4c3b8a7f6e5d4c3b2a19")
SOFT_AAGUID_STR = "5c0f7a0b-1e2d-4c3b-8a7f-6e5d4c3b2a19"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,  # kty: EC2
                3: -7,  # alg: ES256
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


class SoftAuthenticator:
    """A platform authenticator with one global signature counter (like many real ones).

    Knobs: ``origin`` and ``user_verified`` are plain attributes (also per call), ``counter``
    can be set back to simulate a clone (or use ``clone()``), ``credentials`` holds every
    passkey created so far.
    """

    def __init__(self, rp_id: str, origin: str, *, user_verified: bool = True) -> None:
        self.rp_id = rp_id
        self.origin = origin
        self.user_verified = user_verified
        self.counter = 0
        self.credentials: list[SoftCredential] = []

    def clone(self) -> SoftAuthenticator:
        """A copy with the same keys and counter, as an attacker extracting them would get."""
        return copy.deepcopy(self)

    def _client_data(
        self, kind: str, options: Mapping[str, Any], origin: str | None, cross_origin: bool
    ) -> bytes:
        # Same member order and compact form as browsers.
        data = {
            "type": kind,
            "challenge": options["challenge"],
            "origin": origin or self.origin,
            "crossOrigin": cross_origin,
        }
        return json.dumps(data, separators=(",", ":")).encode()

    def _auth_data(self, flags: int, tail: bytes = b"") -> bytes:
        rp_id_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_id_hash + bytes([flags]) + struct.pack(">I", self.counter) + tail

    def _flags(self, user_verified: bool | None) -> int:
        verified = self.user_verified if user_verified is None else user_verified
        return FLAG_UP | (FLAG_UV if verified else 0)

    def create(
        self,
        options: Mapping[str, Any],
        *,
        origin: str | None = None,
        user_verified: bool | None = None,
        cross_origin: bool = False,
    ) -> dict[str, Any]:
        """A new ES256 passkey: the JSON ``navigator.credentials.create()`` gives the page."""
        excluded = {b64url_decode(c["id"]) for c in options.get("excludeCredentials", [])}
        if any(c.credential_id in excluded for c in self.credentials):
            raise ValueError("InvalidStateError: this authenticator already holds an excluded key")
        if not any(p["alg"] == -7 for p in options["pubKeyCredParams"]):
            raise ValueError("NotSupportedError: ES256 not offered")
        credential = SoftCredential(
            credential_id=secrets.token_bytes(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=self.rp_id,
            user_handle=b64url_decode(options["user"]["id"]),
        )
        self.credentials.append(credential)
        cose_key = credential.cose_public_key()
        attested = (
            SOFT_AAGUID
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + cose_key
        )
        auth_data = self._auth_data(self._flags(user_verified) | FLAG_AT, attested)
        client_data = self._client_data("webauthn.create", options, origin, cross_origin)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        spki = credential.private_key.public_key().public_bytes(
            encoding=serialization.Encoding.DER,
            format=serialization.PublicFormat.SubjectPublicKeyInfo,
        )
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "authenticatorData": b64url(auth_data),
                "transports": ["internal"],
                "publicKey": b64url(spki),
                "publicKeyAlgorithm": -7,
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: Mapping[str, Any],
        *,
        origin: str | None = None,
        user_verified: bool | None = None,
        credential_id: bytes | None = None,
        cross_origin: bool = False,
    ) -> dict[str, Any]:
        """An assertion: the JSON ``navigator.credentials.get()`` gives the page.

        Uses ``credential_id`` if given, else the newest passkey the options allow (any of
        ours for the rp when ``allowCredentials`` is empty: a discoverable-passkey sign-in).
        """
        allowed = {b64url_decode(c["id"]) for c in options.get("allowCredentials", [])}
        candidates = [
            c
            for c in self.credentials
            if (credential_id is None or c.credential_id == credential_id)
            and (not allowed or c.credential_id in allowed)
        ]
        if not candidates:
            raise ValueError("NotAllowedError: no matching passkey on this authenticator")
        credential = candidates[-1]
        self.counter += 1
        auth_data = self._auth_data(self._flags(user_verified))
        client_data = self._client_data("webauthn.get", options, origin, cross_origin)
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential.credential_id),
            "rawId": b64url(credential.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }
