"""Private messages to a logged-in user of another node that shares no room with this one:
stored under the recipient's account, as on one server.

A private message's history key has one side per party: its account when it has one, else its
nick (hubbub.core.privacy), so that a logged-in user's later connections, on any node and with
any nick, find the conversation. A node that shares a room with the recipient knows its
account; for one it does not know, the sender's node asks the network directory where the
recipient is (hubbub.core.cluster_directory, `find_home`), and the entry says its account too.
Both nodes then store the message under that one key (the sender's node when it is sequenced,
the recipient's node when it delivers it): one conversation, never two copies.

Why the directory, rather than letting the recipient's node, which knows the account, choose
the key: the sender's node stores the message too (so that its own reads see it at once and a
message is lost from history only if both nodes die before writing it), and both must use the
same key; the directory is read anyway to find the recipient's node, so it costs nothing more.

The entry must say the account as soon as the user has one: a login after registration
(NickServ IDENTIFY, REGISTER, a SASL reauthentication) or a logout rewrites the user's entry
here (`account_changed`), besides the room events hubbub.core.cluster_accounts sequences.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubbub.core.cluster_accounts import ClusterAccounts
from hubbub.core.cluster_directory import ClusterDirectory
from hubbub.core.cluster_fields import user_key

if TYPE_CHECKING:
    from hubbub.core.model import User


class ClusterPrivate(ClusterAccounts, ClusterDirectory):
    """A local user's directory entry follows its logins (module docstring)."""

    def account_changed(self, user: User) -> None:
        super().account_changed(user)
        session = user.session
        if not session.remote and session.registered:
            self.network.publish(user_key(user.fold), self.entry(user))
