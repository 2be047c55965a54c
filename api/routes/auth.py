"""Sign-in: passwords, staff TOTP (with enrolment), step-up, passkeys, logout."""

from __future__ import annotations

import base64
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from api.auth import service, sessions
from api.core import totp
from api.core.i18n import msg, password_message
from api.core.passwords import PasswordPolicyError
from api.core.permissions import Role
from api.core.problems import Problem, problem_responses
from api.deps import (
    ClockDep,
    CurrentPrincipal,
    DbDep,
    SettingsDep,
    audit,
    client_address,
    require_staff,
)
from api.schemas.auth import (
    CeremonyOptions,
    LoginResult,
    MfaVerify,
    PasskeyRegistered,
    PasskeyResponse,
    PasswordChange,
    PasswordChanged,
    PasswordLogin,
    SessionInfo,
    SessionToken,
    StepUp,
    StepUpResult,
)
from data_contracts.settings import Settings

router = APIRouter(prefix="/auth", tags=["auth"])


def _token(settings: Settings, issued: sessions.IssuedSession) -> SessionToken:
    _absolute, idle = sessions.lifetimes(settings, Role(issued.session.role))
    return SessionToken(
        token=issued.token,
        session_id=issued.session.id,
        role=issued.session.role,
        expires_at=issued.session.expires_at,
        idle_timeout_minutes=idle.total_seconds() / 60,
    )


async def _refused(request: Request, exc: service.SignInRefused, email: str | None = None) -> None:
    await audit(
        request,
        exc.action,
        outcome="failure",
        user=exc.user,
        customer_id=exc.user.customer_id if exc.user else None,
        status_code=exc.status,
        label=email,
    )


@router.post(
    "/login",
    response_model=LoginResult,
    operation_id="auth-login",
    summary="Sign in with email and password",
    responses=problem_responses(401, 422, 423, 429),
)
async def login(
    request: Request, body: PasswordLogin, db: DbDep, settings: SettingsDep, clock: ClockDep
) -> LoginResult:
    now = clock.now()
    address = client_address(request) or "unknown"
    try:
        await service.throttle(db, settings, address, now)
    except Problem:
        await audit(request, "auth.throttled", outcome="denied", status_code=429)
        raise
    try:
        outcome = await service.password_sign_in(
            db,
            settings,
            email=body.email,
            password=body.password,
            now=now,
            source_address=address,
            user_agent=request.headers.get("user-agent"),
        )
    except service.SignInRefused as exc:
        # The email someone tried is what a review of failed sign-ins groups by.
        await _refused(request, exc, email=service.normalise_email(body.email)[:255])
        raise
    user = outcome.user
    if outcome.issued is not None:
        await audit(
            request, "auth.login", user=user, customer_id=user.customer_id,
            detail={"method": "password"},
        )  # fmt: skip
        return LoginResult(status="authenticated", session=_token(settings, outcome.issued))
    await audit(request, "auth.password_ok", user=user, detail={"next": "mfa"})
    if outcome.enrolment_secret:
        return LoginResult(
            status="mfa_enrolment_required",
            mfa_ticket=outcome.mfa_ticket,
            totp_secret=outcome.enrolment_secret,
            totp_uri=totp.provisioning_uri(outcome.enrolment_secret, account_name=user.email),
        )
    return LoginResult(status="mfa_required", mfa_ticket=outcome.mfa_ticket)


@router.post(
    "/mfa",
    response_model=SessionToken,
    operation_id="auth-mfa",
    summary="Finish a staff sign-in with the authenticator app's code",
    responses=problem_responses(401, 422, 429),
)
async def mfa(
    request: Request, body: MfaVerify, db: DbDep, settings: SettingsDep, clock: ClockDep
) -> SessionToken:
    now = clock.now()
    address = client_address(request) or "unknown"
    await service.throttle(db, settings, address, now)
    try:
        user, issued, enrolled = await service.complete_mfa(
            db,
            settings,
            ticket=body.ticket,
            code=body.code,
            now=now,
            source_address=address,
            user_agent=request.headers.get("user-agent"),
        )
    except service.SignInRefused as exc:
        await _refused(request, exc)
        raise
    if enrolled:
        await audit(request, "auth.mfa_enrolled", user=user)
    await audit(request, "auth.mfa", user=user, detail={"method": "totp"})
    await audit(request, "auth.login", user=user, detail={"method": "password+totp"})
    return _token(settings, issued)


