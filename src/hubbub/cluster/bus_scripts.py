"""The bus's Redis key names and its Lua scripts: one script per atomic operation.

Every key starts with `hubbub:`; a room's or a claim's own name comes last, so no two names can
make the same key. Redis runs a script to the end before anything else, which is what makes
each operation below atomic (docs/cluster.md gives the ordering argument). The scripts
that write check the Redis epoch first (see `EPOCH`), so a node never writes into a Redis that
restarted empty before it has noticed and resynchronised.

A few scripts (`BURY`, `LEAVE`) touch claim and directory keys they compute themselves rather
than receive in KEYS: fine on the single Redis the bus uses, not on Redis Cluster.
"""

from __future__ import annotations

PREFIX = "hubbub:"
EPOCH_KEY = PREFIX + "epoch"
ROOMS_KEY = PREFIX + "rooms"
# The channels with members (names starting with '#' whose state has an `m:` field), so that
# counting them (LUSERS) is one SCARD. ROOMS_KEY has every room with state: a channel keeps
# its `room` field when its last member leaves, and the nodes' own rooms (inboxes, the
# network and accounts rooms) are there too.
CHANNELS_KEY = PREFIX + "channels"
NODES_KEY = PREFIX + "nodes"
# Hash node -> "<users> <invisible> <server name> <description>": each node's count of its
# registered users and the server it is, written by its heartbeat (LUSERS shows the network's
# count, LINKS its servers).
CENSUS_KEY = PREFIX + "census"
# List of WHOWAS entries (JSON, hubbub.core.whowas), newest first, trimmed to the newest
# `limits.whowas_entries`: not under any lease, as they outlive the users and their nodes.
WHOWAS_KEY = PREFIX + "whowas"
EVENTS_PREFIX = PREFIX + "events:"
CLAIM_PREFIX = PREFIX + "claim:"
# The number the last nick claim taken was given (`CLAIM`).
CLAIMED_KEY = PREFIX + "claimed"
# Hash node -> "<ms> <lease ms> <heartbeat ms>": each node's own clock when it last took or
# renewed its lease (`REGISTER`, `RENEW`), the clock its users' network ids are stamped with,
# and its lease and heartbeat. A survivor burying the node tells its users from those of a
# process started again under its node id by it (hubbub.cluster.node `_bury`).
BEATS_KEY = PREFIX + "beats"
DIRECTORY_PREFIX = PREFIX + "directory:"

# Error replies the scripts raise; the bus maps both to BusUnavailable and a resynchronisation.
EPOCH_ERROR = "HUBBUB_EPOCH"
LEASE_ERROR = "HUBBUB_LEASE"


def sequence_keys(room: str) -> list[str]:
    """The KEYS of one SEQUENCE call for `room`, in the script's order."""
    return [EPOCH_KEY, seq_key(room), state_key(room), stream_key(room), ROOMS_KEY, CHANNELS_KEY]


def seq_key(room: str) -> str:
    """Hash of the room's sequence: `seq` (the last assigned), `time` (its time_ms),
    `renamed` (the seq of the last RENAME that took a room away from this name) and `changed`
    (the seq of the last event that changed its state fields)."""
    return PREFIX + "seq:" + room


def state_key(room: str) -> str:
    """Hash of the room's state fields, changed only by `SEQUENCE`, with the seq."""
    return PREFIX + "state:" + room


def stream_key(room: str) -> str:
    """Capped stream of the room's events; entry id `<seq>-0`, fields t, n, p."""
    return PREFIX + "stream:" + room


def events_channel(room: str) -> str:
    """Pub/sub channel of the room's live events."""
    return EVENTS_PREFIX + room


def lease_key(node: str) -> str:
    """The node's lease: its incarnation token, with a PX expiry renewed by the heartbeat."""
    return PREFIX + "lease:" + node


def janitor_key(node: str) -> str:
    """Held (SET NX PX) by the one surviving node that buries a dead node."""
    return PREFIX + "janitor:" + node


def node_claims_key(node: str) -> str:
    """Hash claim key -> value of everything the node claimed."""
    return PREFIX + "claims:" + node


def node_directory_key(node: str) -> str:
    """Set of the directory keys the node put."""
    return PREFIX + "directory-of:" + node


def claim_key(key: str) -> str:
    """Hash `o` (owner node) and `v` (value) of one network-wide unique claim."""
    return CLAIM_PREFIX + key


def directory_key(key: str) -> str:
    """Hash `o` (owner node) and `v` (value) of one directory entry."""
    return DIRECTORY_PREFIX + key


_CHECK_EPOCH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('HUBBUB_EPOCH the Redis epoch changed: resynchronise')
end
"""

# Whether a room's state hash has a member field (`m:<fold>`): HSCAN stops at the first page
# with one, which in a room with members is nearly always the first.
_HAS_MEMBER = """
local function has_member(hash)
  local cursor = '0'
  repeat
    local page = redis.call('HSCAN', hash, cursor, 'MATCH', 'm:*', 'COUNT', 64)
    if #page[2] > 0 then return true end
    cursor = page[1]
  until cursor == '0'
  return false
end
"""

# Appends a room's seq hash's `w:` fields (the nodes that have written the room back, `w:*` how
# far the copy whose room fields it has had read) to a flat name, value list: as STATE and
# SEED read them out.
_ADD_WRITTEN_BACK = """
local function add_written_back(answer, seq_hash)
  local sequence = redis.call('HGETALL', seq_hash)
  for index = 1, #sequence, 2 do
    if string.sub(sequence[index], 1, 2) == 'w:' then
      table.insert(answer, sequence[index])
      table.insert(answer, sequence[index + 1])
    end
  end
  return answer
end
"""

# Every script that writes on behalf of a node first proves the node still holds its lease, so
# a node that was buried (its lease missed) cannot leave orphan claims behind.
_CHECK_LEASE = """
if redis.call('GET', KEYS[2]) ~= ARGV[3] then
  return redis.error_reply('HUBBUB_LEASE this node lost its lease: re-register')
