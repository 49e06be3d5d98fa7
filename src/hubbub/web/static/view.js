// Rendering. Every piece of text that came from the network (messages, nicks, topics, room
// names, error texts) reaches the page through textContent or a Text node, never as HTML.

const NICK_COLOURS = 16;
const FORMATTING = /[\x02\x0f\x11\x16\x1d\x1e\x1f]|\x03(\d{1,2}(,\d{1,2})?)?|\x04[0-9a-fA-F]{0,6}(,[0-9a-fA-F]{6})?/g;
const URL_PATTERN = /\bhttps?:\/\/[^\s<>"']+/gi;
const TRAILING_PUNCTUATION = /[.,;:!?'")\]}>]+$/;

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The same nick always gets the same colour class (nick-c0 … nick-c15).
export function nickColour(nick) {
  let hash = 5381;
  const folded = nick.toLowerCase();
  for (let i = 0; i < folded.length; i += 1) hash = ((hash * 33) ^ folded.charCodeAt(i)) >>> 0;
  return "nick-c" + (hash % NICK_COLOURS);
}

export function stripFormatting(text) {
  return text.replace(FORMATTING, "");
}

// Only absolute http(s) URLs become links; the rest stays text.
export function safeHref(candidate) {
  try {
    const url = new URL(candidate);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

// Fill `parent` with `text`, turning http(s) URLs into links (text nodes and <a> only).
export function appendRichText(parent, text) {
  const clean = stripFormatting(text);
  let last = 0;
  for (const match of clean.matchAll(URL_PATTERN)) {
    let url = match[0];
    const trailing = url.match(TRAILING_PUNCTUATION);
    if (trailing) url = url.slice(0, url.length - trailing[0].length);
    const href = safeHref(url);
    if (!href) continue;
    if (match.index > last) parent.append(document.createTextNode(clean.slice(last, match.index)));
    const link = el("a", "link", url);
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    parent.append(link);
    last = match.index + url.length;
  }
  if (last < clean.length) parent.append(document.createTextNode(clean.slice(last)));
}

// A person's picture: their metadata `avatar` when it is an http(s) URL (fetched without a
// referrer, at a fixed size), else — or when it fails to load — the first letter of the nick.
export function avatarNode(nick, profile, size) {
  const holder = el("span", "avatar " + nickColour(nick));
  holder.setAttribute("aria-hidden", "true");
  const letter = () => {
    const first = [...(profile["display-name"] || nick)][0] || "?";
    // Drawn by CSS from the attribute, so that the row's text stays the nick alone.
    holder.dataset.letter = first.toUpperCase();
    holder.replaceChildren();
    holder.classList.remove("has-image");
  };
  const href = profile.avatar ? safeHref(profile.avatar) : null;
  if (!href) {
    letter();
    return holder;
  }
  const image = document.createElement("img");
  image.width = size;
  image.height = size;
  image.alt = "";
  image.referrerPolicy = "no-referrer";
  image.decoding = "async";
  image.loading = "lazy";
  image.addEventListener("error", letter, { once: true });
  image.src = href;
  holder.classList.add("has-image");
  holder.append(image);
  return holder;
}

// The display name beside the nick, when there is one that says something else.
function displayNameNode(nick, profile) {
  const name = stripFormatting(profile["display-name"] || "").trim();
  if (!name || name === nick) return null;
  return el("span", "display-name", name);
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "medium" });
const dayFormat = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

function dayOf(time) {
  const date = new Date(time);
  return `${date.getFullYear()}-${date.getMonth()}-${date.getDate()}`;
}

export class View {
  constructor(root) {
    this.root = root;
    this.roomList = root.querySelector("#room-list");
    this.scroller = root.querySelector("#messages");
    this.messageList = root.querySelector("#message-list");
    this.historyState = root.querySelector("#history-state");
    this.memberList = root.querySelector("#member-list");
    this.memberCount = root.querySelector("#member-count");
    this.memberToggleCount = root.querySelector("#members-toggle-count");
    this.roomName = root.querySelector("#room-name");
    this.topic = root.querySelector("#topic");
    this.status = root.querySelector("#status");
    this.typingLine = root.querySelector("#typing");
    this.nodes = new Map(); // entry key → <li>
    this.shown = null; // the buffer shown
    this.profileOf = () => ({}); // nick → its metadata (avatar, display-name), set by the app
  }

  // "x is typing…" under the messages.
  renderTyping(nicks) {
    let text = "";
    if (nicks.length === 1) text = `${nicks[0]} is typing…`;
    else if (nicks.length === 2) text = `${nicks[0]} and ${nicks[1]} are typing…`;
    else if (nicks.length > 2) text = "Several people are typing…";
    this.typingLine.textContent = text;
  }

  // An entry changed (an edit): redraw its line in place.
  updateMessage(entry) {
    const old = this.nodes.get(entry.key);
    if (!old) return;
    const node = this.messageNode(entry);
    node.dataset.key = entry.key;
    this.nodes.set(entry.key, node);
    old.replaceWith(node);
  }

  setStatus(text, state) {
    this.status.textContent = text;
    this.status.dataset.state = state;
    document.body.dataset.connection = state;
  }

  renderRooms(buffers, active, onSelect) {
    const items = [];
    for (const buffer of buffers.ordered()) {
      const item = el("li", "room");
      const button = el("button", "room-button");
      button.type = "button";
      if (buffer === active) {
        item.classList.add("active");
        button.setAttribute("aria-current", "page");
      }
      if (buffer.kind === "channel" && !buffer.joined) item.classList.add("parted");
      button.append(el("span", "room-name " + (buffer.kind === "query" ? nickColour(buffer.name) : ""), buffer.name));
      if (buffer.mention) button.append(el("span", "mention", "@"));
      if (buffer.unread) {
        const badge = el("span", "unread", buffer.unread > 99 ? "99+" : String(buffer.unread));
        badge.title = `${buffer.unread} unread`;
        button.append(badge);
      }
      button.addEventListener("click", () => onSelect(buffer));
      item.append(button);
      items.push(item);
    }
    this.roomList.replaceChildren(...items);
  }

  renderHeader(buffer) {
    this.roomName.textContent = buffer.name;
    this.topic.replaceChildren();
    if (buffer.kind === "channel") appendRichText(this.topic, buffer.topic || "");
    this.topic.title = stripFormatting(buffer.topic || "");
    this.topic.classList.toggle("empty", !buffer.topic);
    document.title = buffer.kind === "server" ? "hubbub" : `${buffer.name} · hubbub`;
  }

  renderMembers(buffer, prefixOrder) {
    const members = buffer.kind === "channel" ? buffer.sortedMembers(prefixOrder) : [];
    const items = members.map((member) => {
      const item = el("li", "member");
      if (member.away) item.classList.add("away");
      if (member.bot) item.classList.add("bot");
      const prefix = member.prefixes[0] || "";
      const profile = this.profileOf(member.nick);
      item.append(el("span", "prefix", prefix));
      item.append(avatarNode(member.nick, profile, 20));
      item.append(el("span", "member-nick " + nickColour(member.nick), member.nick));
      const display = displayNameNode(member.nick, profile);
      if (display) item.append(display);
      if (member.bot) item.append(el("span", "bot-badge", "bot"));
      const notes = [member.away ? "away" : "", member.bot ? "bot" : ""].filter(Boolean);
      const named = display ? `${member.nick} (${display.textContent})` : member.nick;
      item.title = notes.length ? `${named}, ${notes.join(", ")}` : named;
      return item;
    });
    this.memberList.replaceChildren(...items);
    this.memberCount.textContent = String(members.length);
    this.memberToggleCount.textContent = String(members.length);
    this.root.classList.toggle("no-members", buffer.kind !== "channel");
  }

  renderHistoryState(buffer) {
    let text = "";
    if (buffer.kind !== "server") {
      if (buffer.loadingOlder) text = "Loading older messages…";
      else if (!buffer.hasOlder) text = "Beginning of the history of " + buffer.name;
    }
    this.historyState.textContent = text;
  }

  messageNode(entry) {
    const item = el("li", "msg " + entry.kind);
    if (entry.self) item.classList.add("self");
    if (entry.highlight) item.classList.add("highlight");
    const time = el("time", "time", timeFormat.format(new Date(entry.time)));
    time.dateTime = new Date(entry.time).toISOString();
    time.title = fullFormat.format(new Date(entry.time));
    item.append(time);
    const body = el("span", "body");
    const said = entry.kind === "privmsg" || entry.kind === "notice" || entry.kind === "action";
    if (said && entry.nick) {
      const profile = this.profileOf(entry.nick);
      item.append(avatarNode(entry.nick, profile, 24));
      const display = displayNameNode(entry.nick, profile);
      if (display) item.dataset.displayName = display.textContent;
    }
    const who = () => {
      const nick = el("span", "nick " + nickColour(entry.nick), entry.nick);
      const display = displayNameNode(entry.nick, this.profileOf(entry.nick));
      const parts = [nick];
      if (display) parts.push(display);
      if (entry.bot) parts.push(el("span", "bot-badge", "bot"));
      return parts;
    };
    if (entry.kind === "privmsg" || entry.kind === "notice") {
      body.append(...who());
      const text = el("span", "text");
      appendRichText(text, entry.text);
      body.append(text);
    } else if (entry.kind === "action") {
      body.append(el("span", "star", "* "));
      body.append(...who());
      body.append(document.createTextNode(" "));
      const text = el("span", "text");
      appendRichText(text, entry.text);
      body.append(text);
    } else {
      const text = el("span", "text");
      appendRichText(text, entry.text);
      body.append(text);
    }
    if (entry.edited) {
      item.classList.add("edited");
      body.append(el("span", "edited-mark", "(edited)"));
    }
    item.append(body);
    return item;
  }

  dayNode(time) {
    const item = el("li", "day");
    item.append(el("span", null, dayFormat.format(new Date(time))));
    return item;
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
  }

  // The first message visible at the top, and its distance from the top edge.
  anchor() {
    const top = this.scroller.getBoundingClientRect().top;
    for (const node of this.messageList.children) {
      const rect = node.getBoundingClientRect();
      if (rect.bottom > top && node.dataset.key) return { key: node.dataset.key, offset: rect.top - top };
    }
    return null;
  }

  // Render the whole buffer. `keep`: keep what the reader sees in place (history arrived);
  // otherwise (a room switch) show the newest messages.
  renderMessages(buffer, { keep = false } = {}) {
    const stick = !keep || this.atBottom();
    const anchor = keep && !stick ? this.anchor() : null;
    this.nodes = new Map();
    const fragment = document.createDocumentFragment();
    let day = null;
    for (const entry of buffer.messages) {
      const entryDay = dayOf(entry.time);
      if (entryDay !== day) {
        if (day !== null || buffer.kind !== "server") fragment.append(this.dayNode(entry.time));
        day = entryDay;
      }
      const node = this.messageNode(entry);
      node.dataset.key = entry.key;
      this.nodes.set(entry.key, node);
      fragment.append(node);
    }
    this.messageList.replaceChildren(fragment);
    this.shown = buffer;
    this.renderHistoryState(buffer);
    if (stick) {
      this.scrollToBottom();
    } else if (anchor) {
      const node = this.nodes.get(anchor.key);
      if (node) {
        const top = this.scroller.getBoundingClientRect().top;
        this.scroller.scrollTop += node.getBoundingClientRect().top - top - anchor.offset;
      }
    }
  }

  // Append live messages to the buffer shown (they are the newest).
  appendMessages(buffer, entries) {
    const stick = this.atBottom();
    const last = buffer.messages[buffer.messages.length - entries.length - 1];
    let day = last ? dayOf(last.time) : null;
    for (const entry of entries) {
      const entryDay = dayOf(entry.time);
      if (entryDay !== day) {
        this.messageList.append(this.dayNode(entry.time));
        day = entryDay;
      }
      const node = this.messageNode(entry);
      node.dataset.key = entry.key;
      this.nodes.set(entry.key, node);
      this.messageList.append(node);
    }
    if (stick) this.scrollToBottom();
  }

  scrollToBottom() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }
}
