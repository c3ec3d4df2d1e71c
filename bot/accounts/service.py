"""Accounts: add, list, disable, reset a password, and log in with a lockout after repeated failures."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.accounts.roles import ADMIN, CASEWORKER, ROLE_LABELS, ROLES, SUPERVISOR, Actor
from bot.errors import JiuzhuError
from bot.storage.models import AuditEvent, User, UserTownship, utcnow

log = logging.getLogger(__name__)

MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_CHARS = 8
_HASHER = PasswordHasher()  # argon2id with the library's current parameters
# Checked when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class AccountError(JiuzhuError):
    """A request about accounts that cannot be done: the text says why (English for the CLI),
    `chinese` says it to an administrator on the workbench."""

    def __init__(self, message: str, chinese: str | None = None):
        super().__init__(message)
        self.chinese = chinese or message


class LoginRefused(Exception):
    """A login that failed; `locked` when the account is locked (wrong password or not)."""

    def __init__(self, locked: bool = False):
        super().__init__("locked" if locked else "wrong username or password")
        self.locked = locked


@dataclass(frozen=True)
class Account:
    """A user as listed (no hash)."""

    username: str
    role: str
    townships: tuple[str, ...]
    disabled: bool
    locked_until: dt.datetime | None
    last_login_at: dt.datetime | None
    created_at: dt.datetime

    def locked(self, now: dt.datetime | None = None) -> bool:
        """Locked out after failed logins right now."""
        return self.locked_until is not None and _aware(self.locked_until) > (now or utcnow())

    def as_dict(self) -> dict:
        """JSON of `jiuzhu users list --json`."""
        iso = (lambda v: _aware(v).isoformat() if v else None)
        return {"username": self.username, "role": self.role, "townships": list(self.townships),
                "disabled": self.disabled, "locked_until": iso(self.locked_until),
                "last_login_at": iso(self.last_login_at), "created_at": iso(self.created_at)}


class AccountService:
    """Accounts in the caller's unit of work; `townships` are the county's (config.toml)."""

    def __init__(self, session: Session, townships: tuple[str, ...] | list[str]):
        self.session = session
        self.known_townships = tuple(townships)

    def add(self, username: str, role: str, password: str, townships: list[str] | tuple[str, ...] = (),
            actor: str = "cli") -> User:
        """A new account; a caseworker needs at least one township, other roles take none."""
        username = username.strip()
        if not username or len(username) > 64 or any(c.isspace() for c in username):
            raise AccountError("a username is 1–64 characters without spaces", "用户名为1到64个字符，不能有空格")
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}; one of {', '.join(ROLES)}", "没有这个角色")
        townships = self._townships(role, townships)
        if self._find(username) is not None:
            raise AccountError(f"user {username} exists already", f"用户名 {username} 已经存在")
        user = User(username=username, role=role, password_hash=hash_password(password),
                    password_changed_at=utcnow(), created_at=utcnow(), disabled=False, failed_logins=0)
        self.session.add(user)
        self.session.flush()
        self.session.add_all(UserTownship(user_id=user.id, township=t) for t in townships)
        self._audit(actor, "user_add", f"{username}（{ROLE_LABELS[role]}{'：' + '、'.join(townships) if townships else ''}）")
        return user

    def list(self) -> list[Account]:
        """Every account, by username."""
        users = self.session.execute(select(User).order_by(User.username)).scalars().all()
        towns: dict[int, list[str]] = {}
        for row in self.session.execute(select(UserTownship).order_by(UserTownship.township)).scalars():
            towns.setdefault(row.user_id, []).append(row.township)
        return [Account(u.username, u.role, tuple(towns.get(u.id, ())), u.disabled, u.locked_until,
                        u.last_login_at, u.created_at) for u in users]

    def disable(self, username: str, actor: str = "cli") -> None:
        """Disable an account: it cannot log in, and its open sessions end at their next request.
        The last active admin is kept (else nobody could manage accounts on the workbench)."""
        user = self._require(username)
        if user.role == ADMIN and not user.disabled and self._active_admins() <= 1:
            raise AccountError("the last active admin cannot be disabled (add another admin first)",
                               "这是最后一个可用的管理员账号，不能停用（请先新增一个管理员）")
        user.disabled = True
        self._audit(actor, "user_disable", username)

    def enable(self, username: str, actor: str = "cli") -> None:
        """Enable a disabled account again (a lockout is lifted too)."""
        user = self._require(username)
        user.disabled, user.failed_logins, user.locked_until = False, 0, None
        self._audit(actor, "user_enable", username)

    def unlock(self, username: str, actor: str = "cli") -> None:
        """Lift a lockout after failed logins before its 15 minutes are over."""
        user = self._require(username)
        user.failed_logins, user.locked_until = 0, None
        self._audit(actor, "user_unlock", username)

    def set_townships(self, username: str, townships: list[str] | tuple[str, ...], actor: str = "cli") -> None:
        """A caseworker's townships (at least one); their pages change at the next request."""
        user = self._require(username)
        if user.role != CASEWORKER:
            raise AccountError(f"a {user.role} sees every township or none", "只有乡镇经办人按乡镇分配")
        townships = self._townships(CASEWORKER, townships)
        self.session.query(UserTownship).filter(UserTownship.user_id == user.id).delete()
        self.session.add_all(UserTownship(user_id=user.id, township=t) for t in townships)
        self._audit(actor, "user_townships", f"{username}：{'、'.join(townships)}")

    def reset_password(self, username: str, password: str, actor: str = "cli") -> None:
        """Set a new password; it unlocks the account and ends its sessions."""
        user = self._require(username)
        user.password_hash = hash_password(password)
        user.password_changed_at, user.failed_logins, user.locked_until = utcnow(), 0, None
        self._audit(actor, "user_reset_password", username)

    def authenticate(self, username: str, password: str, now: dt.datetime | None = None,
                     where: str = "") -> User:
        """The user for a right password; LoginRefused otherwise. The 5th failure in a row locks the
        account for 15 minutes, during which even the right password is refused. Logins and failed
        attempts on an existing account are audited (`where`: the client's address); a name that is
        no account is not (it may be a password typed in the wrong box)."""
        now = now or utcnow()
        user = self._find(username.strip())
        if user is None or user.disabled:
            _verify(_DUMMY_HASH, password)
            raise LoginRefused()
        suffix = f"（{where}）" if where else ""
        if user.locked_until is not None and _aware(user.locked_until) > now:
            self._audit(user.username, "login_failed", f"账号锁定中{suffix}")
            raise LoginRefused(locked=True)
        if not _verify(user.password_hash, password):
            user.failed_logins = (user.failed_logins or 0) + 1
            self._audit(user.username, "login_failed", f"密码错误，第{user.failed_logins}次{suffix}")
            if user.failed_logins >= MAX_FAILURES:
                user.locked_until, user.failed_logins = now + LOCKOUT, 0
                self._audit(user.username, "user_locked",
                            f"连续{MAX_FAILURES}次密码错误，锁定{LOCKOUT.seconds // 60}分钟{suffix}")
                raise LoginRefused(locked=True)
            raise LoginRefused()
        if _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
        self._audit(user.username, "login", f"登录{suffix}")
        return user

    def actor(self, user: User) -> Actor:
        """The actor of a user: a supervisor's scope is the county, an admin's is no lead at all."""
        if user.role == SUPERVISOR:
            return Actor(user.id, user.username, user.role, None)
        if user.role == ADMIN:
            return Actor(user.id, user.username, user.role, frozenset())
        towns = self.session.execute(select(UserTownship.township)
                                     .where(UserTownship.user_id == user.id)).scalars()
        return Actor(user.id, user.username, user.role, frozenset(towns))

    def get(self, user_id: int) -> User | None:
        """A user by id (a session's)."""
        return self.session.get(User, user_id)

    def usernames_for(self, township: str) -> list[str]:
        """Active accounts that may work a lead of `township` (to assign it)."""
        rows = self.session.execute(
            select(User.username).outerjoin(UserTownship, UserTownship.user_id == User.id)
            .where(User.disabled.is_(False), User.role.in_((CASEWORKER, SUPERVISOR)),
                   (User.role == SUPERVISOR) | (UserTownship.township == township))
            .order_by(User.username).distinct()).scalars()
        return list(rows)

    def _townships(self, role: str, townships) -> list[str]:
        """The townships an account of `role` is given, checked against config.toml."""
        townships = list(dict.fromkeys(townships))
        unknown = [t for t in townships if t not in self.known_townships]
        if unknown:
            raise AccountError(f"unknown township {', '.join(unknown)} (config.toml [county].townships)",
                               f"没有这个乡镇：{'、'.join(unknown)}")
        if role == CASEWORKER and not townships:
            raise AccountError("a caseworker needs at least one --township", "乡镇经办人至少要分配一个乡镇")
        if role != CASEWORKER and townships:
            raise AccountError(f"a {role} sees every township or none: no --township",
                               "县级督导看全县、管理员不看线索：不分配乡镇")
        return townships

    def _active_admins(self) -> int:
        return self.session.execute(select(func.count()).select_from(User).where(
            User.role == ADMIN, User.disabled.is_(False))).scalar_one()

    def _find(self, username: str) -> User | None:
        return self.session.execute(select(User).where(User.username == username)).scalar_one_or_none()

    def _require(self, username: str) -> User:
        user = self._find(username)
        if user is None:
            raise AccountError(f"no user {username}", f"没有用户 {username}")
        return user

    def _audit(self, actor: str, action: str, detail: str) -> None:
        self.session.add(AuditEvent(actor=actor, action=action, lead_ref=None, detail=detail))


def hash_password(password: str) -> str:
    """An argon2id hash; a password shorter than 8 characters is refused."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_CHARS} characters",
                           f"密码至少{MIN_PASSWORD_CHARS}个字符")
    return _HASHER.hash(password)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite drops the zone
