"""Problem details in English, Spanish and French, chosen by Accept-Language.

Two halves: the catalog (every key in every language with the same placeholders, every key
the code names exists, English-only exceptions map to messages that say the same thing), and
the API answering the common problems in es and fr with the same type and status as in en.
"""

from __future__ import annotations

import ast
import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from api_client import CUSTOMER_PASSWORD, Api

from api.auth import service
from api.core import i18n, passkeys, passwords, problems
from api.core.i18n import DEFAULT, SUPPORTED, msg, negotiate, placeholders, translate
from api.core.messages import MESSAGES
from api.core.permissions import Role
from api.core.problems import PROBLEM_BASE, PROBLEM_TYPES, Problem
from api.routes import admin

API_ROOT = Path(__file__).resolve().parents[2] / "api"
PROBLEM = "application/problem+json"
LOCALISED = ("title", "detail", "request_id")

# (language served, Accept-Language sent): the default, each language, and negotiation.
CASES = [
    ("en", None),
    ("es", "es"),
    ("fr", "fr"),
    ("es", "es-MX,es;q=0.9,en;q=0.5"),
    ("fr", "fr-CA;q=0.9, es;q=0.8"),
    ("en", "de"),
]


def headers_for(accept_language: str | None, **extra: str) -> dict[str, str]:
    return {**extra, **({"Accept-Language": accept_language} if accept_language else {})}


def check_problem(
    response: Any, lang: str, slug: str, key: str, **params: object
) -> dict[str, Any]:
    """The answer is problem ``slug`` with ``key`` rendered in ``lang``, labelled as such."""
    body: dict[str, Any] = response.json()
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["content-language"] == lang
    assert "Accept-Language" in response.headers["vary"]
    assert body["type"] == PROBLEM_BASE + slug
    assert body["status"] == response.status_code
    assert body["title"] == translate(f"problem.{slug}", lang)
    assert body["detail"] == translate(key, lang, **params)
    return body


def in_every_language(send: Any, slug: str, key: str, **params: object) -> dict[str, Any]:
    """Send the same request in every case; the details differ only by language."""
    bodies: dict[str, Any] = {}
    stable: list[dict[str, Any]] = []
    for lang, accept in CASES:
        body = check_problem(send(accept), lang, slug, key, **params)
        bodies.setdefault(lang, body)
        # type, status, instance and extensions do not depend on the language
        stable.append({k: v for k, v in body.items() if k not in LOCALISED})
    assert all(s == stable[0] for s in stable)
    assert len({b["detail"] for b in bodies.values()}) == len(SUPPORTED)
    assert len({b["title"] for b in bodies.values()}) == len(SUPPORTED)
    return bodies


# --- negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("es", "es"),
        ("fr", "fr"),
        ("FR", "fr"),
        ("fr-CA", "fr"),
        ("es-419", "es"),
        ("fr-CA;q=0.9, es;q=0.8", "fr"),
        ("es;q=0.8, fr-CA;q=0.9", "fr"),
        ("en;q=0.1, fr", "fr"),
        ("de", "en"),
        ("de, es;q=0.2", "es"),
        ("de-DE,de;q=0.9,fr;q=0.8,en;q=0.7", "fr"),
        ("es, fr", "es"),  # equal quality: the order given
        ("*", "en"),
        ("en;q=0, *", "es"),  # * is any language not named otherwise
        ("fr;q=0, es;q=0", "en"),
        ("*;q=0", "en"),  # nothing acceptable: English rather than 406
        ("es;q=1.5, fr;q=0.3", "fr"),  # an invalid quality drops its range
        ("es;q=abc", "en"),
        ("garbage;;;q=xyz,,", "en"),
        ("fr_FR", "en"),  # not a language range
        (", , ;", "en"),
        ("x" * 5000, "en"),
        (",".join(["de"] * 100 + ["fr"]), "en"),  # only the first ranges are read
    ],
)
def test_accept_language_negotiation(header: str | None, expected: str) -> None:
    assert negotiate(header) == expected


