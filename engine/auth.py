"""Bearer tokens and scopes, shared by the gRPC server and the JSON/HTTP door.

Tokens live in a YAML file (``TACT_AUTH_TOKENS_FILE``) as the sha256 hex of the token,
never the token itself::

    tokens:
      - name: core-collections        # who calls; logged and audited, never the token
        sha256: 9f86d08…              # sha256 hex of the bearer token
        scopes: [decide, events]

A caller sends ``authorization: Bearer <token>``. The file is re-read when it changes
(its size, mtime or inode), at most once a second, so tokens are rotated without a
restart: add the new token, move the callers, remove the old one. An edit that does not
parse keeps the last good tokens serving and is logged; at start-up it stops the server.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

from engine.errors import TactError

log = logging.getLogger(__name__)


class Scope(StrEnum):
    DECIDE = "decide"
    EVENTS = "events"
    ADMIN = "admin"


OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)
"""Services that answer without a token when ``TACT_AUTH_OPEN_HEALTH`` is on."""

_METHOD_SCOPES: Mapping[str, Scope] = {
    "/tact.v1.DecisionService/Decide": Scope.DECIDE,
    "/tact.v1.DecisionService/DecideStream": Scope.DECIDE,
    "/tact.v1.DecisionService/CheckAction": Scope.DECIDE,
    "/tact.v1.DecisionService/RecordEvents": Scope.EVENTS,
}


def required_scope(method: str) -> Scope | None:
    """The scope a call of ``method`` (``/package.Service/Method``) needs; ``None`` for the
    open services. Anything not listed (AdminService, experiments, methods added later)
    needs ``admin``: a new method is closed until someone opens it."""
    if method in _METHOD_SCOPES:
        return _METHOD_SCOPES[method]
    if method.strip("/").partition("/")[0] in OPEN_SERVICES:
        return None
    return Scope.ADMIN


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a call: the token's name and scopes (``anonymous`` without auth)."""

    name: str
    scopes: frozenset[Scope]


ANONYMOUS = Principal("anonymous", frozenset(Scope))
"""The caller when authentication is off (loopback, or explicitly allowed)."""

CURRENT_PRINCIPAL: contextvars.ContextVar[Principal] = contextvars.ContextVar(
    "tact_principal", default=ANONYMOUS
)
"""Set around each authenticated call; read by handlers that audit their caller."""

CURRENT_DOOR: contextvars.ContextVar[str] = contextvars.ContextVar("tact_door", default="grpc")
"""Which door a call came through: ``grpc`` or ``http`` (the JSON/HTTP door sets it)."""


class AuthError(TactError):
    """A call without a valid token (``unauthenticated``) or without the scope it needs."""

    def __init__(self, message: str, *, reason: str, unauthenticated: bool) -> None:
        super().__init__(message)
        self.reason = reason
        """ErrorInfo reason: TOKEN_MISSING, TOKEN_MALFORMED, TOKEN_UNKNOWN, SCOPE_MISSING."""
        self.unauthenticated = unauthenticated


class TokenFileError(TactError, ValueError):
    """The tokens file cannot be used; the message names the entry and what to fix."""


_HEX64 = re.compile(r"[0-9a-f]{64}")


