"""User identity negotiation (PS3.7 D.3.3.7): what a requestor presents and how an acceptor checks it.

The codec and negotiation carry the sub-items; this module is the policy a person configures: "log in as
this user" on the requestor side, "only these users (with these passcodes)" on the acceptor side.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from app.net.negotiation import UserIdentityCheck
from app.net.pdu import UserIdentityRQ, UserIdentityType


def username_identity(
    username: str, passcode: str | None = None, *, positive_response_requested: bool = False
) -> UserIdentityRQ:
    """The user identity sub-item for ``username`` (type 1) or ``username`` and ``passcode`` (type 2)."""
    if not username:
        raise ValueError("a user identity needs a user name")
    if passcode is None:
        return UserIdentityRQ(
            UserIdentityType.USERNAME, positive_response_requested, username.encode("utf-8")
        )
    return UserIdentityRQ(
        UserIdentityType.USERNAME_AND_PASSCODE,
        positive_response_requested,
        username.encode("utf-8"),
        passcode.encode("utf-8"),
    )


def require_users(users: Mapping[str, str | None]) -> UserIdentityCheck:
    """An acceptor policy that lets in only ``users``: a name mapped to ``None`` needs no passcode, any
    other name must present its passcode (user identity type 2).  Anything else is rejected (PS3.8:
    rejected-permanent, service user, no reason given), so a stranger learns nothing about which part
    was wrong."""

    def check(identity: UserIdentityRQ) -> bool:
        if identity.identity_type not in (
            UserIdentityType.USERNAME,
            UserIdentityType.USERNAME_AND_PASSCODE,
        ):
            return False
        name = identity.primary_field.decode("utf-8", errors="replace")
        if name not in users:
            return False
        expected = users[name]
        if expected is None:
            return True
        if identity.identity_type != UserIdentityType.USERNAME_AND_PASSCODE:
            return False
        # Constant time: the comparison must not tell an attacker how much of a passcode was right.
        return hmac.compare_digest(identity.secondary_field, expected.encode("utf-8"))

    return check