# --- the catalog -------------------------------------------------------------------------


def test_every_message_has_every_language_and_the_same_placeholders() -> None:
    assert SUPPORTED == ("en", "es", "fr") and DEFAULT == "en"
    assert i18n.catalog_errors() == []
    for key, texts in MESSAGES.items():
        assert set(texts) == set(SUPPORTED), key
        assert len({placeholders(t) for t in texts.values()}) == 1, key
        for lang, text in texts.items():
            assert text == text.strip() and "  " not in text, (key, lang)
            if key.startswith("problem."):
                assert not text.endswith("."), (key, lang)  # titles are labels
            else:
                assert text.endswith("."), (key, lang)  # details are sentences


def test_a_broken_catalog_is_reported() -> None:
    broken = {
        "a.missing": {"en": "Hello.", "es": "Hola."},
        "a.placeholders": {"en": "Wait {n} s.", "es": "Espere {n} s.", "fr": "Attendez {m} s."},
    }
    errors = i18n.catalog_errors(broken)
    assert any("a.missing" in e and "fr" in e for e in errors)
    assert any("a.placeholders" in e for e in errors)


def test_every_problem_type_has_a_title_in_every_language() -> None:
    titles = {key.removeprefix("problem.") for key in MESSAGES if key.startswith("problem.")}
    assert titles == set(PROBLEM_TYPES)
    for slug, (_status, english) in PROBLEM_TYPES.items():
        assert english == MESSAGES[f"problem.{slug}"]["en"]


def test_msg_fails_at_once_for_unknown_keys_and_missing_values() -> None:
    with pytest.raises(KeyError, match="no message"):
        msg("auth.no_such_message")
    with pytest.raises(KeyError, match="minutes"):
        msg("auth.locked")
    with pytest.raises(KeyError):
        translate("auth.no_such_message", "es")
    locked = msg("auth.locked", minutes=7)
    assert str(locked) == locked.render("en") == locked.render("de")
    assert "7 minutos" in locked.render("es") and "dans 7 minutes" in locked.render("fr")


def test_problems_carry_a_message_and_english_for_logs() -> None:
    with pytest.raises(TypeError):
        Problem("not-found", "There is no customer C1.")  # type: ignore[arg-type]
    problem = Problem("not-found", msg("not_found.customer", customer_id="C1"))
    assert str(problem) == problem.detail == "There is no customer C1."
    assert problem.title == "Not found" and problem.status == 404


def test_french_uses_no_break_spaces_before_double_punctuation() -> None:
    for key in MESSAGES:
        params = {name: 1 for name in placeholders(MESSAGES[key]["en"])}
        text = translate(key, "fr", **params)
        for mark in ";:!?»":
            assert f" {mark}" not in text, key
        assert "« " not in text, key


def _api_sources() -> dict[Path, ast.Module]:
    return {
        path: ast.parse(path.read_text(), filename=str(path))
        for path in sorted(API_ROOT.rglob("*.py"))
    }