def parse_tokens(text: str, source: str) -> dict[str, Principal]:
    """``{sha256 hex: Principal}`` from the YAML text of a tokens file."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TokenFileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
        raise TokenFileError(f"{source}: expected a mapping with a list 'tokens: [...]'")
    tokens: dict[str, Principal] = {}
    names: set[str] = set()
    allowed = ", ".join(s.value for s in Scope)
    for i, entry in enumerate(data["tokens"]):
        where = f"{source}: tokens[{i}]"
        if not isinstance(entry, dict):
            raise TokenFileError(f"{where}: expected a mapping with name, sha256 and scopes")
        name, digest, scopes = entry.get("name"), entry.get("sha256"), entry.get("scopes")
        if not isinstance(name, str) or not name.strip():
            raise TokenFileError(f"{where}: 'name' must be a non-empty string")
        if name in names:
            raise TokenFileError(f"{where}: name {name!r} is used twice; names must be unique")
        if isinstance(digest, int | float):
            raise TokenFileError(f"{where} ({name}): quote the sha256 (YAML read it as a number)")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
            raise TokenFileError(
                f"{where} ({name}): 'sha256' must be the 64-character hex sha256 of the token "
                "alone (e.g. `printf %s \"$TOKEN\" | sha256sum | cut -d' ' -f1`), not the token "
                "itself nor sha256sum's whole line"
            )
        if not isinstance(scopes, list) or not scopes:
            raise TokenFileError(f"{where} ({name}): 'scopes' must be a list of {allowed}")
        try:
            parsed = frozenset(Scope(str(s)) for s in scopes)
        except ValueError:
            raise TokenFileError(
                f"{where} ({name}): unknown scope in {scopes}; allowed: {allowed}"
            ) from None
        if digest.lower() in tokens:
            raise TokenFileError(f"{where} ({name}): the same token is listed twice")
        names.add(name)
        tokens[digest.lower()] = Principal(name, parsed)
    return tokens


def hash_token(token: str) -> str:
    """The sha256 hex that a tokens file stores for ``token``."""
    return hashlib.sha256(token.encode()).hexdigest()


class StaticTokens:
    """Tokens given once (``TACT_AUTH_TOKENS``: the YAML of a tokens file itself)."""

    def __init__(self, tokens: dict[str, Principal]) -> None:
        self._tokens = tokens

    def _refresh(self) -> None:
        pass

    def lookup(self, token: str) -> Principal | None:
        self._refresh()
        digest = hash_token(token)
        principal = self._tokens.get(digest)
        # The dict lookup already matched; compare_digest keeps the final check constant-time.
        if principal is not None and hmac.compare_digest(digest, hash_token(token)):
            return principal
        return None


class TokenRegistry(StaticTokens):
    """The tokens of a file, re-read when the file changes (at most every ``check_s``)."""

    def __init__(self, path: Path, *, check_s: float = 1.0) -> None:
        self.path = path
        self.check_s = check_s
        self.reloads_ok = 0
        self.reload_failures = 0
        self._lock = threading.Lock()
        self._stamp = self._file_stamp()
        super().__init__(parse_tokens(self._read(), str(path)))  # start-up: errors stop it
        self._checked_at = time.monotonic()

    def _read(self) -> str:
        try:
            return self.path.read_text()
        except OSError as exc:
            raise TokenFileError(
                f"{self.path}: cannot read the tokens file ({exc.strerror or exc}); "
                "check TACT_AUTH_TOKENS_FILE"
            ) from None

    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.check_s:
            return
        with self._lock:
            if now - self._checked_at < self.check_s:
                return
            self._checked_at = now
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                tokens = parse_tokens(self._read(), str(self.path))
            except TokenFileError as exc:
                self.reload_failures += 1
                log.error("tokens file edit rejected, the last good tokens serve: %s", exc)
                return
            self._tokens = tokens
            self.reloads_ok += 1
            log.info("tokens file reloaded: %d tokens", len(tokens))


class Authenticator:
    """Decides who a caller is and whether it may call a method (``registry`` None: off)."""

    def __init__(self, registry: StaticTokens | None, *, open_health: bool = True) -> None:
        self.registry = registry
        self.open_health = open_health

    @property
    def enabled(self) -> bool:
        return self.registry is not None

    def authorize(self, method: str, authorization: str | None) -> Principal:
        """The caller of ``method`` given its ``authorization`` header value, or AuthError."""
        if self.registry is None:
            return ANONYMOUS
        scope = required_scope(method)
        if scope is None and self.open_health:
            return ANONYMOUS
        if not authorization:
            raise AuthError(
                "missing bearer token: send the metadata 'authorization: Bearer <token>'",
                reason="TOKEN_MISSING",
                unauthenticated=True,
            )
        kind, _, token = authorization.strip().partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise AuthError(
                "malformed authorization: expected 'Bearer <token>'",
                reason="TOKEN_MALFORMED",
                unauthenticated=True,
            )
        principal = self.registry.lookup(token.strip())
        if principal is None:
            raise AuthError(
                "unknown or revoked bearer token", reason="TOKEN_UNKNOWN", unauthenticated=True
            )
        if scope is not None and scope not in principal.scopes:
            have = ", ".join(sorted(principal.scopes)) or "none"
            raise AuthError(
                f"token {principal.name!r} lacks scope '{scope}' needed by {method} "
                f"(it has: {have})",
                reason="SCOPE_MISSING",
                unauthenticated=False,
            )
        return principal


def build_authenticator(
    tokens_file: Path | None, *, open_health: bool, tokens_text: str | None = None
) -> Authenticator:
    """Tokens from a file (re-read on change) or from text (``TACT_AUTH_TOKENS``)."""
    if tokens_file is not None and tokens_text is not None:
        raise TokenFileError(
            "set TACT_AUTH_TOKENS_FILE or TACT_AUTH_TOKENS, not both: tact would not know "
            "which tokens to honour"
        )
    registry: StaticTokens | None = None
    if tokens_file is not None:
        registry = TokenRegistry(tokens_file)
    elif tokens_text is not None:
        registry = StaticTokens(parse_tokens(tokens_text, "TACT_AUTH_TOKENS"))
    return Authenticator(registry, open_health=open_health)