end
"""


def _release_claim(claim: str, claims: str, node: str, key: str) -> str:
    """Lua that releases claim `key` (its hash `claim`) of `node` (its claims hash `claims`):
    the claim goes only if it is that node's. Shared by RELEASE and SEQUENCE's `!` names."""
    return (
        f"if redis.call('HGET', {claim}, 'o') == {node} then redis.call('DEL', {claim}) end\n"
        f"redis.call('HDEL', {claims}, {key})\n"
    )


# KEYS: epoch. ARGV: a fresh epoch token. Sets it when Redis has none (first start, or a
# restart that lost the data set), then answers the epoch in force.
EPOCH = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""

# KEYS: epoch, seq hash, state hash, stream, rooms set, channels set.
# ARGV: epoch, room, node, payload, stream length, channel, number of fields set (n),
#       n (name, value) pairs, then the names of the fields deleted (a name ending in `*`:
#       every field whose name starts with the rest). A name starting with `+` (set or
#       deleted) is the rest of it, changed only if the room has no member (no `m:` field)
#       before this event: what a creating JOIN writes, so that of two JOINs creating the room
#       at once only the first sequenced does; one that does is sequenced with `"new":1`
#       added to its payload. A set name starting with `?` is the rest of it,
#       set only if absent (HSETNX); `&<other>&<name>` is set only if field <other> exists, and
#       `=<other>=<name>` to <other>'s value if it exists (for a standing `s:<fold>` with a
#       network id as value, only if `m:<fold>` is that user's), both as the fields are before
#       this event (a NICK's member fields: only for a member, its standing as it is then);
#       `~<node>~<name>` is set only if <name> does not exist and <node> has not written
#       the room back (the seq hash's `w:<node>`: another node's member in a `sync`);
#       `*m:<fold>` and `*s:<fold>` (a JOIN's member fields) are set unless `m:<fold>`'s JSON
#       has the `id` of `*m:<fold>`'s (or either has none); `><fold>` (a MODE's) changes
#       `s:<fold>` by its value, a sign and a letter per change (`+v`, `-o+v`: `o` and `v`
#       added or taken away, in that order), if `m:<fold>` exists. A
#       deleted name starting with `!` releases this node's claim of the rest (as RELEASE);
#       `%<fold>%<id>` deletes `m:<fold>` and `s:<fold>` if the member field's JSON has that
#       `id` (or none); `@<node>` deletes the fields of every member whose member field's
#       JSON has that `node` and sets the seq hash's `w:<node>` (a node's `sync`: its own
#       members go before it sets those it has, and no other node's sync writes them back).
#       A deleted name `^o<member>` (`^t<member>`, `^i<member>`) is a condition on every
#       change: they are made only if that member is an operator (its standing field
#       `s:<member>` has `o`; for `^t`, or it is a member and field `mode:t` is "0": it may set
#       the topic; for `^i`, or a member and `mode:i` is not "1": it may invite) just before
#       this event (`^r`: if the room has its `room` field); if not, the event is sequenced
#       all the same (every node refuses it alike: a failed `^o`, `^t` or `^i` marks it with
#       `"np":1`, which every node decides from) but changes no field (a failed `^r` marks
#       it with `"nr":1` added to its payload: the room was not there, which no node's copy
#       can tell after Redis lost its data, hubbub.core.cluster_apply). `^l<fold>` (a JOIN's):
#       only if the room has fewer member fields than its `mode:l` (if set), not counting
#       `m:<fold>`, or if `m:<fold>` is the joiner's own (a JOIN sent twice, as `*m:<fold>`
#       tells); if not, it changes no field and is marked with `"fl":1` (the room was
#       full: every node refuses it from that mark). `^v<seq>`: the
#       sender's view of the room was at that seq; if a RENAME took the room away from this
#       name after it (the seq hash's `renamed`), the event was meant for that room: it changes
#       no field (its `!` claims are released all the same) and is sequenced with `"rn":1`
#       added to its payload, so every node ignores it here (its sender sends it on to the
#       room's new name). `^s<seq>`: changes only if no event after <seq> changed the room's
#       state fields (the seq hash's `changed`); if one did, the event is sequenced with
#       `"un":1` added to its payload (a node's `sync`, made from a copy of the room with every
#       change applied: hubbub.core.cluster_resync). `^w<seq>`: a sync after Redis lost its
#       data, from a copy that had read the room up to <seq> then: its room fields (`room`,
#       `topic`, `mode:*`, `list:*`, `meta:*`, the invitations `i:*`) replace the room's
#       (those it lacks deleted) and the seq hash's `w:*` becomes <seq>, unless `w:*` is
#       above <seq> (a copy that had read further wrote the room back first): then they are
#       not written (its member fields are, either way). `^W`: a sync not ranked (a room whose
#       end Redis lost): its room fields replace the room's, always. `#<room>`, set or
#       deleted, marks another room registered with ChanServ or unmarks it (its state hash's
#       field `registered`, hubbub.core.cluster_fields `REGISTERED_FIELD`): what a `chanreg`
#       and a `chandrop` write, sequenced in `~accounts`, so that the mark changes in the order
#       every node learns the registration. A room with its `room` field and that mark is never
#       empty for a `+` name: a registered room's state stays when its last member leaves, and
#       a JOIN from a node that did not know it registered yet joins it as it is (its `+`
#       names change nothing; no `"new"`). Deletions are made before sets.
# Returns {seq, time_ms}. The published message is "<seq> <time_ms> <node> <payload>".
SEQUENCE = (
    _CHECK_EPOCH
    + _HAS_MEMBER
    + """
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- (One read for all: the room's time, where the last rename took a room away, and the last
-- event that changed the room's state fields.)
local stamps = redis.call('HMGET', KEYS[2], 'time', 'renamed', 'changed')
local last = tonumber(stamps[1] or '0')
local renamed = tonumber(stamps[2] or '0')
local changed_at = tonumber(stamps[3] or '0')
-- Redis's clock may step back (NTP, failover): a room's time never does.
if now < last then now = last end
-- The first event after a RENAME took a room away from this name: strictly after the rename,
-- so that the stored records of the room renamed away are told from those of a room made
-- anew under the name by time (`rename_target` moves those up to the rename's).
if renamed > 0 and seq == renamed + 1 and now <= last then now = last + 1 end
local seq_text = string.format('%d', seq)
local now_text = string.format('%d', now)
redis.call('HSET', KEYS[2], 'time', now_text)
local count = tonumber(ARGV[7])
local index
local deleted_from = 8 + 2 * count
-- Set names that depend on another field as it is before this event's writes:
-- `&<other>&<field>` is set only if <other> exists (a member field: the same user's, its
-- `id`); `=<other>=<field>` gets <other>'s value;
-- `~<node>~<field>` is set only if <field> does not exist and <node> has not written the room
-- back (`@<node>` below); a JOIN's `*m:<nick>` and `*s:<nick>` unless the member field of
-- that nick is the joiner's already (its `id`: a user that is there stays as it is; another
-- user's, left by a nick taken after Redis lost its data, is replaced).
-- (The network id a member field's facts name, '' if none.)
local function network_id(member)
  local ok, facts = pcall(cjson.decode, member)
  return ok and type(facts) == 'table' and facts['id'] or ''
end
local before = {}
local replaces = {}
index = 8
for _ = 1, count do
  local name = ARGV[index]
  local first = string.sub(name, 1, 1)
  if first == '*' and string.sub(name, 2, 3) == 'm:' then
    local fold = string.sub(name, 4)
    local member = redis.call('HGET', KEYS[3], 'm:' .. fold)
    local write = not member
    if member then
      local holder, identity = network_id(member), network_id(ARGV[index + 1])
      write = holder ~= '' and identity ~= '' and holder ~= identity
    end
    replaces[fold] = write
  elseif first == '&' or first == '=' or first == '~' then
    local split = string.find(name, first, 2, true)
    local other = string.sub(name, 2, split - 1)
    local hash, field = KEYS[3], other
    if first == '~' then hash, field = KEYS[2], 'w:' .. other end
    local present = redis.call('HGET', hash, field)
    if present and first == '&' and string.sub(other, 1, 2) == 'm:' then
      -- A member field set only if <other> is that same user's (its `id`): another user may
      -- have taken the nick since (an AWAY sent on after a RENAME, its user KILLed).
      local holder, identity = network_id(present), network_id(ARGV[index + 1])
      if holder ~= '' and identity ~= '' and holder ~= identity then present = false end
    elseif present and first == '=' and string.sub(other, 1, 2) == 's:' then
      -- A standing moved by a NICK (its value a network id): only that user's, as its member
      -- field (another user may hold the nick, a NICK of a lagging node's, sent on).
      local identity = ARGV[index + 1]
      local member = redis.call('HGET', KEYS[3], 'm:' .. string.sub(other, 3))
      local holder = member and network_id(member) or ''
      if identity ~= '' and (not member or (holder ~= '' and holder ~= identity)) then
        present = false
      end
    end
    before[index] = {present, string.sub(name, split + 1), first}
  end
  index = index + 2
end
-- Whether the room is empty: looked at once, before any write, and only if a name asks.
local empty = false
index = 8
while index <= #ARGV do
  if string.sub(ARGV[index], 1, 1) == '+' then
    empty = true
    for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
      if string.sub(field, 1, 2) == 'm:' then
        empty = false
        break
      end
    end
    -- A registered room's state that the bus keeps (its `room` field, and its mark) is the
    -- room's, emptied or not: no JOIN makes it anew.
    if empty and redis.call('HEXISTS', KEYS[3], 'room') == 1 then
      empty = redis.call('HEXISTS', KEYS[3], 'registered') == 0
    end
    break
  end
  index = index + (index < deleted_from and 2 or 1)
end
-- The sender's privilege at this place in the room's sequence (`^` names): without it, no
-- change at all (every node refuses the event alike, from its copy of the room).
local allowed = true
local payload = ARGV[4]
local stale = false
local unchanged = false
local roomless = false
local full = false
local denied = false
local conditions = 0
-- A sync's copy's place before Redis lost its data (`^w`): nil if not one; `outdone` if a
-- copy that had read further wrote the room back already.
local read_up_to = nil
local outdone = false
local replaces_room = false
index = deleted_from
while index <= #ARGV do
  local name = ARGV[index]
  if string.sub(name, 1, 1) == '^' then conditions = conditions + 1 end
  if name == '^r' then
    if redis.call('HEXISTS', KEYS[3], 'room') == 0 then
      roomless = true
      allowed = false
    end
  elseif string.sub(name, 1, 2) == '^l' then
    -- A JOIN, if the room has room for one more (`mode:l`): its members but `m:<joiner>`;
    -- always if that is the joiner's own (`replaces`: a JOIN sent twice adds nobody).
    local limit = tonumber(redis.call('HGET', KEYS[3], 'mode:l') or '0') or 0
    if limit > 0 and replaces[string.sub(name, 3)] ~= false then
      local joiner = 'm:' .. string.sub(name, 3)
      local members = 0
      for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
        if string.sub(field, 1, 2) == 'm:' and field ~= joiner then members = members + 1 end
      end
      if members >= limit then
        full = true
        allowed = false
      end
    end
  elseif string.sub(name, 1, 2) == '^s' then
    if changed_at > tonumber(string.sub(name, 3)) then
      unchanged = true
      allowed = false
    end
  elseif string.sub(name, 1, 2) == '^v' then
    if renamed > tonumber(string.sub(name, 3)) then
      stale = true
      allowed = false
    end
  elseif name == '^W' then
    replaces_room = true
  elseif string.sub(name, 1, 2) == '^w' then
    read_up_to = tonumber(string.sub(name, 3))
    outdone = read_up_to < tonumber(redis.call('HGET', KEYS[2], 'w:*') or '-1')
  elseif string.sub(name, 1, 1) == '^' then
    local kind = string.sub(name, 2, 2)
    local standing = redis.call('HGET', KEYS[3], 's:' .. string.sub(name, 3))
    local ok = standing and string.find(standing, 'o', 1, true)
    if standing and not ok then  -- a member, not an operator
      if kind == 't' then
        ok = redis.call('HGET', KEYS[3], 'mode:t') == '0'
      elseif kind == 'i' then
        ok = redis.call('HGET', KEYS[3], 'mode:i') ~= '1'
      end
    end
    if not ok then
      denied = true
      allowed = false
    end
  end
  index = index + 1
end
if stale then
  payload = string.sub(payload, 1, -2) .. ',"rn":1}'
elseif unchanged then
  payload = string.sub(payload, 1, -2) .. ',"un":1}'
elseif roomless then
  payload = string.sub(payload, 1, -2) .. ',"nr":1}'
elseif full then
  payload = string.sub(payload, 1, -2) .. ',"fl":1}'
elseif denied then
  payload = string.sub(payload, 1, -2) .. ',"np":1}'
elseif allowed and empty then
  -- Its `+` names apply: it creates the room, as every node then decides from this mark.
  payload = string.sub(payload, 1, -2) .. ',"new":1}'
end
local function room_field(field)
  if field == 'room' or field == 'topic' or string.sub(field, 1, 2) == 'i:' then return true end
  local head = string.sub(field, 1, 5)
  return head == 'mode:' or head == 'list:' or head == 'meta:'
end
-- The furthest copy so far (or one not ranked): its room fields replace the room's.
if allowed and (replaces_room or (read_up_to and not outdone)) then
  if read_up_to then redis.call('HSET', KEYS[2], 'w:*', string.format('%d', read_up_to)) end
  for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
    if room_field(field) then redis.call('HDEL', KEYS[3], field) end
  end
end
-- The deletions first, then the sets: a name both deleted (by a prefix) and set ends up set
-- (a registered room created anew: its earlier modes go, its saved ones stay). An event meant
-- for a room renamed away releases its claims all the same (its NICK's old nick, its QUIT's
-- nick): they are no room's.
index = deleted_from
while index <= #ARGV do
  local name = ARGV[index]
  if not allowed and not (stale and string.sub(name, 1, 1) == '!') then
    name = ''
  end
  if string.sub(name, 1, 1) == '+' then
    -- Creation only: deleted if the room is empty, else nothing (no field is named '').
    name = empty and string.sub(name, 2) or ''
  end
  if name == '' or string.sub(name, 1, 1) == '^' then
    -- nothing
  elseif string.sub(name, 1, 1) == '!' then
    -- A claim of this node released with the event (a quitting user's nick, with its last
    -- QUIT): nobody can take it before every QUIT of the user is sequenced.
    local key = string.sub(name, 2)
    local claim = '"""
    + CLAIM_PREFIX
    + """' .. key
    local claims = '"""
    + node_claims_key("")
    + """' .. ARGV[3]
"""
    + _release_claim("claim", "claims", "ARGV[3]", "key")
    + """  elseif string.sub(name, 1, 1) == '%' then
    -- A member leaving (`%<fold>%<network id>`): both its fields, if the member field under
    -- that nick is that user's (another may have taken the nick since: it stays).
    local split = string.find(name, '%', 2, true)
    local fold = string.sub(name, 2, split - 1)
    local member = redis.call('HGET', KEYS[3], 'm:' .. fold)
    if member then
      local holder = network_id(member)
      if holder == '' or holder == string.sub(name, split + 1) then
        redis.call('HDEL', KEYS[3], 'm:' .. fold, 's:' .. fold)
      end
    end
  elseif string.sub(name, 1, 1) == '#' then
    -- Another room no longer registered (`#<room>`, a `chandrop`'s): its mark goes.
    redis.call('HDEL', '"""
    + state_key("")
    + """' .. string.sub(name, 2), 'registered')
  elseif string.sub(name, 1, 1) == '@' then
    -- Every member of one node (`@<node>`): both fields of each whose member field names it;
    -- and that node has written the room back (kept with the sequence, not as state).
    local node = string.sub(name, 2)
    redis.call('HSET', KEYS[2], 'w:' .. node, '1')
    local present = redis.call('HGETALL', KEYS[3])
    for field_index = 1, #present, 2 do
      local field = present[field_index]
      if string.sub(field, 1, 2) == 'm:' then
        local ok, facts = pcall(cjson.decode, present[field_index + 1])
        if ok and type(facts) == 'table' and facts['node'] == node then
          redis.call('HDEL', KEYS[3], field, 's:' .. string.sub(field, 3))
        end
      end
    end
  elseif string.sub(name, -1) == '*' then
    -- Every field whose name starts with the rest (a new room's old metadata keys).
    local prefix = string.sub(name, 1, -2)
    for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
      if string.sub(field, 1, #prefix) == prefix then
        redis.call('HDEL', KEYS[3], field)
      end
    end
  else
    redis.call('HDEL', KEYS[3], name)
  end
  index = index + 1
end
index = 8
for _ = 1, allowed and count or 0 do
  local name = ARGV[index]
  local first = string.sub(name, 1, 1)
  local after = before[index]
  if after then
    if after[3] == '~' then
      if not after[1] then redis.call('HSETNX', KEYS[3], after[2], ARGV[index + 1]) end
    elseif after[1] then
      redis.call('HSET', KEYS[3], after[2], after[3] == '=' and after[1] or ARGV[index + 1])
    end
  elseif first == '?' then
    redis.call('HSETNX', KEYS[3], string.sub(name, 2), ARGV[index + 1])
  elseif first == '#' then
    -- Another room registered (`#<room>`, a `chanreg`'s): marked so.
    local marked = '"""
    + state_key("")
    + """' .. string.sub(name, 2)
    redis.call('HSET', marked, 'registered', ARGV[index + 1])
  elseif first == '*' then
    if replaces[string.sub(name, 4)] then
      redis.call('HSET', KEYS[3], string.sub(name, 2), ARGV[index + 1])
    end
  elseif first == '>' then
    -- A MODE's changes of a member's standing (`><nick>`: `+o`, `-v+o`...), applied to the
    -- standing as it is here, if the member is.
    local fold = string.sub(name, 2)
    if redis.call('HEXISTS', KEYS[3], 'm:' .. fold) == 1 then
      local standing = redis.call('HGET', KEYS[3], 's:' .. fold) or ''
      local op = string.find(standing, 'o', 1, true) ~= nil
      local voice = string.find(standing, 'v', 1, true) ~= nil
      local changes = ARGV[index + 1]
      for at = 1, #changes - 1, 2 do
        local adding = string.sub(changes, at, at) == '+'
        local letter = string.sub(changes, at + 1, at + 1)
        if letter == 'o' then op = adding elseif letter == 'v' then voice = adding end
      end
      redis.call('HSET', KEYS[3], 's:' .. fold, (op and 'o' or '') .. (voice and 'v' or ''))
    end
  elseif outdone and room_field(name) then
    -- (A copy that had read less than one written back already: not its room's state.)
  elseif first ~= '+' then
    redis.call('HSET', KEYS[3], name, ARGV[index + 1])
  elseif empty then
    redis.call('HSET', KEYS[3], string.sub(name, 2), ARGV[index + 1])
  end
  index = index + 2
end
-- (Conditions change nothing: an event with no other name, a message, costs no more.)
local changed = allowed and (count > 0 or #ARGV - deleted_from + 1 > conditions)
if changed then
  redis.call('HSET', KEYS[2], 'changed', seq_text)
  if redis.call('EXISTS', KEYS[3]) == 1 then
    redis.call('SADD', KEYS[5], ARGV[2])
  else
    redis.call('SREM', KEYS[5], ARGV[2])
  end
  if string.sub(ARGV[2], 1, 1) == '#' then
    if has_member(KEYS[3]) then
      redis.call('SADD', KEYS[6], ARGV[2])
    else
      redis.call('SREM', KEYS[6], ARGV[2])
    end
  end
end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], seq_text .. '-0',
  't', now_text, 'n', ARGV[3], 'p', payload)
redis.call('PUBLISH', ARGV[6], seq_text .. ' ' .. now_text .. ' ' .. ARGV[3] .. ' ' .. payload)
return {seq, now}
"""
)

# KEYS: epoch, seq hash, stream, state hash. ARGV: epoch, seq, time_ms and node ("": not
# known) of the last event this node has delivered (or of its own last event, if later), the
# lost ranges to keep and the events to scan back at most (`cluster.lost_ranges` and
# `cluster.reused_scan`; LOST_RANGES and REUSED_SCAN if not given).
# A Redis that restarted from a persistence file missing its last writes has a room's seq
# below what nodes delivered: raise it back (and its time), so no seq is handed out twice.
# The seqs it lost are noted in the seq hash's `lost` ("from:to" ranges, from < seq <= to,
# the last lost ranges to keep): a node back after another one raised the seq finds it above its
# own, yet read (or sent) some of those too. Every range is kept, not only the last: a node
# back first may sequence (its sync) between two others' raises, and a node back after them
# that had read the first range's seqs would not have been told (a cluster fuzz finding). A
# node back after another one sequenced in the room (its seq reused) finds another event at
# its seq in the stream. 0: nothing to do; else the room's end was lost for this node, and
# the answer is {kind, after, name, value, ...} (kind 'lost <from>': the range of seqs raised
# over that this node had read or sent in begins after <from>, and a node told of that range
# (with that `after`) before ignores it; else 'reused'): the seq after which the room's
# events are new to this node (the end of the range it read in, unless events at and before
# the range's start are later than the one it read, reused before the range was raised
# over: then the last before them; or, its seq reused, the last before it whose event is not
# later than the one it read there; either way passing over the seqs of any range raised over,
# which have no event; at most the events to scan back either way: those sequenced
# since Redis was back are later, as the room's time never goes back, and it was back after
# this node read that one), then the seq hash's `w:` fields (the nodes that have written the
# room back, how far the copy whose room fields it has had read: as STATE reads them out),
# which the lost events may have changed, then `h:<node>` for each node a member field of the
# room's state hash names as home (hubbub.core.cluster_fields `homes_named`).
LOST_RANGES = 32
REUSED_SCAN = 256
SEED = (
    _CHECK_EPOCH
    + _ADD_WRITTEN_BACK
    + """
local keep = math.max(1, tonumber(ARGV[5]) or """
    + str(LOST_RANGES)
    + """)
local scan = math.max(1, tonumber(ARGV[6]) or """
    + str(REUSED_SCAN)
    + """)
local function ranges()
  local found = {}
  local text = redis.call('HGET', KEYS[2], 'lost') or ''
  for from, to in string.gmatch(text, '(%d+):(%d+)') do
    table.insert(found, {tonumber(from), tonumber(to)})
  end
  return found
end
-- (The lost range `seen` is in, or nil.)
local function within(seen)
  for _, range in ipairs(ranges()) do
    if range[1] < seen and seen <= range[2] then return range end
  end
  return nil
end
-- (Each node a member field names as home, once: one that never read a lost KICK or PART of
-- its user is not told of the loss and still lists her, as the bus does; the nodes that were
-- told ask it to speak.)
local function add_homes(answer)
  local named = {}
  local state = redis.call('HGETALL', KEYS[4])
  for index = 1, #state, 2 do
    if string.sub(state[index], 1, 2) == 'm:' then
      local ok, facts = pcall(cjson.decode, state[index + 1])
      local home = ok and type(facts) == 'table' and facts['node']
      if type(home) == 'string' and home ~= '' and not named[home] then
        named[home] = true
        table.insert(answer, 'h:' .. home)
        table.insert(answer, '1')
      end
    end
  end
  return answer
end
local function lost(after, kind)
  -- (The seq after which the room's events are new to this node: not those it read or sent,
  -- but what was sequenced since. The seqs raised over have no event.)
  return add_homes(add_written_back({kind, after}, KEYS[2]))
end
-- (Its seq `seen` reused: back from it, while the events are later than the one it read,
-- and over the seqs of a range raised over, which have none: the node may have read what
-- another one's raise found lost there before it sent its last (a cluster fuzz finding,
-- seed 6032049).)
local function reused(seen, time)
  local after = seen - 1
  if time <= 0 then return after end  -- (its time not known: nothing to compare with)
  local entries = redis.call('XREVRANGE', KEYS[3], '(' .. seen .. '-0', '-', 'COUNT', scan)
  for _, entry in ipairs(entries) do
    local at = tonumber(string.match(entry[1], '^%d+'))
    while at < after do
      local range = within(after)
      if not range then break end
      after = range[1]
    end
    if at ~= after then break end
    local later = false
    local fields = entry[2]
    for index = 1, #fields, 2 do
      if fields[index] == 't' and tonumber(fields[index + 1]) > time then later = true end
    end
    if not later then break end
    after = after - 1
  end
  return after
end
-- (A range of lost seqs up to `to` from `from` on: what this node read there is gone, and
-- the events at and before `from` later than the one it read are new to it too, sequenced
-- at seqs Redis lost before the range was raised over: a node back first, which had not
-- read them, reused them. Missed, they were never delivered to this node: a cluster fuzz
-- finding.)
local function after_range(from, to)
  local after = reused(from + 1, tonumber(ARGV[3]))
  if after < from then return after end
  return to
end
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
local seen = tonumber(ARGV[2])
if seq >= seen then
  local range = within(seen)
  if range then return lost(after_range(range[1], range[2]), 'lost ' .. range[1]) end
  if ARGV[4] ~= '' or ARGV[3] ~= '0' then
    -- (Trimmed from the stream: nothing to compare with, and long before any loss. The node
    -- or the time may not be known: a subscriber's place is the snapshot's seq and time.)
    local entry = redis.call('XRANGE', KEYS[3], ARGV[2] .. '-0', ARGV[2] .. '-0')
    if #entry == 1 then
      local fields = entry[1][2]
      for index = 1, #fields, 2 do
        local name, value = fields[index], fields[index + 1]
        if (name == 'n' and ARGV[4] ~= '' and value ~= ARGV[4])
          or (name == 't' and ARGV[3] ~= '0' and value ~= ARGV[3]) then
          return lost(reused(seen, tonumber(ARGV[3])), 'reused')
        end
      end
    end
  end
  return 0
end
-- (Raised over by another node's SEED just before, with nothing sequenced since: the same
-- loss, which goes on further.)
local found = ranges()
local last = found[#found]
if last and last[2] == seq then
  last[2] = seen
else
  table.insert(found, {seq, seen})
end
while #found > keep do table.remove(found, 1) end
local parts = {}
for _, range in ipairs(found) do table.insert(parts, range[1] .. ':' .. range[2]) end
-- (What it lost may have changed the room's state: a sync from before it changes nothing.)
redis.call('HSET', KEYS[2], 'seq', ARGV[2], 'changed', ARGV[2], 'lost', table.concat(parts, ' '))
local time = tonumber(redis.call('HGET', KEYS[2], 'time') or '0')
if time < tonumber(ARGV[3]) then redis.call('HSET', KEYS[2], 'time', ARGV[3]) end
return lost(after_range(found[#found][1], seen), 'lost ' .. found[#found][1])
"""
)

# KEYS: epoch, old seq hash, old state hash, old stream, rooms set, new seq hash, new state
#       hash, new stream, channels set.
# ARGV: epoch, old room, new room, node, stream length, old channel, new channel, payload head,
#       payload tail, marker head, marker tail, number of fields set (n), n (name, value) pairs.
# A room's state moves to another name (RENAME), unless that name's room has members or is
# registered (its mark `registered`, set by the `chanreg` a node that did not know of it yet
# had not applied: {0}),
# the old room is not there any more ({2}: no `room` field, renamed away meanwhile) or a pair
# named `^o<member>` names a member who is not an operator of the old room now ({3}: deopped
# in that instant): then nothing changed. Otherwise, at one time (never behind the old room's
# last, and after the new name's last):
# the old room's state fields move to the new room's (the pairs given overwrite theirs, the
# new room's earlier fields go), the new room gets its next event, the marker (marker head,
# the moved fields as a JSON object, marker tail), and the old room gets its next event, the
# payload (payload head, the marker's seq, `,"w":` and the moved `w:` notes as a JSON object,
# payload tail), so that whoever applies it knows where the new room's events continue. The
# marker's fields include the old seq hash's `w:<node>` notes, which move with the room (the
# old name keeps none). Returns {1, old seq, time_ms, new seq}.
RENAME = (
    _CHECK_EPOCH
    + _HAS_MEMBER
    + """
if redis.call('HEXISTS', KEYS[3], 'room') == 0 then return {2} end
local present = redis.call('HGETALL', KEYS[7])
for index = 1, #present, 2 do
  if string.sub(present[index], 1, 2) == 'm:' or present[index] == 'registered' then
    return {0}
  end
end
local count = tonumber(ARGV[12])
-- `^o<member>` among the pairs: only if that member is an operator of the old room now.
for index = 13, 12 + 2 * count, 2 do
  if string.sub(ARGV[index], 1, 2) == '^o' then
    local standing = redis.call('HGET', KEYS[3], 's:' .. string.sub(ARGV[index], 3))
    if not (standing and string.find(standing, 'o', 1, true)) then return {3} end
  end
end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local old_last = tonumber(redis.call('HGET', KEYS[2], 'time') or '0')
local new_last = tonumber(redis.call('HGET', KEYS[6], 'time') or '0')
if now < old_last then now = old_last end
-- Strictly after the new name's last event: the operator's node sets that earlier room's
-- stored records aside by time (`rename_target`, those before the rename's), and one of the
-- same millisecond stayed with the renamed room (moved with it if Redis loses the RENAME).
if now <= new_last then now = new_last + 1 end
local now_text = string.format('%d', now)
local moved = redis.call('HGETALL', KEYS[3])
local state = {}
for index = 1, #moved, 2 do state[moved[index]] = moved[index + 1] end
local index = 13
for _ = 1, count do
  if string.sub(ARGV[index], 1, 1) ~= '^' then state[ARGV[index]] = ARGV[index + 1] end
  index = index + 2
end
redis.call('DEL', KEYS[7])
for name, value in pairs(state) do redis.call('HSET', KEYS[7], name, value) end
redis.call('DEL', KEYS[3])
redis.call('SREM', KEYS[5], ARGV[2])
redis.call('SADD', KEYS[5], ARGV[3])
redis.call('SREM', KEYS[9], ARGV[2])
if has_member(KEYS[7]) then redis.call('SADD', KEYS[9], ARGV[3]) end
-- The nodes that have written the old room back go with it (`@<node>` in SEQUENCE), in place
-- of those of an earlier room of the new name.
local earlier = redis.call('HKEYS', KEYS[6])
for _, field in ipairs(earlier) do
  if string.sub(field, 1, 2) == 'w:' then redis.call('HDEL', KEYS[6], field) end
end
-- (Moved, not copied: a room made anew under the old name has been written back by nobody,
-- as its nodes' copies say.)
local sequence = redis.call('HGETALL', KEYS[2])
for index = 1, #sequence, 2 do
  if string.sub(sequence[index], 1, 2) == 'w:' then
    redis.call('HSET', KEYS[6], sequence[index], sequence[index + 1])
    redis.call('HDEL', KEYS[2], sequence[index])
  end
end
local new_seq = redis.call('HINCRBY', KEYS[6], 'seq', 1)
local new_text = string.format('%d', new_seq)
redis.call('HSET', KEYS[6], 'time', now_text, 'changed', new_text)
-- (The marker carries them too, as the state read out does: `STATE`; and so does the old
-- room's event, below.)
local notes = {}
for index = 1, #sequence, 2 do
  if string.sub(sequence[index], 1, 2) == 'w:' then notes[sequence[index]] = sequence[index + 1] end
end
local carried = {}
for name, value in pairs(state) do carried[name] = value end
for name, value in pairs(notes) do carried[name] = value end
local marker = ARGV[10] .. cjson.encode(carried) .. ARGV[11]
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[5], new_text .. '-0',
  't', now_text, 'n', ARGV[4], 'p', marker)
redis.call('PUBLISH', ARGV[7], new_text .. ' ' .. now_text .. ' ' .. ARGV[4] .. ' ' .. marker)
local old_seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
local old_text = string.format('%d', old_seq)
-- Events sent later to the old name from a view of the room before this (`^v`) were meant
-- for it: SEQUENCE marks them.
redis.call('HSET', KEYS[2], 'time', now_text, 'renamed', old_text, 'changed', old_text)
-- The rename names the notes too: a node applying it takes them for the new name, as the
-- bus has them, whatever its own record of the old room (lost with Redis's end of it).
local payload = ARGV[8] .. new_text .. ',"w":' .. cjson.encode(notes) .. ARGV[9]
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], old_text .. '-0',
  't', now_text, 'n', ARGV[4], 'p', payload)
redis.call('PUBLISH', ARGV[6], old_text .. ' ' .. now_text .. ' ' .. ARGV[4] .. ' ' .. payload)
return {1, old_seq, now, new_seq}
"""
)

# KEYS: seq hash, state hash. Returns {seq, {field, value, ...}, time}: one consistent
# snapshot, with the seq hash's `w:<node>` fields (the nodes that have written the room back)
# among them, and the time of the last event (a subscriber's place: SEED compares it).
STATE = (
    _ADD_WRITTEN_BACK
    + """
local fields = add_written_back(redis.call('HGETALL', KEYS[2]), KEYS[1])
local place = redis.call('HMGET', KEYS[1], 'seq', 'time')
return {place[1] or '0', fields, place[2] or '0'}
"""
)

# KEYS: epoch, lease, nodes set, janitor of this node, beats. ARGV: epoch, node, token,
# lease_ms, "1" if this process registered before (it is coming back), its beat (BEATS_KEY).
# 'registered'; 'taken' when a live process holds this node id; 'stale' when a dead
# incarnation of this id was never buried (the caller buries it first), or this returning
# process is being buried; 'returned' when this returning process was taken for dead and
# nobody is burying it (a new epoch's janitor adopts nodes it did not see come back): it
# registers, and its users leave as a node declared dead's do.
REGISTER = (
    _CHECK_EPOCH
    + """
local holder = redis.call('GET', KEYS[2])
if holder then
  if holder == ARGV[3] then
    redis.call('PEXPIRE', KEYS[2], ARGV[4])
    redis.call('HSET', KEYS[5], ARGV[2], ARGV[6])
    return 'registered'
  end
  return 'taken'
end
local answer = 'registered'
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then
  if ARGV[5] ~= '1' or redis.call('EXISTS', KEYS[4]) == 1 then return 'stale' end
  answer = 'returned'
end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[5], ARGV[2], ARGV[6])
return answer
"""
)

# KEYS: epoch, lease, nodes set, janitor of this node, beats. ARGV: epoch, node, token,
# lease_ms, its beat (BEATS_KEY). 'ok' renewed; 'revived' the lease had lapsed but nobody
# buried the node, so nothing of it was lost and it simply goes on; 'lost' it was buried (or
# is being buried): re-register.
RENEW = (
    _CHECK_EPOCH
    + """
local holder = redis.call('GET', KEYS[2])
if holder == ARGV[3] then
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  redis.call('HSET', KEYS[5], ARGV[2], ARGV[5])
  return 'ok'
end
if holder then return 'lost' end
if redis.call('EXISTS', KEYS[4]) == 1 then return 'lost' end
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 0 then return 'lost' end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('HSET', KEYS[5], ARGV[2], ARGV[5])
return 'revived'
"""
)

# KEYS: epoch, lease, claim, node's claims hash, the last claim number. ARGV: epoch, node,
# token, key, value. The claim's number when this node holds it (claimed now, or already
# this node's: the value is updated, the number kept), 0 when another node holds it.
# Numbers grow with every claim taken, across a Redis restart that lost the last one too:
# the server's clock in microseconds, above the last number given (MONITOR tells an earlier
# holder's late `online` from a later one's by them: hubbub.core.cluster_monitor).
CLAIM = (
    _CHECK_EPOCH
    + _CHECK_LEASE
    + """
local owner = redis.call('HGET', KEYS[3], 'o')
if owner and owner ~= ARGV[2] then return 0 end
local number = owner and tonumber(redis.call('HGET', KEYS[3], 'n') or '0') or 0
if number == 0 then
  local now = redis.call('TIME')
  number = tonumber(now[1]) * 1000000 + tonumber(now[2])
  local last = tonumber(redis.call('GET', KEYS[5]) or '0')
  if number <= last then number = last + 1 end
  redis.call('SET', KEYS[5], string.format('%d', number))
end
redis.call('HSET', KEYS[3], 'o', ARGV[2], 'v', ARGV[5], 'n', string.format('%d', number))
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
return number
"""
)

# KEYS: claim, node's claims hash. ARGV: node, key. Only the owner's claim goes.
RELEASE = _release_claim("KEYS[1]", "KEYS[2]", "ARGV[1]", "ARGV[2]") + "return 1\n"

# KEYS: epoch, lease, directory entry, node's directory set, the claim the entry stands on.
# ARGV: epoch, node, token, key, value. 1 written; 0 another node holds the claim (its entry
# is the one to keep: this node's user lost the nick and is about to be disconnected).
PUT = (
    _CHECK_EPOCH
    + _CHECK_LEASE
    + """
local holder = redis.call('HGET', KEYS[5], 'o')
if holder and holder ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[3], 'o', ARGV[2], 'v', ARGV[5])
redis.call('SADD', KEYS[4], ARGV[4])
return 1
"""
)

# KEYS: directory entry, node's directory set. ARGV: node, key.
DROP = """
if redis.call('HGET', KEYS[1], 'o') == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS: dead node's lease, nodes set, its janitor key, its claims hash.
# ARGV: dead node, this node, janitor hold (ms).
# The claims (flat key, value list) when this node is the one to bury the dead node; nil when
# the node is alive, already buried, or another node's janitor got there first.
TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return false end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return false end
return redis.call('HGETALL', KEYS[4])
"""

# Deletes the directory entries in the set KEYS[3] that node ARGV[1] still owns.
_UNLIST_ENTRIES = (
    """
local entries = redis.call('SMEMBERS', KEYS[3])
for _, key in ipairs(entries) do
  local entry = '"""
    + DIRECTORY_PREFIX
    + """' .. key
  if redis.call('HGET', entry, 'o') == ARGV[1] then redis.call('DEL', entry) end
end
"""
)

# Deletes a node's claims and directory entries (only those it still owns), then its records.
# KEYS: nodes set, claims hash, directory set; ARGV[1]: the node.
_FORGET = (
    """
local claims = redis.call('HKEYS', KEYS[2])
for _, key in ipairs(claims) do
  local claim = '"""
    + CLAIM_PREFIX
    + """' .. key
  if redis.call('HGET', claim, 'o') == ARGV[1] then redis.call('DEL', claim) end
end
"""
    + _UNLIST_ENTRIES
    + """
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SREM', KEYS[1], ARGV[1])
"""
)

# KEYS: nodes set, dead node's claims hash, its directory set, its janitor key.
# ARGV: dead node, this node. 1 buried; 0 this node's janitor hold had lapsed (another took
# over, or will).
BURY = (
    """
if redis.call('GET', KEYS[4]) ~= ARGV[2] then return 0 end
"""
    + _FORGET
    + """
redis.call('DEL', KEYS[4])
return 1
"""
)

# KEYS: (unused), (unused), dead node's directory set, its janitor key. ARGV: dead node, this
# node. The first step of a burial: the dead node's directory entries go (its claims stay until
# BURY), so that its users' `offline` events, sent after their QUITs, are not contradicted by
# an entry a MONITOR or WHOIS still finds. 0 if this node's janitor hold had lapsed.
UNLIST = (
    """
if redis.call('GET', KEYS[4]) ~= ARGV[2] then return 0 end
"""
    + _UNLIST_ENTRIES
    + """
redis.call('DEL', KEYS[3])
return 1
"""
)

# KEYS: nodes set, claims hash, directory set, lease. ARGV: node, token.
# A clean leave: the node's claims, directory and lease go (no on_node_lost anywhere).
LEAVE = (
    """
local holder = redis.call('GET', KEYS[4])
if holder and holder ~= ARGV[2] then return 0 end
"""
    + _FORGET
    + """
redis.call('DEL', KEYS[4])
return 1
"""
)
