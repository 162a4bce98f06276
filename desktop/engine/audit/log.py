"""The audit sink the answer pipeline writes to, and how the assistant opens it.

`AuditLog.record` is called for every answer (also abstained, refused and stopped ones) after
history, on the thread that runs the pipeline. Opening reads one keyring entry, the store's key;
the HMAC key for hashed text and the key id of the profile's signing key (which each record names,
so an export can only be presented as the signer's own) are kept in the store's `meta` table,
made on first use. Retention runs once when the log opens.

With no trusted keyring the log cannot be opened: `open_audit_log` raises, the assistant keeps
the reason in `audit_problem`, and answering continues only when the policy does not set
`audit_required` (docs/audit.md).
"""

from __future__ import annotations

import getpass
import secrets as pysecrets
import time
from collections.abc import Callable
from pathlib import Path

from desktop import __version__
from desktop.engine.access import KnowledgeAccess
from desktop.engine.answer.records import Answer
from desktop.engine.audit.content import Redactor, TextKeeper
from desktop.engine.audit.records import AuditContext, answer_fields
from desktop.engine.audit.store import HMAC_META, SIGNER_META, AuditStore, audit_path
from desktop.engine.packs import grants, install
from desktop.engine.packs.signing import key_id
from desktop.engine.policy.rules import Policy

DAY_S = 86_400.0


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name for this uid (a container): say so, do not fail
        return "(unknown)"


class ProfileContext:
    """This profile's identity for each record: login, signing key id, version, and the roles and
    audiences its grants give (read once per opened knowledge, not per answer)."""

    def __init__(self, signer: str, knowledge: Callable[[], KnowledgeAccess | None]) -> None:
        self.signer = signer
        self.knowledge = knowledge
        self.user = local_user()
        self._roles: tuple[KnowledgeAccess | None, tuple[str, ...]] | None = None

    def __call__(self) -> AuditContext:
        knowledge = self.knowledge()
        return AuditContext(
            user=self.user,
            signer=self.signer,
            app_version=__version__,
            roles=self._roles_for(knowledge),
            audiences=knowledge.readable_audiences if knowledge is not None else {},
        )

    def _roles_for(self, knowledge: KnowledgeAccess | None) -> tuple[str, ...]:
        if knowledge is None:
            return ()
        if self._roles is None or self._roles[0] is not knowledge:
            held = {role for grant in install.installed_grants() for role in grant.roles}
            self._roles = (knowledge, tuple(sorted(held)))
        return self._roles[1]


class AuditLog:
    """The pipeline's `AuditSink`: one hash-chained record per answer."""

    def __init__(
        self,
        store: AuditStore,
        policy: Policy,
        context: Callable[[], AuditContext],
        *,
        hmac_key: bytes,
        redact: Redactor | None = None,
    ) -> None:
        self.store = store
        self.policy = policy
        self.context = context
        self.text = TextKeeper(policy.audit_content, hmac_key, redact)

    def record(self, answer: Answer) -> None:
        self.store.append(answer_fields(answer, self.context(), self.text))

    def close(self) -> None:
        self.store.close()


def signer_id() -> str:
    """The key id (SHA-256 of the public key) of this profile's audit signing key."""
    return key_id(grants.user_signing_key().public_key())


def open_audit_log(
    policy: Policy,
    knowledge: Callable[[], KnowledgeAccess | None],
    *,
    redact: Redactor | None = None,
    path: Path | None = None,
) -> AuditLog:
    """The real audit log of this profile (keys from the trusted keyring), pruned to the
    policy's retention; `KeyringUnavailable` or `StorageError` when it cannot be opened."""
    path = path or audit_path()
    store = AuditStore.open_with_keyring(path)
    try:
        hmac_hex = store.meta(HMAC_META)
        if hmac_hex is None:
            hmac_hex = pysecrets.token_bytes(32).hex()
            store.set_meta(HMAC_META, hmac_hex)
        signer = store.meta(SIGNER_META)
        if signer is None:
            signer = signer_id()
            store.set_meta(SIGNER_META, signer)
        hmac_key = bytes.fromhex(hmac_hex)
        context = ProfileContext(signer, knowledge)
        if policy.audit_retention_days > 0:
            store.prune(time.time() - policy.audit_retention_days * DAY_S)
    except BaseException:
        store.close()
        raise
    return AuditLog(store, policy, context, hmac_key=hmac_key, redact=redact)


def open_audit_store() -> AuditStore:
    """The audit store alone (for `enclave audit verify` and `export`)."""
    return AuditStore.open_with_keyring(audit_path())