@router.post(
    "/step-up",
    response_model=StepUpResult,
    operation_id="auth-step-up",
    summary="Confirm a current MFA code before sensitive data",
    responses=problem_responses(401, 403, 422),
)
async def step_up(
    request: Request,
    body: StepUp,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> StepUpResult:
    require_staff(principal)
    session, user = await principal.session_entity(db), await principal.user_entity(db)
    try:
        await service.step_up(db, session, user, body.code, principal.now)
    except service.SignInRefused as exc:
        await _refused(request, exc)
        raise
    await audit(request, "auth.step_up", principal=principal)
    return StepUpResult(
        mfa_at=principal.now,
        valid_until=principal.now + timedelta(minutes=settings.step_up_minutes),
    )


@router.get(
    "/session",
    response_model=SessionInfo,
    operation_id="auth-session",
    summary="Who is signed in, and until when",
    responses=problem_responses(401),
)
async def session_info(settings: SettingsDep, principal: CurrentPrincipal) -> SessionInfo:
    s, u = principal.session, principal.user
    step_up_until = s.mfa_at + timedelta(minutes=settings.step_up_minutes) if s.mfa_at else None
    return SessionInfo(
        session_id=s.id,
        user_id=u.id,
        email=u.email,
        role=u.role,
        customer_id=u.customer_id,
        auth_method=s.auth_method,
        authenticated_at=s.authenticated_at,
        expires_at=s.expires_at,
        mfa_at=s.mfa_at,
        step_up_valid_until=step_up_until,
    )


@router.post(
    "/logout",
    status_code=204,
    operation_id="auth-logout",
    summary="End this session",
    responses=problem_responses(401),
)
async def logout(request: Request, db: DbDep, principal: CurrentPrincipal) -> Response:
    session = await principal.session_entity(db)
    session.revoked_at = principal.now
    session.revoke_reason = "logout"
    await db.commit()
    await audit(request, "auth.logout", principal=principal)
    return Response(status_code=204)


@router.post(
    "/password",
    response_model=PasswordChanged,
    operation_id="auth-password-change",
    summary="Change your password (ends every session, this one included)",
    responses=problem_responses(401, 422),
)
async def change_password(
    request: Request, body: PasswordChange, db: DbDep, principal: CurrentPrincipal
) -> PasswordChanged:
    user = await principal.user_entity(db)
    try:
        ended = await service.change_password(
            db,
            user,
            current=body.current_password,
            new=body.new_password,
            now=principal.now,
        )
    except service.SignInRefused as exc:
        await _refused(request, exc)
        raise
    except PasswordPolicyError as exc:
        raise Problem("weak-password", password_message(exc)) from exc
    await audit(
        request, "auth.password_changed", principal=principal, detail={"sessions_ended": ended}
    )
    return PasswordChanged(sessions_ended=ended)


@router.post(
    "/passkeys/registration/options",
    response_model=CeremonyOptions,
    operation_id="auth-passkey-registration-options",
    summary="Start registering a passkey (signed-in customer)",
    responses=problem_responses(401, 403),
)
async def passkey_registration_options(
    db: DbDep, settings: SettingsDep, principal: CurrentPrincipal
) -> CeremonyOptions:
    if principal.role is not Role.CUSTOMER:
        raise Problem("forbidden", msg("passkey.staff_use_totp"))
    user = await principal.user_entity(db)
    ceremony_id, options = await service.passkey_registration_options(
        db, settings, user, principal.now
    )
    return CeremonyOptions(ceremony_id=ceremony_id, publicKey=options)


@router.post(
    "/passkeys/registration",
    response_model=PasskeyRegistered,
    status_code=201,
    operation_id="auth-passkey-register",
    summary="Finish registering a passkey",
    responses=problem_responses(401, 403, 409, 422),
)
async def passkey_register(
    request: Request,
    body: PasskeyResponse,
    db: DbDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
) -> PasskeyRegistered:
    if principal.role is not Role.CUSTOMER:
        raise Problem("forbidden", msg("passkey.staff_use_totp"))
    user = await principal.user_entity(db)
    try:
        passkey = await service.passkey_register(
            db,
            settings,
            user,
            ceremony_id=body.ceremony_id,
            credential=body.credential,
            now=principal.now,
        )
    except Problem:
        await audit(request, "auth.passkey_register_failed", outcome="failure", principal=principal)
        raise
    await audit(request, "auth.passkey_registered", principal=principal)
    return PasskeyRegistered(
        credential_id=base64.urlsafe_b64encode(passkey.credential_id).rstrip(b"=").decode(),
        created_at=passkey.created_at,
    )


@router.post(
    "/passkeys/authentication/options",
    response_model=CeremonyOptions,
    operation_id="auth-passkey-login-options",
    summary="Start a passkey sign-in",
    responses=problem_responses(429),
)
async def passkey_login_options(
    request: Request, db: DbDep, settings: SettingsDep, clock: ClockDep
) -> CeremonyOptions:
    now = clock.now()
    await service.throttle(db, settings, client_address(request) or "unknown", now)
    ceremony_id, options = await service.passkey_login_options(db, settings, now)
    return CeremonyOptions(ceremony_id=ceremony_id, publicKey=options)


@router.post(
    "/passkeys/authentication",
    response_model=SessionToken,
    operation_id="auth-passkey-login",
    summary="Sign in with a passkey (biometric unlock)",
    responses=problem_responses(401, 422, 423, 429),
)
async def passkey_login(
    request: Request, body: PasskeyResponse, db: DbDep, settings: SettingsDep, clock: ClockDep
) -> SessionToken:
    now = clock.now()
    address = client_address(request) or "unknown"
    await service.throttle(db, settings, address, now)
    try:
        user, issued = await service.passkey_sign_in(
            db,
            settings,
            ceremony_id=body.ceremony_id,
            credential=body.credential,
            now=now,
            source_address=address,
            user_agent=request.headers.get("user-agent"),
        )
    except service.SignInRefused as exc:
        await _refused(request, exc)
        raise
    await audit(
        request, "auth.login", user=user, customer_id=user.customer_id,
        detail={"method": "passkey"},
    )  # fmt: skip
    return _token(settings, issued)
