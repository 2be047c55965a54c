"""Passkeys end to end: a customer registers one, then signs in with it (software authenticator)."""

from __future__ import annotations

from api_client import Api
from softauthn import SoftAuthenticator

from api.core.permissions import Role


def _authenticator(api: Api) -> SoftAuthenticator:
    return SoftAuthenticator(api.settings.webauthn_rp_id, api.settings.origin_list[0])


def test_customer_registers_a_passkey_and_signs_in_with_it(api: Api, customer_ids):
    headers = api.customer(customer_ids[1])
    authenticator = _authenticator(api)
    options = api.client.post("/auth/passkeys/registration/options", headers=headers).json()
    assert options["publicKey"]["authenticatorSelection"]["userVerification"] == "required"
    credential = authenticator.create(options["publicKey"])
    registered = api.client.post(
        "/auth/passkeys/registration",
        json={"ceremony_id": options["ceremony_id"], "credential": credential},
        headers=headers,
    )
    assert registered.status_code == 201, registered.text

    start = api.client.post("/auth/passkeys/authentication/options").json()
    assertion = authenticator.get(start["publicKey"])
    signed_in = api.client.post(
        "/auth/passkeys/authentication",
        json={"ceremony_id": start["ceremony_id"], "credential": assertion},
    )
    assert signed_in.status_code == 200, signed_in.text
    token = {"Authorization": "Bearer " + signed_in.json()["token"]}
    session = api.client.get("/auth/session", headers=token).json()
    assert session["auth_method"] == "passkey"
    assert session["customer_id"] == customer_ids[1]
    me = api.client.get("/api/v1/me", headers=token)
    assert me.status_code == 200 and me.json()["id"] == customer_ids[1]


def test_a_replayed_or_unknown_passkey_assertion_is_refused(api: Api, customer_ids):
    headers = api.customer(customer_ids[2])
    authenticator = _authenticator(api)
    options = api.client.post("/auth/passkeys/registration/options", headers=headers).json()
    api.client.post(
        "/auth/passkeys/registration",
        json={
            "ceremony_id": options["ceremony_id"],
            "credential": authenticator.create(options["publicKey"]),
        },
        headers=headers,
    )
    start = api.client.post("/auth/passkeys/authentication/options").json()
    assertion = authenticator.get(start["publicKey"])
    body = {"ceremony_id": start["ceremony_id"], "credential": assertion}
    assert api.client.post("/auth/passkeys/authentication", json=body).status_code == 200
    replay = api.client.post("/auth/passkeys/authentication", json=body)
    assert replay.status_code == 401  # the challenge was used up

    stranger = _authenticator(api)
    stranger.create(options["publicKey"])  # a key the server never registered
    start = api.client.post("/auth/passkeys/authentication/options").json()
    unknown = api.client.post(
        "/auth/passkeys/authentication",
        json={"ceremony_id": start["ceremony_id"], "credential": stranger.get(start["publicKey"])},
    )
    assert unknown.status_code == 401
    assert unknown.json()["type"].endswith("/passkey-failed")


def test_staff_cannot_register_passkeys(api: Api):
    headers, _ = api.staff(Role.SUPPORT_AGENT)
    response = api.client.post("/auth/passkeys/registration/options", headers=headers)
    assert response.status_code == 403
