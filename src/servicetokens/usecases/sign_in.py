"""The dashboard's people: passwords, sign-in (throttled), server-side sessions, and the
secret a session is shown once.

A session id is 256 random bits in an `HttpOnly` cookie; the database holds only its
SHA-256 digest. A session ends at its absolute end, after `idle` without use, or when
revoked (sign-out, a new password). The principal behind a session is the user with Write
on each account they belong to, read afresh on every request, so a removed membership
takes effect at once, exactly as for the user's API key.

Failed sign-ins are counted per client address, per email, and per browser that signed in
as that email before (`domain.sign_in`): throttled, never locked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.errors import ValidationError
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.domain.secrets import digest, new_api_key
from servicetokens.domain.sign_in import (
    ADDRESS_RULE,
    DEVICE_REMEMBERED,
    DEVICE_RULE,
    EMAIL_RULE,
    STALE_AFTER,
    Attempts,
    DashboardSession,
    address_key,
    after_failure,
    taken_back,
    wait_before_next,
)
from servicetokens.store.database import Database, Transaction
from servicetokens.usecases.admin import IssuedCredential, normal_email
from servicetokens.usecases.changes import record_operator_change, record_user_event
from servicetokens.usecases.passwords import Passwords, new_password

__all__ = [
    "ADMIN_EMAIL",
    "SECRET_SHOWN_WITHIN",
    "SESSION_IDLE",
    "SESSION_LIFETIME",
    "DashboardAuth",
    "SignInRefused",
    "SignedIn",
    "Visitor",
]

SESSION_IDLE = timedelta(minutes=30)
"""A session unused this long has ended."""
SESSION_LIFETIME = timedelta(hours=12)
"""No session lasts longer, however busy."""
SECRET_SHOWN_WITHIN = timedelta(minutes=10)
"""A secret not shown this long after it was made is dropped unshown."""
ADMIN_EMAIL = "admin@localhost"
"""The first account's administrator, made by the first `servicetokens serve`."""
_TOUCH_EVERY = timedelta(minutes=1)
"""A session's use is written at most this often (its idle end is that much coarse)."""
_MAX_COOKIE = 128
_PRUNE_BATCH = 1000
"""Stale throttle rows forgotten per counted attempt: a flood cannot outgrow the pruning."""


class SignInRefused(Exception):
    """A sign-in that did not succeed; `retry_after` (seconds) when it was throttled."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A new session's id and the browser's device cookie (new, or the one it had)."""

    session_id: str
    device: str


@dataclass(frozen=True, slots=True)
class Visitor:
    """A signed-in person on one request."""

    principal: Principal
    """The user, with Write on each of their accounts, calling from the request's address."""
    account_ids: tuple[str, ...]
    csrf_token: str
    """What every state-changing form of this session must carry."""
    account_names: dict[str, str] = field(default_factory=dict)
    """Each account's name by id, read when the person has more than one (the switcher)."""


def _session_digest(session_id: str) -> bytes:
    return hashlib.sha256(b"dashboard-session\0" + session_id.encode()).digest()


def csrf_token_for(session_id: str) -> str:
    """The CSRF token of a session: bound to its id, unknowable without the cookie."""
    return hmac.new(session_id.encode(), b"csrf", hashlib.sha256).hexdigest()


def _sealer(session_id: str) -> AESGCM:
    return AESGCM(hashlib.sha256(b"dashboard-pending-secret\0" + session_id.encode()).digest())


def _email_key(email: str) -> str:
    return "email:" + hashlib.sha256(email.encode()).hexdigest()


def _device_key(device: str) -> str:
    return "device:" + hashlib.sha256(device.encode()).hexdigest()


def _usable(cookie: str | None) -> str | None:
    return cookie if cookie and len(cookie) <= _MAX_COOKIE and cookie.isascii() else None


