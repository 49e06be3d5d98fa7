// What the page knows: buffers (rooms, private conversations and the server's own messages),
// their messages in time order without duplicates, members, topics and unread counts.

export const MAX_MESSAGES = 3000; // per buffer; the oldest are dropped beyond this

let localCounter = 0;

// A message entry: { key, msgid, time (ms), nick, kind, text, self, highlight, edited, bot }.
// kind: "privmsg" | "notice" | "action" | "event" | "info" | "error".
export function makeEntry(fields) {
  localCounter += 1;
  const entry = {
    msgid: null,
    time: Date.now(),
    nick: "",
    kind: "info",
    text: "",
    self: false,
    highlight: false,
    edited: false, // changed with EDIT (draft/message-edit) since it was sent
    bot: false, // sent with the bot tag
    ...fields,
  };
  entry.key = entry.msgid ? "m:" + entry.msgid : "l:" + localCounter;
  return entry;
}

function compare(a, b) {
  return a.time - b.time;
}

export class Buffer {
  constructor(name, kind, key) {
    this.name = name;
    this.kind = kind; // "channel" | "query" | "server"
    this.key = key;
    this.messages = [];
    this.ids = new Set();
    this.members = new Map(); // folded nick → { nick, prefixes, away, bot }
    this.typers = new Map(); // folded nick → { nick, state, until } (+typing)
    this.marker = null; // the account's read marker here (draft/read-marker), ISO time
    this.topic = "";
    this.unread = 0;
    this.mention = false;
    this.joined = false;
    this.hasOlder = true; // CHATHISTORY BEFORE may still find something
    this.loadingOlder = false;
    this.historyLoaded = false;
  }

  get newestMsgid() {
    const newest = this.newestWithMsgid;
    return newest ? newest.msgid : null;
  }

  // The newest message that has a msgid (where a catch-up starts), or null.
  get newestWithMsgid() {
    for (let i = this.messages.length - 1; i >= 0; i -= 1) {
      if (this.messages[i].msgid) return this.messages[i];
    }
    return null;
  }

  get oldestMsgid() {
    for (const entry of this.messages) if (entry.msgid) return entry.msgid;
    return null;
  }

  // Add entries (live or from history); duplicates (same msgid) are skipped.
  // Returns { added, where } with where "append", "prepend", "insert" or "none".
  add(entries) {
    const fresh = [];
    for (const entry of entries) {
      if (entry.msgid) {
        if (this.ids.has(entry.msgid)) continue;
        this.ids.add(entry.msgid);
      }
      fresh.push(entry);
    }
    if (!fresh.length) return { added: [], where: "none" };
    fresh.sort(compare);
    const list = this.messages;
    let where;
    if (!list.length || fresh[0].time >= list[list.length - 1].time) {
      list.push(...fresh);
      where = "append";
    } else if (fresh[fresh.length - 1].time <= list[0].time) {
      list.unshift(...fresh);
      where = "prepend";
    } else {
      list.push(...fresh);
      list.sort(compare); // stable: equal times keep their arrival order
      where = "insert";
    }
    if (list.length > MAX_MESSAGES) {
      const dropped = where === "prepend" ? list.splice(MAX_MESSAGES) : list.splice(0, list.length - MAX_MESSAGES);
      for (const entry of dropped) if (entry.msgid) this.ids.delete(entry.msgid);
      if (where !== "prepend") this.hasOlder = true;
      where = "insert";
    }
    return { added: fresh, where };
  }

  setMember(nick, fold, prefixes = "", away = undefined) {
    const old = this.members.get(fold(nick));
    this.members.set(fold(nick), {
      nick,
      prefixes,
      away: away === undefined ? Boolean(old && old.away) : away,
      bot: Boolean(old && old.bot),
    });
  }

  removeMember(nick, fold) {
    return this.members.delete(fold(nick));
  }

  renameMember(oldNick, newNick, fold) {
    const member = this.members.get(fold(oldNick));
    if (!member) return false;
    this.members.delete(fold(oldNick));
    this.members.set(fold(newNick), { ...member, nick: newNick });
    return true;
  }

  // Members sorted: operators, then voiced, then everyone else; by name within each.
  sortedMembers(prefixOrder = "@+") {
    const rank = (member) => {
      const index = prefixOrder.indexOf(member.prefixes[0]);
      return index < 0 ? prefixOrder.length : index;
    };
    return [...this.members.values()].sort(
      (a, b) => rank(a) - rank(b) || a.nick.toLowerCase().localeCompare(b.nick.toLowerCase()),
    );
  }
}

export class Buffers {
  constructor() {
    this.map = new Map(); // key → Buffer, in the order shown
    this.fold = (name) => name.toLowerCase();
    this.serverBuffer = this.ensure("hubbub", "server");
  }

  keyOf(name) {
    return this.fold(name);
  }

  get(name) {
    return this.map.get(this.keyOf(name)) || null;
  }

  ensure(name, kind) {
    const key = kind === "server" ? "\0server" : this.keyOf(name);
    let buffer = this.map.get(key);
    if (!buffer) {
      buffer = new Buffer(name, kind, key);
      this.map.set(key, buffer);
    }
    return buffer;
  }

  remove(buffer) {
    this.map.delete(buffer.key);
  }

  // Buffers in display order: the server buffer, rooms by name, then conversations by name.
  ordered() {
    const all = [...this.map.values()];
    const byName = (a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase());
    return [
      ...all.filter((b) => b.kind === "server"),
      ...all.filter((b) => b.kind === "channel").sort(byName),
      ...all.filter((b) => b.kind === "query").sort(byName),
    ];
  }
}
