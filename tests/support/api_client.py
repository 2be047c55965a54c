"""What API tests share: a client with a movable clock that creates and signs in accounts."""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from api.auth.accounts import create_account
from api.core.clock import FrozenClock
from api.core.permissions import Role
from api.core.totp import totp_code
from data_contracts.settings import Settings

STAFF_PASSWORD = "correct horse battery staple 42"
CUSTOMER_PASSWORD = "a long passphrase nobody guesses 7"
serial = itertools.count()


@dataclass
class Api:
    """A test client, its clock and helpers to create accounts and sign in."""

    client: TestClient
    clock: FrozenClock
    settings: Settings

    def create(
        self, role: Role, customer_id: str | None = None, password: str | None = None
    ) -> str:
        # No long digit runs: the audit log masks anything that looks like a card number.
        email = f"{role.value}-{next(serial)}-w{os.getpid() % 1000}@example.test"
        password = password or (CUSTOMER_PASSWORD if role is Role.CUSTOMER else STAFF_PASSWORD)
        asyncio.run(
            create_account(
                self.settings,
                email=email,
                role=role,
                password=password,
                customer_id=customer_id,
                clock=self.clock,
            )
        )
        return email

    def login(self, email: str, password: str) -> Any:
        return self.client.post("/auth/login", json={"email": email, "password": password})

    def customer(self, customer_id: str) -> dict[str, str]:
        """A signed-in customer's headers."""
        email = self.create(Role.CUSTOMER, customer_id)
        response = self.login(email, CUSTOMER_PASSWORD)
        assert response.status_code == 200, response.text
        return {"Authorization": "Bearer " + response.json()["session"]["token"]}

    def staff(self, role: Role) -> tuple[dict[str, str], str]:
        """A signed-in staff member's headers and TOTP secret (MFA just done)."""
        email = self.create(role)
        first = self.login(email, STAFF_PASSWORD)
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["status"] == "mfa_enrolment_required"
        secret = body["totp_secret"]
        response = self.client.post(
            "/auth/mfa",
            json={"ticket": body["mfa_ticket"], "code": totp_code(secret, self.clock.now())},
        )
        assert response.status_code == 200, response.text
        return {"Authorization": "Bearer " + response.json()["token"]}, secret

    def step_up(self, headers: dict[str, str], secret: str) -> None:
        self.clock.advance(timedelta(seconds=30))  # a fresh code: the last one is spent
        response = self.client.post(
            "/auth/step-up", json={"code": totp_code(secret, self.clock.now())}, headers=headers
        )
        assert response.status_code == 200, response.text
