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

The sender reads the conversation back (CHATHISTORY, REDACT, EDIT) by the recipient's nick:
on one server, the nick of a user online gives its account (hubbub.core.privacy,
`dm_read_keys`). Here the recipient is on another node, so the sender's node remembers the
account side the directory gave for each nick it sent to (`remote_side`, the latest
`cluster.remembered_private_sides` nicks), and reads under it too. Reading a key with one
more other side is never more than the reader's own conversations (its own side is always one
of the two).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

from hubbub.core.cluster_accounts import ClusterAccounts
from hubbub.core.cluster_directory import ClusterDirectory
from hubbub.core.cluster_fields import user_key

if TYPE_CHECKING:
    from hubbub.core.model import User
    from hubbub.core.ports import Network
    from hubbub.core.server import ChatServer


class ClusterPrivate(ClusterAccounts, ClusterDirectory):
    """A local user's directory entry follows its logins, and the account sides of the
    recipients of other nodes are remembered (module docstring)."""

    def __init__(self, server: ChatServer, network: Network) -> None:
        super().__init__(server, network)
        # Casefolded nick -> its account's side of a history key, as the directory said when
        # a local user last wrote to it (only nicks whose user was logged in).
        self.sides: OrderedDict[str, str] = OrderedDict()

    def find_home(self, fold: str, done: Callable[[tuple[str, str, str] | None], None]) -> None:
        def found(answer: tuple[str, str, str] | None) -> None:
            if answer is not None:
                side = answer[2]
                # (Not logged in now: what it said before stays readable under the side kept.)
                limit = self.server.config.cluster.remembered_private_sides
                if side != fold and limit > 0:
                    self.sides[fold] = side
                    self.sides.move_to_end(fold)
                    if len(self.sides) > limit:
                        self.sides.popitem(last=False)
            done(answer)

        super().find_home(fold, found)

    def remote_side(self, fold: str) -> str:
        """The account side of the user of another node last written to under this nick
        ("" when none is remembered)."""
        return self.sides.get(fold, "")

    def account_changed(self, user: User) -> None:
        super().account_changed(user)
        session = user.session
        if not session.remote and session.registered:
            self.network.publish(user_key(user.fold), self.entry(user))
