"""How the cluster's core writes what it puts on the bus: event payloads and room state fields.

The bus keys (`nick:<fold>` claims), the room state fields (`m:<fold>` per member with the
user's facts, `s:<fold>` its standing, `mode:*` and `list:*` the modes, `room`, `topic`), the
conditions on changing them that the bus understands (names marked `+ ? & = ! ^`) and the JSON
of event payloads, plus the copy of a room a MODE is worked out on. Pure functions;
hubbub.core.network says how they are used, hubbub.cluster.node reads some of them (a lost
node's member fields, its users' QUITs).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from hubbub.core.model import (
    FLAG_MODES,
    Ban,
    Channel,
    Membership,
    Topic,
    User,
)
from hubbub.core.ports import inbox
from hubbub.core.roomflood import format_limit, parse_limit, set_limit
from hubbub.registry.model import HISTORY_ACCESS

UNAVAILABLE = "The network cannot take it right now; nothing was sent, try again later"


#: The reason other nodes show when a node's users leave with it (its lease ran out).
NODE_LOST_REASON = "Server lost: its connection to the network timed out"


#: What every nick claim's key starts with (`nick_key`).
NICK_KEY_PREFIX = "nick:"


def nick_key(fold: str) -> str:
    """The bus claim that makes a nick unique network-wide."""
    return NICK_KEY_PREFIX + fold


#: What every user's directory entry's key starts with (`user_key`).
USER_KEY_PREFIX = "user:"


def user_key(fold: str) -> str:
    """The network directory's entry of a user (its public facts, written by its node:
    hubbub.core.cluster_directory)."""
    return USER_KEY_PREFIX + fold


def entry_claim(key: str) -> str:
    """The nick claim a user's directory entry `key` is written under: only the node holding
    the nick writes the entry (a node that has not learnt yet that it lost the nick, after
    Redis lost events, must not write over the holder's entry and then drop it)."""
    return nick_key(key.removeprefix(USER_KEY_PREFIX))


def node_of(identity: str) -> str:
    """The node of a user's network id (`<node>/<registered, ms>/<count>`, made by
    hubbub.core.cluster_directory); "" for none."""
    node, _, rest = identity.rpartition("/")
    return node.rpartition("/")[0] if node and rest else ""


def offline_payload(fold: str, nick: str) -> bytes:
    """The network room's event that a user of a lost node is offline (for MONITOR), sent by
    the node that buried it (so applied there too: `lost`)."""
    event = {"t": "offline", "f": fold, "n": nick, "lost": True}
    return json.dumps(event, separators=(",", ":")).encode()


def buried_payload(dead: str, read_at: Mapping[str, int], before: int | None = None) -> bytes:
    """The network room's event that closes the burial of lost node `dead`, after its QUITs:
    every node takes that node's users still listed in its copies out of them (a copy may
    list one the bus's fields do not, whose QUIT the burial never sends: her JOIN, or her
    claim, lost with the end Redis lost, hubbub.core.cluster_users). `read_at`: the seq each
    room's state was read at by the burial's last pass; a copy takes them out once it is
    there. `before`: the burial is the dead node's successor's, a process started under the
    same node id, whose users registered from that time (ms) on and stay (`of_buried`)."""
    event: dict[str, Any] = {"t": "buried", "d": dead, "at": dict(read_at)}
    if before is not None:
        event["b"] = before
    return json.dumps(event, separators=(",", ":")).encode()


def registered_ms(identity: str) -> int | None:
    """When the user of a network id registered (ms, its node's clock); None for none."""
    node, _, count = identity.rpartition("/")
    registered = node.rpartition("/")[2]
    return int(registered) if node and count and registered.isdigit() else None


def of_buried(identity: str, event: Mapping[str, Any]) -> bool:
    """Whether a user of a buried node (its network id) is one of the dead incarnation's: a
    user of its successor under the same node id, registered after the burial began, is
    not (a node whose network room lags may apply her JOIN before the burial)."""
    before = event.get("b")
    registered = registered_ms(identity)
    return before is None or registered is None or registered < int(before)


def member_field(fold: str) -> str:
    """The room state field that says `fold` is a member (its facts and join time, JSON)."""
    return "m:" + fold


def standing_field(fold: str) -> str:
    """The room state field of a member's standing (`o`, `v`, `ov` or empty). A field of its
    own, not part of the member field: a MODE +o/+v and a change of the user's facts (away,
    login, modes, metadata) sequenced in the same instant on two nodes each rewrite only their
    own field, so neither undoes the other for a node that opens the room later."""
    return "s:" + fold


def standing_change(fold: str) -> str:
    """A MODE's set name for a member's standing (`>` and the member's nick): its value is the
    changes in order, a sign and a letter each (`+v`, `-o+v`), which the bus applies to the
    standing as it is at the MODE's place in the room (the SEQUENCE script), if the member is
    there (its member field exists). Written from the sender's copy instead, a +v and a -o of
    one member sequenced in the same instant from two nodes each undid the other on the bus,
    while every copy applied both (a cluster fuzz finding)."""
    return ">" + fold


def member_field_names(fold: str) -> tuple[str, str]:
    """Every room state field of one member: deleted together when it leaves."""
    return member_field(fold), standing_field(fold)


def renamed_member_fields(
    old_fold: str, fold: str, facts: Mapping[str, Any], joined_ms: int
) -> dict[str, str]:
    """A NICK's member fields in one room: the new member field only if the old one is there
    and still the user's (the user may have been kicked meanwhile, and another user have
    taken the nick), the standing moved as it is then (a MODE may have changed it meanwhile),
    on the same condition (its value names the user), both when the bus sequences the NICK."""
    old_member, old_standing = member_field_names(old_fold)
    new_member, new_standing = member_field_names(fold)
    fields = {if_exists(old_member, new_member): facts_json(facts, joined_ms)}
    if new_standing != old_standing:
        fields[value_of(old_standing, new_standing)] = str(facts.get("id") or "")
    return fields


# Conditional state field names: how a room event asks the bus (the SEQUENCE script,
# hubbub.cluster.bus_scripts) to set or delete a field only in some state of the room, judged
# as the fields are just before the event, or to release a claim with it.


def if_creating(name: str) -> str:
    """A state field name (set or deleted) that the bus changes only if the room has no member
    just before the event: what a creating JOIN writes. Of two JOINs creating one room at the
    same instant on two nodes, the second sequenced joins the room the first created."""
    return "+" + name


def only_if_creating(name: str) -> bool:
    """Whether a set or deleted name is changed only by a JOIN creating the room (`if_creating`)."""
    return name.startswith("+")


def if_absent(name: str) -> str:
    """A state field name the bus sets only if the field is not there yet (`HSETNX`): a list
    entry added on two nodes at once keeps the first one's setter, as the rooms do; a JOIN's
    member fields leave a member that is there already as it is."""
    return "?" + name


def unless_same_user(name: str) -> str:
    """A JOIN's member field name (`m:<nick>`, `s:<nick>`): the bus sets it unless the member
    field of that nick is the joiner's already (its network id, `id`), leaving a member that
    is there as it is; one of another user is replaced. Two users have one nick only for a
    moment after Redis lost its data (a nick taken before its holder's node claimed it again,
    or a lost node's user's): the other one's QUIT, which deletes its fields only if they are
    still its own, then leaves the joiner's (a cluster fuzz finding: the joiner was left with
    no field while every copy listed it)."""
    return "*" + name


def if_exists(other: str, name: str) -> str:
    """A state field name the bus sets only if field `other` exists."""
    return f"&{other}&{name}"


def value_of(other: str, name: str) -> str:
    """A state field name the bus sets to field `other`'s value, if it exists. The value given
    with it is not used, but for a member's standing (`s:<fold>`): a network id, and then only
    if the member field of that nick is that user's."""
    return f"={other}={name}"


def unless_written_back(node: str, name: str) -> str:
    """A state field name the bus sets only if it is absent and `node` has not written the
    room back since Redis lost it (`members_of`): another node's member in a `sync`, which
    that member's own node, once it has spoken, has the last word on
    (hubbub.core.cluster_resync)."""
    return f"~{node}~{name}"


#: Starts a deleted name that is every member of one node (`members_of`).
MEMBERS_OF = "@"

#: Starts a name in a room's state fields as the bus reads them (`Network.open`) that is no
#: state field but says a node has written the room back (`members_of`): the bus keeps these
#: with the room's sequence, so a room only written back to by nodes none of whose users are
#: in it has no state, and no place in the rooms' list.
WRITTEN_BACK_PREFIX = "w:"


def members_of(node: str) -> str:
    """A deleted name that makes the bus delete the fields of every member whose member field
    names `node` as its home, and take note that `node` has written the room back: a node's
    `sync` deletes its own members before it sets those it has, so whatever the bus had of
    them (written back by a node that had not read their PART, KICK or NICK when Redis lost
    it) goes, and comes back with no other node's sync (`unless_written_back`)."""
    return MEMBERS_OF + node


def written_back_field(node: str) -> str:
    """The name under which the bus reads out that `node` has written the room back."""
    return WRITTEN_BACK_PREFIX + node


def written_back(fields: Mapping[str, str]) -> set[str]:
    """The nodes that have written the room back, from its fields as the bus reads them."""
    prefix = WRITTEN_BACK_PREFIX
    return {
        name[len(prefix) :] for name in fields if name.startswith(prefix) and name != FURTHEST_FIELD
    }


#: The prefix of the names under which the bus reads out, for a room whose end Redis lost,
#: each node that a member field there names as its home (`homes_named`). Not a state field.
MEMBER_HOME_PREFIX = "h:"


def homes_named(fields: Mapping[str, str]) -> set[str]:
    """The nodes that have members in the room as the bus has it, from its fields as the bus
    reads them out for a room whose end Redis lost (hubbub.cluster.bus `Return.written_back`):
    a node that never read a lost KICK or PART of its user still lists her there, and only
    the nodes that had read it know the room's end was lost (hubbub.core.cluster_resync
    `_ask_silent`)."""
    prefix = MEMBER_HOME_PREFIX
    return {name[len(prefix) :] for name in fields if name.startswith(prefix)}


#: The name under which the bus reads out how far the copy whose room fields it took had
#: read the room before Redis lost its data (`read_up_to`). No node has the id "*".
FURTHEST_FIELD = WRITTEN_BACK_PREFIX + "*"

#: A copy's place when it is not known (a room this node did not follow when Redis lost its
#: data): below every other copy's.
PLACE_UNKNOWN = -1


def read_up_to(seq: int) -> str:
    """A deleted name of a `sync` made after Redis lost its data, from a copy that had read
    the room up to `seq` before: its room fields (`is_room_field`) replace the room's only if
    no sync from a copy that had read further came first. So the room ends up as the copy
    that had read furthest has it, whatever the order of the syncs: that copy has every
    change any node had read, and so every one its sender was told was made. (Its member
    fields are written either way: each node has the last word on its own members.)"""
    return f"{GUARD}w{seq}"


def furthest(fields: Mapping[str, str]) -> int:
    """How far the copy whose room fields the room has had read (`read_up_to`), from its
    fields as the bus reads them; PLACE_UNKNOWN if no such sync came."""
    return int(fields.get(FURTHEST_FIELD, PLACE_UNKNOWN))


def is_room_field(name: str) -> bool:
    """Whether a state field is the room's own (written back by the furthest copy, an
    invitation among them), not a member's or the history access."""
    return name in ("room", "topic") or name.startswith(
        (MODE_PREFIX, LIST_PREFIX, METADATA_PREFIX, INVITE_PREFIX)
    )


#: Starts a deleted name that is a claim of this node released with the event.
RELEASES_CLAIM = "!"
#: Starts a deleted name that is a member leaving (`member_leaves`).
LEAVES = "%"


def member_leaves(fold: str, identity: str) -> tuple[str, ...]:
    """The deleted names of a member leaving (its QUIT or PART): both its fields, and with its
    network id, only if the member field under that nick is still that user's (a QUIT its node
    sent on from a renamed room may come after another user took the nick: that one stays, as
    the nodes resolve the QUIT to the user who sent it, hubbub.core.cluster_rooms `user_of`)."""
    if not identity:
        return member_field_names(fold)
    return (f"{LEAVES}{fold}{LEAVES}{identity}",)


def released_with(key: str) -> str:
    """A deleted state field name that makes the bus release this node's claim `key` with the
    event, atomically: a quitting user's nick with its last QUIT (hubbub.core.cluster_propose,
    `release_claim`)."""
    return RELEASES_CLAIM + key


#: Starts a deleted name that is a condition of the event's field changes (`only_if_operator`,
#: `only_if_topic_setter`, `only_if_inviter`): if it fails, the bus sequences the event but
#: changes no field (and marks it: `NOT_PERMITTED`).
GUARD = "^"

#: A deleted name of a `sync` not ranked (a room whose end Redis lost, same epoch: the
#: copies' places there are not known): its room fields (`is_room_field`) replace the room's,
#: those it lacks deleted, as every copy takes them (hubbub.core.cluster_resync `_take_sync`);
#: merged in, they left the bus with what the copy no longer had (an invitation used by a
#: JOIN Redis lost, a cluster fuzz finding).
REPLACES_ROOM = GUARD + "W"


def only_if_operator(fold: str) -> str:
    """A deleted name that makes the bus change the event's fields only if member `fold` is an
    operator of the room just before it (its standing field has `o`). If it is not (deopped
    in that instant), the bus marks the event (`NOT_PERMITTED`) and every node refuses it
    from that mark (hubbub.core.cluster_apply, `privilege_refused`)."""
    return f"{GUARD}o{fold}"


def only_if_topic_setter(fold: str) -> str:
    """As `only_if_operator`, for a TOPIC: an operator, or a member of a room without `+t`
    (`mode:t` is "0")."""
    return f"{GUARD}t{fold}"


def only_if_inviter(fold: str) -> str:
    """As `only_if_operator`, for an INVITE: an operator, or a member of a room without `+i`
    (`mode:i` is not "1")."""
    return f"{GUARD}i{fold}"


def only_if_room_for(fold: str) -> str:
    """A deleted name (a JOIN's, unless its joiner is trusted past `+l`) that makes the bus
    change the event's fields only if the room has fewer members than its limit (`mode:l`)
    just before it, not counting `m:<fold>` (another user's, whose nick it takes), and always
    if `m:<fold>` is the joiner's own (a JOIN sent twice, which adds nobody, and uses an
    invitation up as the rooms do: `unless_same_user`). If it has not, the bus marks the
    event (`FULL`) and every node refuses it. The bus counts, not each copy: for a moment
    the copies may list a room's members differently (a member's PART that Redis lost, read
    by one copy and not by another; a user gone while her JOIN was on its way), and a `+l`
    decided by each would let a JOIN in on some copies and not on others, for good (cluster
    fuzz findings, docs/cluster-fuzzing.md)."""
    return ROOM_FOR_PREFIX + fold


#: What every `only_if_room_for` name starts with.
ROOM_FOR_PREFIX = GUARD + "l"


#: The bus's mark of a JOIN whose `only_if_room_for` failed: the room was full.
FULL = "fl"

#: The bus's mark of a KICK, MODE, TOPIC or INVITE whose sender's condition failed
#: (`only_if_operator`, `only_if_topic_setter`, `only_if_inviter`): it lacked the standing.
#: The bus decides, not each copy: after Redis lost its data the copies may give a member
#: another standing for a while (the first sync to list a member whose own node had not
#: spoken set the bus's; a copy that had read a MODE Redis lost keeps its own until that node
#: speaks), and a TOPIC decided by each copy was kept by some and refused by others, for good
#: (a cluster fuzz finding).
NOT_PERMITTED = "np"

#: A deleted name that makes the bus change the event's fields only if the room is there (its
#: `room` field): a JOIN of a room that was, when it was sent. If it is not, the bus marks the
#: event (`NO_ROOM`) and every node refuses it (hubbub.core.cluster_apply).
ONLY_IF_ROOM = f"{GUARD}r"
#: The bus's mark of an event whose `ONLY_IF_ROOM` failed.
NO_ROOM = "nr"


def unchanged_since(seq: int) -> str:
    """A deleted name that makes the bus change the event's fields only if no event after the
    one numbered `seq` changed the room's state fields: a `sync` event, which writes a node's
    copy of the room back, is made only from a copy with every change applied
    (hubbub.core.cluster_resync). The event is sequenced either way; if it changed nothing
    for that, with `"un"` in its payload."""
    return f"{GUARD}s{seq}"


def from_view(seq: int) -> str:
    """A deleted name saying that the sender's copy of the room reflected its events up to
    `seq`: if a RENAME took the room away from this name after that, the event was meant for
    the renamed room. The bus then changes none of its fields (its claims are released all the
    same) and marks it (`"rn"`), so that every node ignores it under the old name, and its
    sender sends it on to the new one (hubbub.core.cluster_rename)."""
    return f"{GUARD}v{seq}"


def written_field(name: str) -> str:
    """The field a set or deleted name writes, whatever its condition."""
    if name[:1] in ("&", "=", "~"):
        return name[1:].partition(name[0])[2]
    if name[:1] == ">":
        return standing_field(name[1:])
    return name.lstrip("?+*")


METADATA_PREFIX = "meta:"
#: The room state field of its history access (ChanServ SET HISTORY), and the room event that
#: changes it; absent: the server's default (a registered room's registration has its own).
HISTORY_FIELD = "history"
HISTORY_EVENT = "hist"

#: The room state field that marks a room registered with ChanServ ("1"). Written by the
#: `chanreg` and `chandrop` events in `~accounts` (`registration_mark`), in the order the
#: nodes learn the registration (hubbub.core.cluster_registry). A room with this mark and its
#: `room` field is never made anew by a JOIN (its `if_creating` names change nothing): a JOIN
#: from a node that did not know the room registered yet, sequenced in the instant its last
#: member left, joins the room as the bus kept it, instead of resetting its kept topic, modes,
#: lists and metadata (a cluster fuzz finding, seed 100016). A RENAME onto a marked name is
#: refused, as onto a room with members.
REGISTERED_FIELD = "registered"


#: A JOIN's field: the digest (`key_digest`) of the key its user gave, when its node took the
#: room for new and had no key to check it against. If the bus lets it join a room that is
#: there (another node's JOIN created it a moment before, or a registered room the bus kept,
#: `REGISTERED_FIELD`), every node checks it against the room's key in the room's sequence,
#: as they check bans, +i and +l (hubbub.core.cluster_apply `join_refused`).
GIVEN_KEY = "ky"


def key_digest(key: str) -> str:
    """What a JOIN carries of the key its user gave (`GIVEN_KEY`): not the key itself, which
    would stay in the room's stream."""
    return hashlib.sha256(key.encode()).hexdigest()


def registration_mark(fold: str) -> str:
    """The name that marks room `fold` registered (set, with "1") or unmarks it (deleted),
    in an event of another room (a `chanreg` or `chandrop`, sequenced in `~accounts`)."""
    return "#" + fold


def metadata_field(key: str) -> str:
    """The room state field of one key of the room's metadata (its value: the key's value).
    A field per key, not one field for the map: two changes of different keys sequenced in
    the same instant on two nodes then both stay, whichever script call runs first."""
    return METADATA_PREFIX + key


INVITE_PREFIX = "i:"


def invite_field(fold: str) -> str:
    """The room state field that says `fold` is invited (its value: the room's creation time,
    so an invitation to an earlier room of the same name does not count)."""
    return INVITE_PREFIX + fold


def invitation_fields(channel: Channel) -> dict[str, str]:
    """The state fields of the room's invitations as this copy has them."""
    created = str(channel.created)
    return {invite_field(fold): created for fold in channel.invited}


def load_invitations(channel: Channel, fields: Mapping[str, str]) -> None:
    """The room's invitations from its state fields: those to this room, not to an earlier
    one of the same name."""
    created = str(channel.created)
    channel.invited.clear()
    channel.invited.update(
        name[len(INVITE_PREFIX) :]
        for name, value in fields.items()
        if name.startswith(INVITE_PREFIX) and value == created
    )


#: What a local user's facts add, on its node: the last change number of its away state and
#: modes, of its metadata and of its login that node had given when it made them (per node,
#: not per user: every change of the user it had numbered by then is in them). Another node
#: takes the state in them (from a JOIN, a member field, a sync) only where these are newer
#: than the changes it applied (hubbub.core.cluster_versions, cluster_rooms
#: `_state_from_facts`).
STATE_VERSION = "uv"
METADATA_VERSION = "mv"
ACCOUNT_VERSION = "av"


def user_facts(user: User, node: str, here: str) -> dict[str, Any]:
    """What other nodes need to show a user: names, host, account, away state, the user modes
    others see (hubbub.core.cluster_users), where it lives (its node, and that node's server
    name: `here` for this node's users), and who it is whatever its nick."""
    return {
        "n": user.nick,
        "u": user.username,
        "h": user.hostname,
        "r": user.realname,
        "a": user.account,
        "ai": user.account_id,
        "aw": user.away,
        "um": public_modes(user),
        "op": user.oper,
        "md": user.metadata or {},
        "node": node,
        "sv": user.server or here,
        "id": user.network_id,
        "nv": user.nick_version,
    }


def nick_version(facts: Mapping[str, Any]) -> int:
    """Which of a user's nicks its facts (or NICK event) name: its node's number for that
    change of nick (User.nick_version; 0 from a node that sends none)."""
    try:
        return int(facts.get("nv") or 0)
    except (TypeError, ValueError):
        return 0


def public_modes(user: User) -> str:
    """The user modes other users see: +B (WHO, WHOIS, the bot tag), +i (WHO), +Z (WHOIS);
    +o travels as the operator's name (`op`), +w concerns the user alone."""
    return (
        ("B" if user.bot else "")
        + ("i" if user.invisible else "")
        + ("Z" if user.session.secure else "")
    )


def load_user_state(user: User, facts: Mapping[str, Any]) -> None:
    """A remote user's away state and user modes from its facts (older nodes send none)."""
    user.away = facts.get("aw", "")
    modes = facts.get("um", "")
    user.bot = "B" in modes
    user.invisible = "i" in modes
    user.session.secure = "Z" in modes
    user.oper = facts.get("op", "")


def facts_json(facts: Mapping[str, Any], joined_ms: int) -> str:
    """The member field's value: the user's facts and when it joined the room."""
    return json.dumps({**facts, "j": joined_ms})


def standing_text(membership: Membership) -> str:
    """The standing field's value."""
    return ("o" if membership.op else "") + ("v" if membership.voice else "")


def member_fields(fold: str, facts: Mapping[str, Any], membership: Membership) -> dict[str, str]:
    """Both fields of a member (a JOIN, a NICK, a node writing its rooms back)."""
    return {
        member_field(fold): facts_json(facts, membership.joined_ms),
        standing_field(fold): standing_text(membership),
    }


def load_membership(member: Mapping[str, Any], standing: str | None) -> Membership:
    """A member's standing from its fields (a member field written before the standing had a
    field of its own carries `o` and `v`)."""
    if standing is None:
        return Membership(bool(member.get("o")), bool(member.get("v")), member["j"])
    return Membership("o" in standing, "v" in standing, member["j"])


def quit_payload(
    fold: str, prefix: str, reason: str, msgid: str, identity: str = "", lost: bool = False
) -> bytes:
    """A QUIT for one room (also what a surviving node sequences for a lost node's users:
    `lost`, which every node takes for the user with that network id even under another nick
    in its copy: a NICK of the user that Redis lost, restarted from a file missing its last
    writes, after its node had read it, a cluster fuzz finding; no later event of the user's
    own node can come to tell them apart)."""
    event = quit_event(fold, prefix, reason, msgid, identity)
    if lost:
        event["lost"] = 1
    return json.dumps(event).encode()


def quit_event(fold: str, prefix: str, reason: str, msgid: str, identity: str) -> dict[str, Any]:
    """A QUIT's event for one room: the user's nick, network id and prefix, the reason."""
    return {"t": "quit", "f": fold, "id": identity, "p": prefix, "r": reason, "m": msgid}


#: How many times the node burying a lost node reads every room's state and QUITs the lost
#: node's users found there: a room renamed between a read and its QUIT takes the member's
#: fields to its new name, where the next pass finds them (hubbub.cluster.node `_bury`).
BURIAL_PASSES = 3


def members_facts(fields: Mapping[str, str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each member of a room's state fields: its casefolded nick and its facts (a field that
    is not a JSON object skipped)."""
    for field, value in fields.items():
        if not field.startswith("m:"):
            continue
        try:
            facts = json.loads(value)
        except ValueError:
            continue
        if isinstance(facts, dict):
            yield field[2:], facts


def facts_prefix(facts: Mapping[str, Any]) -> str:
    """The nick!user@host of a user's facts (a member field's, a JOIN's)."""
    return f"{facts['n']}!{facts['u']}@{facts['h']}"


def member_homes(fields: Mapping[str, str]) -> set[str]:
    """The nodes a room's state fields name as its members' homes (the bus looks for those
    that did not come back after Redis lost its data: hubbub.cluster.bus)."""
    homes = (facts.get("node") for _, facts in members_facts(fields))
    return {home for home in homes if isinstance(home, str) and home}


def quits_of_lost_node(
    dead: str, fields: Mapping[str, str], next_msgid: Callable[[], str]
) -> list[tuple[bytes, tuple[str, ...]]]:
    """What the node that buries a lost node sequences in one room, from the room's state
    fields: a QUIT (payload, deleted names) for each member field of the dead node's users."""
    quits: list[tuple[bytes, tuple[str, ...]]] = []
    for fold, facts in members_facts(fields):
        if facts.get("node") != dead:
            continue
        prefix = f"{facts.get('n', fold)}!{facts.get('u', '')}@{facts.get('h', '')}"
        identity = str(facts.get("id") or "")
        payload = quit_payload(fold, prefix, NODE_LOST_REASON, next_msgid(), identity, lost=True)
        quits.append((payload, member_leaves(fold, identity)))
    return quits


def asks_of_burial(dead: str, room: str, fields: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """What the node that buries a lost node sequences, besides its QUITs, for a room written
    back since Redis lost its data: a `speak` event (inbox room, payload) to each other node
    whose users the room's fields list and that has not written it back. Those fields came
    from the syncs made, the lost node's among them: its copy, a lagging one, may have listed
    a user of another node that had left the room meanwhile (a QUIT that Redis lost before
    the lost node read it). It would have asked that node to speak (hubbub.core.cluster_resync
    `_ask_silent`) had it lived; nobody else knows to, and nobody may open the room again
    (a cluster fuzz finding, seed 4746544). Asked, that node writes its users back, or none."""
    spoken = written_back(fields)
    if not spoken:
        return []
    silent = member_homes(fields) - spoken - {dead}
    return [(inbox(home), encode(speak_event(room))) for home in sorted(silent)]


def speak_event(room: str) -> dict[str, Any]:
    """The event, in a node's inbox, that asks it to write `room` back (its users there, or
    none): hubbub.core.cluster_resync `_apply_speak`."""
    return {"t": "speak", "r": room}


LIST_MODES = {"b": "bans", "e": "excepts", "I": "invex"}


def modes_json(channel: Channel) -> str:
    """The room state field `modes`: flags, key, limit, +f and the +b +e +I lists."""
    return json.dumps(
        {
            "flags": [char for char, attr in FLAG_MODES.items() if getattr(channel, attr)],
            "key": channel.key,
            "limit": channel.limit,
            "flood": format_limit(channel.flood_limit) if channel.flood_limit else "",
            "lists": {
                char: [[ban.mask, ban.setter, ban.set_at] for ban in getattr(channel, attr)]
                for char, attr in LIST_MODES.items()
            },
        }
    )


def load_modes(channel: Channel, text: str) -> None:
    """The modes of `modes_json` (a registered room's saved state, `rs`)."""
    modes = json.loads(text)
    for char, attr in FLAG_MODES.items():
        setattr(channel, attr, char in modes["flags"])
    channel.key = modes["key"]
    channel.limit = modes["limit"]
    set_limit(channel, parse_limit(modes["flood"]) if modes["flood"] else None)
    for char, attr in LIST_MODES.items():
        setattr(channel, attr, [Ban(*entry) for entry in modes["lists"].get(char, [])])


# The room's modes in its state fields: one field per flag, parameter and list entry, so two
# changes sequenced in the same instant on two nodes (a +i and a +m, two bans) each rewrite
# only their own and neither undoes the other for a node that opens the room later (one JSON
# field of all of them, written from the sender's copy of the room, lost such changes).
#: `mode:<flag>` "1" or "0" (absent: a new room's default), `mode:k` the key, `mode:l` the
#: limit, `mode:f` the +f setting (absent: unset).
MODE_PREFIX = "mode:"
#: `list:<b|e|I>:<casefolded mask>`: an entry of +b +e +I, JSON [mask, setter, set_at].
LIST_PREFIX = "list:"


def list_field(char: str, folded_mask: str) -> str:
    return f"{LIST_PREFIX}{char}:{folded_mask}"


def mode_fields(channel: Channel, fold: Callable[[str], str]) -> dict[str, str]:
    """All of the room's modes as state fields (a node writing its rooms back, a registered
    room's saved state)."""
    fields = {
        MODE_PREFIX + char: "1" if getattr(channel, attr) else "0"
        for char, attr in FLAG_MODES.items()
    }
    if channel.key:
        fields[MODE_PREFIX + "k"] = channel.key
    if channel.limit:
        fields[MODE_PREFIX + "l"] = str(channel.limit)
    if channel.flood_limit:
        fields[MODE_PREFIX + "f"] = format_limit(channel.flood_limit)
    for char, attr in LIST_MODES.items():
        for entry in getattr(channel, attr):
            value = json.dumps([entry.mask, entry.setter, entry.set_at])
            fields[list_field(char, fold(entry.mask))] = value
    return fields


def mode_change_fields(
    changes: list[tuple[str, str, str | None]],
    setter: str,
    set_at: int,
    fold: Callable[[str], str],
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The state fields a MODE's changes set and delete (the +o and +v standings aside)."""
    set_fields: dict[str, str] = {}
    deleted: list[str] = []
    for sign, char, arg in changes:
        adding = sign == "+"
        if char in FLAG_MODES:
            set_fields[MODE_PREFIX + char] = "1" if adding else "0"
        elif char in "klf":
            if adding and arg:
                set_fields[MODE_PREFIX + char] = arg
            else:
                deleted.append(MODE_PREFIX + char)
        elif char in LIST_MODES and arg:
            name = list_field(char, fold(arg))
            if adding:
                set_fields[if_absent(name)] = json.dumps([arg, setter, set_at])
            else:
                deleted.append(name)
    return set_fields, tuple(deleted)


def load_mode_fields(channel: Channel, fields: Mapping[str, str]) -> None:
    """The room's modes from its state fields."""
    lists: dict[str, list[Ban]] = {}
    for name, value in fields.items():
        if name.startswith(MODE_PREFIX):
            char = name[len(MODE_PREFIX) :]
            if char in FLAG_MODES:
                setattr(channel, FLAG_MODES[char], value == "1")
            elif char == "k":
                channel.key = value
            elif char == "l":
                channel.limit = int(value)
            elif char == "f":
                set_limit(channel, parse_limit(value))
        elif name.startswith(LIST_PREFIX):
            char = name[len(LIST_PREFIX)]
            if char in LIST_MODES:
                lists.setdefault(char, []).append(Ban(*json.loads(value)))
    for char, entries in lists.items():
        entries.sort(key=lambda entry: (entry.set_at, entry.mask))  # about the order set
        setattr(channel, LIST_MODES[char], entries)


def load_room_state(channel: Channel, fields: Mapping[str, str]) -> None:
    """The room's modes, topic and metadata from its state fields (a room opened here, or
    another node's sync taken in: hubbub.core.cluster_resync)."""
    load_mode_fields(channel, fields)
    topic = json.loads(fields.get("topic", "null"))
    if topic is not None:
        channel.topic = Topic(topic["text"], topic["setter"], int(topic["at"]))
    metadata = {
        name[len(METADATA_PREFIX) :]: value
        for name, value in fields.items()
        if name.startswith(METADATA_PREFIX)
    }
    channel.metadata = metadata or None


def room_from_fields(fold: str, fields: Mapping[str, str]) -> Channel | None:
    """A copy of the room as its state fields have it (its name, creation, modes, topic,
    metadata and history access), with nobody in it and not made live; None if the fields
    have no room (never created, or its state lost)."""
    room = json.loads(fields.get("room", "null"))
    if room is None:
        return None
    channel = Channel(room["name"], fold, int(room["created"]))
    channel.history_since_ms = int(room["since"])
    load_room_state(channel, fields)
    access = fields.get(HISTORY_FIELD, "")
    channel.history_access = access if access in HISTORY_ACCESS else ""
    return channel


def saved_state(channel: Channel) -> dict[str, Any]:
    """What a creating JOIN of a registered room carries (`rs`): its saved topic, modes and
    lists, and metadata, in the room state fields' encoding."""
    topic = channel.topic
    return {
        "topic": None
        if topic is None
        else json.dumps({"text": topic.text, "setter": topic.setter, "at": topic.set_at}),
        "modes": modes_json(channel),
        "meta": dict(channel.metadata or {}),
    }


def state_fields(
    state: dict[str, Any], fold: Callable[[str], str]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The room state fields a creating JOIN sets and deletes to make `state` the room's (the
    bus deletes before it sets: the earlier room's modes go, these stay)."""
    saved = Channel("", "", 0)
    load_modes(saved, state["modes"])
    fields = mode_fields(saved, fold)
    deleted: tuple[str, ...] = (MODE_PREFIX + "*", LIST_PREFIX + "*")
    if state["topic"] is None:
        deleted += ("topic",)
    else:
        fields["topic"] = state["topic"]
    for key, value in state["meta"].items():
        fields[metadata_field(key)] = value
    return fields, deleted


def load_state(channel: Channel, state: dict[str, Any]) -> None:
    """A room created by a JOIN that carried its saved state takes it (every node that applies
    that JOIN, so the same everywhere)."""
    load_modes(channel, state["modes"])
    topic = json.loads(state["topic"]) if state["topic"] else None
    channel.topic = None if topic is None else Topic(topic["text"], topic["setter"], topic["at"])
    channel.metadata = dict(state["meta"]) or None


def start_afresh(channel: Channel) -> None:
    """A room created anew by a JOIN that this node's copy of an emptied room of that name
    was kept for (the JOIN was on its way): none of that room's topic, modes, lists,
    invitations or metadata is the new one's, as the JOIN deleted them from the state fields
    (hubbub.core.cluster_propose), and as on one server, where an emptied room is gone."""
    fresh = Channel(channel.name, channel.fold, channel.created)
    for attr in FLAG_MODES.values():
        setattr(channel, attr, getattr(fresh, attr))
    channel.key, channel.limit = fresh.key, fresh.limit
    set_limit(channel, None)
    for attr in LIST_MODES.values():
        setattr(channel, attr, [])
    channel.topic = None
    channel.metadata = None
    channel.history_access = ""
    channel.invited.clear()


def scratch_copy(channel: Channel) -> Channel:
    """A copy of the room's modes and standings that a MODE command may change, to learn
    what it would do before it is sequenced (the room itself changes when it comes back)."""
    copy = Channel(channel.name, channel.fold, channel.created)
    for attr in FLAG_MODES.values():
        setattr(copy, attr, getattr(channel, attr))
    copy.key, copy.limit, copy.flood_limit = channel.key, channel.limit, channel.flood_limit
    for attr in LIST_MODES.values():
        setattr(copy, attr, list(getattr(channel, attr)))
    copy.members = {
        user: Membership(standing.op, standing.voice, standing.joined_ms)
        for user, standing in channel.members.items()
    }
    copy.registered = channel.registered
    return copy


def local(user: User | None) -> User | None:
    """`user` if it has a connection here: fan-out skips only local writers (a remote user
    has none in the room's groups, and counting it as skipped would miscount deliveries)."""
    return user if user is not None and not user.session.remote else None


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