def _text(node: ast.expr | None) -> str | None:
    """The value of a string literal, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


# Files that compute keys from a table or an exception code; the tests below check the tables.
DYNAMIC_KEYS = {"core/i18n.py", "core/problems.py", "routes/admin.py"}


def test_every_message_the_api_names_exists_with_its_values() -> None:
    checked = 0
    for path, tree in _api_sources().items():
        relative = path.relative_to(API_ROOT).as_posix()
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            if name == "msg":
                key = _text(node.args[0])
                if key is None:
                    assert relative in DYNAMIC_KEYS, f"{relative}:{node.lineno}: literal keys only"
                    continue
                assert key in MESSAGES, f"{relative}:{node.lineno}: no message {key}"
                given = {k.arg for k in node.keywords}
                if None not in given:  # no **values: the names must match exactly
                    expected = placeholders(MESSAGES[key]["en"])
                    assert given == expected, f"{relative}:{node.lineno}: {key}"
                checked += 1
            elif name in ("Problem", "SignInRefused") and relative != "core/problems.py":
                detail = node.args[1] if len(node.args) > 1 else None
                detail = detail or next((k.value for k in node.keywords if k.arg == "detail"), None)
                assert detail is not None, f"{relative}:{node.lineno}"
                assert not isinstance(detail, ast.Constant | ast.JoinedStr), (
                    f"{relative}:{node.lineno}: write msg(key, ...), not English"
                )
    assert checked > 40


def test_every_message_is_used() -> None:
    constants = {
        node.value
        for path, tree in _api_sources().items()
        if path.name != "messages.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    # Families the adapters compose from a slug, a code or an English reason.
    dynamic = ("problem.", "password.", "passkey.", "session.")
    unused = [k for k in MESSAGES if k not in constants and not k.startswith(dynamic)]
    assert unused == []


def test_tables_of_keys_name_messages_that_exist() -> None:
    for key in problems._STATUS_MESSAGES.values():
        assert key in MESSAGES
    source = Path(service.__file__).read_text()
    for fragment, key in admin.ACCOUNT_ERRORS:
        assert key in MESSAGES and fragment in source  # service.create_user still says it
        assert placeholders(MESSAGES[key]["en"]) <= {"email"}


def _keyword_constants(module: Any, keyword: str) -> set[str]:
    tree = ast.parse(Path(module.__file__).read_text())
    return {
        text
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for k in node.keywords
        if k.arg == keyword and (text := _text(k.value)) is not None
    }


def test_every_password_rule_has_a_message_saying_the_same_in_english() -> None:
    codes = _keyword_constants(passwords, "code")
    assert {"too_short", "too_long", "trivial", "common", "context"} <= codes
    for code in codes:
        assert f"password.{code}" in MESSAGES, code
    samples = {
        "too_short": "short",
        "too_long": "a long passphrase that " * 10,
        "trivial": "abcabcabcabcabcabc",
        "common": "1qaz2wsx3edc4rfv",
        "context": "the cems passphrase nobody guesses",
    }
    seen = set()
    for code, password in samples.items():
        with pytest.raises(passwords.PasswordPolicyError) as refused:
            passwords.check_new_password(password, min_length=15, context=["alice", "cems"])
        message = i18n.password_message(refused.value)
        seen.add(refused.value.code)
        assert message.key == f"password.{refused.value.code}"
        assert str(message) == str(refused.value), code
    assert seen == set(samples)
    context = i18n.password_message(passwords.PasswordPolicyError('"x"', code="context"))
    assert context.params["word"] == "x"
    unknown = i18n.password_message(passwords.PasswordPolicyError("New rule.", code="new_rule"))
    assert unknown.key == "password.invalid"


def test_every_passkey_refusal_has_a_message_saying_the_same_in_english() -> None:
    config = passkeys.PasskeyConfig(rp_id="cems.example", rp_name="CEMS", origins=("https://x",))
    reasons = _keyword_constants(passkeys, "reason") | {
        reason for _fragment, reason, _message in passkeys._LIBRARY_MESSAGES
    }
    for reason in reasons:
        assert f"passkey.{reason}" in MESSAGES, reason
    for fragment, reason, _message in passkeys._LIBRARY_MESSAGES:
        error = passkeys._translate(Exception(f"... {fragment} ..."), config)
        assert error.reason == reason
        assert str(i18n.passkey_message(error, "CEMS")) == str(error), reason
    malformed = passkeys._translate(Exception("something else"), config)
    assert str(i18n.passkey_message(malformed, "CEMS")) == str(malformed)
    client_data = {
        "type": "webauthn.get",
        "challenge": base64.urlsafe_b64encode(b"c" * 16).rstrip(b"=").decode(),
        "origin": "https://x",
        "crossOrigin": True,
    }
    with pytest.raises(passkeys.PasskeyError) as framed:
        passkeys._reject_cross_origin(json.dumps(client_data).encode(), config)
    assert str(i18n.passkey_message(framed.value, "CEMS")) == str(framed.value)
    # credential_id_of has its own sentence; the sign-in names it with passkey.unidentified.
    with pytest.raises(passkeys.PasskeyError) as unnamed:
        passkeys.credential_id_of({})
    assert str(unnamed.value) == translate("passkey.unidentified", "en")
    assert i18n.passkey_message(passkeys.PasskeyError("?"), "CEMS").key == "passkey.invalid"


def test_every_session_refusal_has_a_message_saying_the_same_in_english() -> None:
    from api.auth import sessions

    tree = ast.parse(Path(sessions.__file__).read_text())
    reasons = [
        reason
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and _name(node.func) == "SessionInvalidError"
        and node.args
        and (reason := _text(node.args[0])) is not None
    ]
    assert len(reasons) >= 5
    keys = {i18n.session_message(reason).key for reason in reasons}
    assert len(keys) == len(reasons)
    for reason in reasons:
        assert str(i18n.session_message(reason)) == reason
    assert i18n.session_message("Something new.").key == "session.invalid"


# --- the API -------------------------------------------------------------------------------


def test_invalid_credentials(api: Api) -> None:
    def send(accept: str | None) -> Any:
        return api.client.post(
            "/auth/login",
            json={"email": "nobody@example.test", "password": "not the password at all"},
            headers=headers_for(accept),
        )

    bodies = in_every_language(send, "invalid-credentials", "auth.invalid_credentials")
    assert bodies["en"]["detail"] == "The email or password is not correct."
    assert bodies["es"]["detail"] == "El correo electrónico o la contraseña no son correctos."
    assert bodies["fr"]["detail"] == "L'adresse e-mail ou le mot de passe est incorrect."
    assert bodies["es"]["title"] == "No se ha podido iniciar sesión"
    assert bodies["fr"]["title"] == "Échec de la connexion"


def test_account_locked_says_for_how_many_minutes(api: Api, customer_ids: list[str]) -> None:
    email = api.create(Role.CUSTOMER, customer_ids[0])
    for _ in range(api.settings.login_max_failures):
        assert api.login(email, "wrong wrong wrong wrong").status_code == 401
    first = api.login(email, CUSTOMER_PASSWORD)
    minutes = int(first.headers["Retry-After"]) // 60

    def send(accept: str | None) -> Any:
        return api.client.post(
            "/auth/login",
            json={"email": email, "password": CUSTOMER_PASSWORD},
            headers=headers_for(accept),
        )

    bodies = in_every_language(send, "account-locked", "auth.locked", minutes=minutes)
    assert f"try again in {minutes} minutes" in bodies["en"]["detail"]
    assert f"dentro de {minutes} minutos" in bodies["es"]["detail"]
    assert f"réessayez dans {minutes} minutes" in bodies["fr"]["detail"]
    assert bodies["fr"]["title"] == "Compte temporairement verrouillé"


def test_step_up_required(api: Api, customer_ids: list[str]) -> None:
    headers, _secret = api.staff(Role.SUPPORT_AGENT)
    api.clock.advance(timedelta(minutes=api.settings.step_up_minutes + 1))

    def send(accept: str | None) -> Any:
        return api.client.get(
            f"/api/v1/customers/{customer_ids[0]}/usage-patterns",
            headers=headers_for(accept, **headers),
        )

    bodies = in_every_language(
        send, "step-up-required", "auth.step_up_required", minutes=api.settings.step_up_minutes
    )
    assert all(b["step_up_url"] == "/auth/step-up" and b["status"] == 403 for b in bodies.values())
    assert "de los últimos 15 minutos" in bodies["es"]["detail"]
    assert "de moins de 15 minutes\u00a0;" in bodies["fr"]["detail"]
    assert bodies["fr"]["title"] == "Vérification récente requise"


def test_not_found(api: Api, customer_ids: list[str]) -> None:
    staff, _secret = api.staff(Role.SUPPORT_AGENT)
    customer = api.customer(customer_ids[0])

    def unknown_customer(accept: str | None) -> Any:
        return api.client.get(
            "/tmf-api/customerManagement/v5/customer/C-NO-SUCH",
            headers=headers_for(accept, **staff),
        )

    bodies = in_every_language(
        unknown_customer, "not-found", "not_found.customer", customer_id="C-NO-SUCH"
    )
    assert bodies["es"]["detail"] == "No existe el cliente C-NO-SUCH."
    assert bodies["fr"]["detail"] == "Le client C-NO-SUCH n'existe pas."

    def someone_elses(accept: str | None) -> Any:
        return api.client.get(
            f"/tmf-api/customerManagement/v5/customer/{customer_ids[1]}",
            headers=headers_for(accept, **customer),
        )

    in_every_language(someone_elses, "not-found", "access.not_in_account")

    def nowhere(accept: str | None) -> Any:
        return api.client.get("/no/such/route", headers=headers_for(accept))

    bodies = in_every_language(nowhere, "not-found", "request.no_route")
    assert bodies["en"]["detail"] == "There is no resource at this address."
    assert bodies["es"]["title"] == "No encontrado" and bodies["fr"]["title"] == "Introuvable"


def test_method_not_allowed(api: Api) -> None:
    def send(accept: str | None) -> Any:
        return api.client.delete("/health", headers=headers_for(accept))

    bodies = in_every_language(
        send, "method-not-allowed", "request.method_not_allowed", method="DELETE"
    )
    assert "DELETE" in bodies["fr"]["detail"] and "Allow" in bodies["es"]["detail"]


def test_validation_error(api: Api) -> None:
    def send(accept: str | None) -> Any:
        return api.client.post(
            "/auth/login", json={"email": "someone@example.test"}, headers=headers_for(accept)
        )

    bodies = in_every_language(
        send, "validation-error", "request.invalid_field", location="body.password"
    )
    # The field list is the same in every language (pydantic's messages stay English).
    assert bodies["es"]["errors"] == bodies["fr"]["errors"] == bodies["en"]["errors"]
    assert bodies["en"]["errors"][0]["location"] == "body.password"
    assert bodies["es"]["title"] == "Su solicitud tiene campos no válidos"
    assert bodies["fr"]["detail"].startswith("Corrigez body.password et renvoyez la requête")


def test_query_problems_raised_by_routes(api: Api) -> None:
    staff, _secret = api.staff(Role.SUPPORT_AGENT)

    def send(accept: str | None) -> Any:
        return api.client.get(
            "/tmf-api/usageManagement/v5/usage", headers=headers_for(accept, **staff)
        )

    bodies = in_every_language(send, "validation-error", "query.customer_id_required")
    assert (
        bodies["fr"]["detail"] == "query.customer_id\u00a0: le personnel doit indiquer le client."
    )


def test_weak_password_names_the_word_to_avoid(api: Api, customer_ids: list[str]) -> None:
    headers = api.customer(customer_ids[0])

    def send(accept: str | None) -> Any:
        return api.client.post(
            "/auth/password",
            json={
                "current_password": CUSTOMER_PASSWORD,
                "new_password": "my cems account is mine forever",
            },
            headers=headers_for(accept, **headers),
        )

    bodies = in_every_language(send, "weak-password", "password.context", word="cems")
    assert bodies["en"]["detail"].startswith('Choose a password that does not contain "cems"')
    assert "que no contenga «cems»" in bodies["es"]["detail"]
    assert "qui ne contienne pas «\u00a0cems\u00a0»" in bodies["fr"]["detail"]
    assert bodies["es"]["title"] == "Elija otra contraseña"

    def too_short(accept: str | None) -> Any:
        return api.client.post(
            "/auth/password",
            json={"current_password": CUSTOMER_PASSWORD, "new_password": "short one"},
            headers=headers_for(accept, **headers),
        )

    bodies = in_every_language(too_short, "weak-password", "password.too_short", min_length=15)
    assert "al menos 15 caracteres" in bodies["es"]["detail"]


def test_session_expired(api: Api, customer_ids: list[str]) -> None:
    headers = api.customer(customer_ids[0])
    api.clock.advance(timedelta(days=8))  # past the 7-day idle timeout

    def send(accept: str | None) -> Any:
        return api.client.get("/api/v1/me", headers=headers_for(accept, **headers))

    bodies = in_every_language(send, "session-expired", "session.idle")
    assert "inactividad" in bodies["es"]["detail"] and "inactivité" in bodies["fr"]["detail"]
    assert bodies["fr"]["title"] == "Votre session a pris fin"

    def anonymous(accept: str | None) -> Any:
        return api.client.get("/api/v1/me", headers=headers_for(accept))

    bodies = in_every_language(anonymous, "unauthenticated", "auth.sign_in_first")
    assert bodies["es"]["title"] == "Es necesario iniciar sesión"


def test_forbidden_names_the_role_and_the_permission(api: Api, customer_ids: list[str]) -> None:
    headers, _secret = api.staff(Role.MARKETING_ANALYST)

    def send(accept: str | None) -> Any:
        return api.client.get(
            f"/api/v1/admin/customers/{customer_ids[0]}/export",
            headers=headers_for(accept, **headers),
        )

    bodies = in_every_language(
        send,
        "forbidden",
        "access.role_forbidden",
        role="marketing_analyst",
        permission="customer:export",
    )
    assert bodies["es"]["detail"] == (
        "Su rol (marketing_analyst) no permite realizar esta acción (customer:export)."
    )
    assert bodies["fr"]["detail"] == (
        "Votre rôle (marketing_analyst) ne permet pas d'effectuer cette action (customer:export)."
    )


def test_too_many_requests(api: Api) -> None:
    for _ in range(api.settings.login_rate_per_minute):
        assert api.client.post("/auth/passkeys/authentication/options").status_code == 200

    def send(accept: str | None) -> Any:
        return api.client.post("/auth/passkeys/authentication/options", headers=headers_for(accept))

    seconds = int(send(None).headers["Retry-After"])
    bodies = in_every_language(send, "too-many-requests", "auth.too_many_attempts", seconds=seconds)
    assert f"dentro de {seconds} segundos" in bodies["es"]["detail"]
    assert bodies["fr"]["title"] == "Trop de tentatives"


def test_account_creation_refusals(api: Api, customer_ids: list[str]) -> None:
    headers, _secret = api.staff(Role.ADMIN)
    existing = api.create(Role.CUSTOMER, customer_ids[0])
    cases = [
        ({"email": existing, "role": "customer", "customer_id": customer_ids[0]}, "conflict",
         "account.exists", {"email": existing}),
        ({"email": "not-an-email", "role": "customer", "customer_id": customer_ids[0]},
         "validation-error", "account.invalid_email", {"email": "not-an-email"}),
        ({"email": "new-customer@example.test", "role": "customer"}, "validation-error",
         "account.customer_id_required", {}),
        ({"email": "new-agent@example.test", "role": "support_agent",
          "customer_id": customer_ids[0]}, "validation-error", "account.staff_without_customer",
         {}),
    ]  # fmt: skip
    for body, slug, key, params in cases:

        def send(accept: str | None, body: dict[str, str] = body) -> Any:
            return api.client.post(
                "/api/v1/admin/users",
                json={**body, "password": "a perfectly long and unusual passphrase"},
                headers=headers_for(accept, **headers),
            )

        in_every_language(send, slug, key, **params)


def test_openapi_documents_languages(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    assert "Accept-Language" in document["info"]["description"]
    login = document["paths"]["/auth/login"]["post"]["responses"]
    assert login["401"]["headers"]["Content-Language"]["schema"]["enum"] == list(SUPPORTED)