class DashboardAuth:
    """Passwords, sign-in and sessions over one database."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock = system_clock,
        passwords: Passwords | None = None,
        idle: timedelta = SESSION_IDLE,
        lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        self._database = database
        self._clock = clock
        self._passwords = passwords or Passwords()
        self._idle = idle
        self._lifetime = lifetime

    @property
    def lifetime(self) -> timedelta:
        """How long a session lasts at most (its cookie's age)."""
        return self._lifetime

    # -- the operator's ---------------------------------------------------------------------

    def set_password(self, email: str, password: str) -> None:
        """Give an existing user a dashboard password (the operator's action); every session
        they had ends."""
        email = normal_email(email)
        hashed = self._passwords.hash(password)
        with self._database.write() as tx:
            if not tx.dashboard.set_password_hash(email, hashed):
                raise ValidationError(f"no user {email}")
            now = self._clock()
            ended = tx.dashboard.revoke_user_sessions(email, now=now)
            record_operator_change(
                tx, "user.set_password", now=now, account_id=None, target=email, sessions=ended
            )

    def create_admin(self, account_id: str, *, email: str = ADMIN_EMAIL) -> IssuedCredential:
        """A member of `account_id` with a generated password (returned once) for the
        dashboard, and an API key nobody is shown (`users rotate-key` makes one to use)."""
        email = normal_email(email)
        password = new_password()
        hashed = self._passwords.hash(password)
        with self._database.write() as tx:
            if tx.containers.get(ContainerKind.ACCOUNT, account_id) is None:
                raise ValidationError(f"no account {account_id}")
            if tx.principals.user(email) is not None:
                raise ValidationError(f"user {email} already exists")
            now = self._clock()
            tx.principals.add_user(email, digest(new_api_key()), now=now)
            tx.principals.add_membership(email, account_id)
            tx.dashboard.set_password_hash(email, hashed)
            record_operator_change(
                tx, "user.create", now=now, account_id=account_id, target=email, credentials=True
            )
        return IssuedCredential(email, password)

    # -- signing in and out -----------------------------------------------------------------

    def sign_in(
        self, email: str, password: str, *, origin: str | None, device: str | None
    ) -> SignedIn:
        """A new session for the right email and password, or `SignInRefused` (wrong, or
        throttled: then the password is not even checked)."""
        email = email.strip().lower()[:254]
        device = _usable(device)
        address = address_key(origin)
        now = self._clock()
        # The attempt is counted before its password is checked, in the transaction that
        # read the counts: guesses sent in parallel cannot all pass while the first is
        # being verified. A right password takes its own count back.
        with self._database.write() as tx:
            known_device = device is not None and self._device_of(tx, device) == email
            key = _device_key(device) if known_device and device else _email_key(email)
            rules = ((address, ADDRESS_RULE), (key, DEVICE_RULE if known_device else EMAIL_RULE))
            found = [(k, r, tx.dashboard.attempts(k, for_update=True)) for k, r in rules]
            waits = [wait_before_next(None if f is None else f[0], now) for _, _, f in found]
            wait = max((w for w in waits if w is not None), default=None)
            if wait is None:
                for k, r, f in found:
                    counted = after_failure(None if f is None else f[0], r, now=now)
                    tx.dashboard.put_attempts(k, counted, email=None if f is None else f[1])
                self._prune(tx, now)
            stored = tx.dashboard.password_hash(email) if wait is None else None
        if wait is not None:
            seconds = max(1, int(wait.total_seconds() + 0.999))
            raise SignInRefused(
                f"Too many failed sign-ins. Try again in {seconds} seconds.", retry_after=seconds
            )
        if not self._passwords.check(password, stored):
            with self._database.write() as tx:
                record_user_event(tx, email, "dashboard.sign_in_failed", now=now, origin=origin)
            raise SignInRefused("Wrong email or password.")
        session_id = secrets.token_urlsafe(32)
        if not known_device or device is None:
            device = secrets.token_urlsafe(32)
        session = DashboardSession(
            id_digest=_session_digest(session_id),
            email=email,
            created_at=now,
            last_used_at=now,
            expires_at=now + self._lifetime,
            idle_expires_at=min(now + self._idle, now + self._lifetime),
        )
        with self._database.write() as tx:
            tx.dashboard.delete_dead_sessions(email, now=now)
            tx.dashboard.add_session(session)
            # The address keeps its other failures: signing in as oneself must not reset
            # the count of the guesses one made at other people's emails.
            held = tx.dashboard.attempts(address, for_update=True)
            if held is not None:
                tx.dashboard.put_attempts(address, taken_back(held[0], ADDRESS_RULE))
            tx.dashboard.clear_attempts(_email_key(email))
            tx.dashboard.put_attempts(_device_key(device), Attempts(0, now), email=email)
            self._prune(tx, now)
            record_user_event(tx, email, "dashboard.sign_in", now=now, origin=origin)
        return SignedIn(session_id, device)

    def resume(self, session_id: str | None, *, origin: str | None = None) -> Visitor | None:
        """The person behind a session cookie, if the session is alive; its use is noted."""
        session_id = _usable(session_id)
        if session_id is None:
            return None
        id_digest = _session_digest(session_id)
        now = self._clock()
        with self._database.read() as tx:
            session = tx.dashboard.session(id_digest)
            user = None if session is None else tx.principals.user(session.email)
            several = user is not None and len(user.account_ids) > 1
            names = tx.containers.account_names(user.account_ids) if user and several else {}
        if session is None or user is None or not session.alive(now):
            return None
        if now - session.last_used_at >= _TOUCH_EVERY:
            idle_until = min(now + self._idle, session.expires_at)
            with self._database.write() as tx:
                tx.dashboard.touch_session(id_digest, now=now, idle_until=idle_until)
        grants = tuple(Grant(ContainerKind.ACCOUNT, a, Permission.WRITE) for a in user.account_ids)
        principal = Principal(PrincipalKind.USER, user.email, grants, origin=origin)
        return Visitor(principal, user.account_ids, csrf_token_for(session_id), names)

    def sign_out(self, session_id: str | None, *, origin: str | None = None) -> None:
        """End the session (nothing when there is none)."""
        session_id = _usable(session_id)
        if session_id is None:
            return
        id_digest = _session_digest(session_id)
        now = self._clock()
        with self._database.write() as tx:
            session = tx.dashboard.session(id_digest)
            if session is None or session.revoked_at is not None:
                return
            tx.dashboard.revoke_session(id_digest, now=now)
            record_user_event(tx, session.email, "dashboard.sign_out", now=now, origin=origin)

    # -- a secret shown once ----------------------------------------------------------------

    def hold_secret(self, session_id: str, token_id: str, secret: str) -> None:
        """Keep `secret` for the session's next look at `token_id`'s secret page, sealed
        under a key derived from the session id (which the database never holds)."""
        nonce = os.urandom(12)
        sealed = _sealer(session_id).encrypt(nonce, secret.encode(), token_id.encode())
        text = base64.b64encode(nonce + sealed).decode()
        until = self._clock() + SECRET_SHOWN_WITHIN
        with self._database.write() as tx:
            tx.dashboard.hold_secret(
                _session_digest(session_id), token_id=token_id, sealed=text, until=until
            )

    def take_secret(self, session_id: str, token_id: str) -> str | None:
        """The secret held for `token_id`, once: it is erased as it is read. None when there
        is none, it was for another token, or it waited too long."""
        with self._database.write() as tx:
            held = tx.dashboard.take_secret(_session_digest(session_id))
        if held is None:
            return None
        held_for, text, until = held
        if held_for != token_id or self._clock() >= until:
            return None
        raw = base64.b64decode(text)
        try:
            plain = _sealer(session_id).decrypt(raw[:12], raw[12:], token_id.encode())
        except InvalidTag:
            return None
        return plain.decode()

    @staticmethod
    def _prune(tx: Transaction, now: datetime) -> None:
        """Forget counts that no longer slow anyone, and browsers whose cookie has expired."""
        tx.dashboard.prune_attempts(
            stale_before=now - STALE_AFTER,
            forget_devices_before=now - DEVICE_REMEMBERED,
            now=now,
            batch=_PRUNE_BATCH,
        )

    @staticmethod
    def _device_of(tx: Transaction, device: str) -> str | None:
        found = tx.dashboard.attempts(_device_key(device))
        return None if found is None else found[1]

    @staticmethod
    def _attempts(tx: Transaction, key: str) -> Attempts | None:
        found = tx.dashboard.attempts(key)
        return None if found is None else found[0]
