// The hubbub web client: the nick form, the IRC events turned into buffers, the commands, and
// the history (CHATHISTORY LATEST on join, BEFORE when scrolling up, AFTER after a reconnect).

import { Connection, serverName, serverUrls } from "./irc.js";
import { Buffers, makeEntry } from "./model.js";
import { View, safeHref } from "./view.js";

const NICK_KEY = "hubbub.nick";
const ROOMS_KEY = "hubbub.rooms";
const DEFAULT_ROOM = "#lobby";
const PAGE = 50; // messages per CHATHISTORY LATEST / BEFORE
const CATCH_UP = 100; // messages per CHATHISTORY AFTER
const TYPING_ACTIVE_EVERY = 3000; // the typing spec: "active" at most once every 3 s
const TYPING_PAUSE_AFTER = 6000; // no key for this long: "paused"
const TYPING_ACTIVE_FOR = 6000; // a received "active" lapses after 6 s, "paused" after 30 s
const TYPING_PAUSED_FOR = 30000;
const PROFILE_KEYS = ["avatar", "display-name"];
const MARK_READ_EVERY = 2000; // ms: a busy room moves the marker at most this often (each is a write)
const LINE_BYTES = 400; // a multiline line longer than this is sent in concat pieces
const NICK_PATTERN = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]{0,29}$/;

const HELP = [
  "/join #room [key] — join a room",
  "/part [#room] [reason] — leave a room",
  "/msg nick text — send a private message",
  "/query nick — open a private conversation",
  "/me text — an action",
  "/nick name — change your nick",
  "/topic [text] — show or set the topic",
  "/away [message] — set or clear away",
  "/quote LINE — send a raw IRC line",
  "Keys: Enter sends, Shift+Enter starts a new line, ↑ in an empty input edits your last message,",
  "Alt+↑/↓ or Ctrl+K switch rooms, Tab completes nicks.",
];

function storageGet(key) {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(key, value) {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // private mode or storage disabled: nothing to remember then
  }
}

function parseTime(tags) {
  const parsed = tags.time ? Date.parse(tags.time) : NaN;
  return Number.isNaN(parsed) ? Date.now() : parsed;
}

const encoder = new TextEncoder();

function utf8Length(text) {
  return encoder.encode(text).length;
}

// Cut a line into pieces of at most `limit` UTF-8 bytes, at character boundaries.
export function splitBytes(line, limit) {
  const pieces = [];
  let piece = "";
  let size = 0;
  for (const char of line) {
    const length = utf8Length(char);
    if (size + length > limit && piece) {
      pieces.push(piece);
      piece = "";
      size = 0;
    }
    piece += char;
    size += length;
  }
  pieces.push(piece);
  return pieces;
}

function initialRooms() {
  const params = new URLSearchParams(window.location.search);
  let room = params.get("room") || "";
  if (!room && window.location.hash.length > 1) room = decodeURIComponent(window.location.hash.slice(1));
  room = room.trim();
  if (room && !"#&".includes(room[0])) room = "#" + room;
  const rooms = [];
  if (room && !/[\s,]/.test(room)) rooms.push(room);
  try {
    for (const saved of JSON.parse(storageGet(ROOMS_KEY) || "[]")) {
      if (typeof saved === "string" && !rooms.includes(saved)) rooms.push(saved);
    }
  } catch {
    // ignore a damaged entry
  }
  if (!rooms.length) rooms.push(DEFAULT_ROOM);
  return { rooms, focus: rooms[0] };
}

class Client {
  constructor(root) {
    this.root = root;
    this.view = new View(root);
    this.buffers = new Buffers();
    this.active = this.buffers.serverBuffer;
    this.conn = null;
    this.batches = new Map(); // ref → { type, params, label, entries, parent }
    this.pending = new Map(); // label (or "t:" + target) → history request
    this.focusRoom = null;
    this.roomsToJoin = [];
    this.completion = null;
    this.sentHistory = [];
    this.sentIndex = -1;
    this.profiles = new Map(); // folded nick → { avatar, "display-name", … } (metadata)
    this.loggedIn = false; // 900 seen: read markers need an account
    this.editing = null; // { buffer, msgid } while the input edits a sent message
    this.typingSent = { target: null, state: "done", at: 0 };
    this.typingTimer = null;
    this.batchCounter = 0;
    this.autoWho = new Set(); // rooms whose WHO the page asked for itself (answered quietly)
  }

  // -- start -----------------------------------------------------------------------------

  start(nick, password = "") {
    const { rooms, focus } = initialRooms();
    this.roomsToJoin = rooms;
    this.focusRoom = focus;
    const listed = document.querySelector('meta[name="hubbub-servers"]');
    const urls = serverUrls(listed ? listed.content : "");
    this.conn = new Connection({ urls, nick, account: nick, password });
    this.view.profileOf = (name) => this.profileOf(name);
    this.conn.on("message", (msg) => this.onMessage(msg));
    this.conn.on("registered", () => this.onRegistered());
    this.conn.on("state", (state) => this.onState(state));
    this.conn.on("disconnected", (lost) => this.onDisconnected(lost));
    this.conn.on("moved", ({ from, to }) =>
      this.info(this.active, `Now on ${serverName(to)} (moved from ${serverName(from)}).`),
    );
    this.bindUi();
    this.refresh();
    this.conn.open();
    window.hubbub = this; // for debugging from the console
  }

  bindUi() {
    const form = this.root.querySelector("#composer");
    const input = this.root.querySelector("#input");
    this.input = input;
    this.composer = form;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value;
      input.value = "";
      this.fitInput();
      this.completion = null;
      if (this.editing) {
        this.finishEdit(text);
        return;
      }
      this.typingSent.state = "done"; // the message itself ends the typing, for everyone
      clearTimeout(this.typingTimer);
      if (text.trim()) {
        this.sentHistory.push(text);
        if (this.sentHistory.length > 100) this.sentHistory.shift();
        this.sentIndex = -1;
        this.submit(text);
      }
    });
    input.addEventListener("keydown", (event) => this.onInputKey(event));
    input.addEventListener("input", () => {
      this.fitInput();
      this.typing();
    });
    this.bindProfile();
    document.addEventListener("keydown", (event) => this.onGlobalKey(event));
    this.view.scroller.addEventListener("scroll", () => this.maybeLoadOlder(), { passive: true });
    this.root.querySelector("#rooms-toggle").addEventListener("click", () => this.togglePane("rooms"));
    this.root.querySelector("#members-toggle").addEventListener("click", () => this.togglePane("members"));
    this.root.querySelector("#scrim").addEventListener("click", () => this.togglePane(null));
    this.root.querySelector("#reconnect").addEventListener("click", () => this.conn.reconnectNow());
    window.addEventListener("online", () => this.conn.reconnectNow());
  }

  // The input grows with its lines (Shift+Enter), up to six.
  fitInput() {
    const lines = this.input.value.split("\n").length;
    this.input.rows = Math.min(6, Math.max(1, lines));
  }

  // -- the profile panel (metadata) -------------------------------------------------------

  bindProfile() {
    const dialog = this.root.querySelector("#profile");
    const form = this.root.querySelector("#profile-form");
    const error = this.root.querySelector("#profile-error");
    this.root.querySelector("#profile-open").addEventListener("click", () => {
      const own = this.profileOf(this.conn.nick);
      form.elements.avatar.value = own.avatar || "";
      form.elements.displayname.value = own["display-name"] || "";
      error.textContent = "";
      dialog.showModal();
    });
    this.root.querySelector("#profile-cancel").addEventListener("click", () => dialog.close());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const avatar = form.elements.avatar.value.trim();
      const name = form.elements.displayname.value.trim();
      if (avatar && !safeHref(avatar)) {
        error.textContent = "The avatar must be an http:// or https:// address.";
        return;
      }
      if (!this.conn.registered || !this.conn.has("draft/metadata-2")) {
        error.textContent = "This server does not keep profiles (no metadata support).";
        return;
      }
      const own = this.profileOf(this.conn.nick);
      for (const [key, value] of [["avatar", avatar], ["display-name", name]]) {
        if ((own[key] || "") === value) continue;
        if (value) this.conn.send("METADATA", "*", "SET", key, value);
        else this.conn.send("METADATA", "*", "SET", key);
      }
      dialog.close();
    });
  }

  profileOf(nick) {
    return (this.conn && this.profiles.get(this.conn.casefold(nick || ""))) || {};
  }

  setProfile(nick, key, value) {
    const fold = this.conn.casefold(nick);
    const profile = { ...(this.profiles.get(fold) || {}) };
    if (value === undefined || value === "") delete profile[key];
    else profile[key] = value;
    this.profiles.set(fold, profile);
    if (this.profileRender) return;
    // Several keys usually come together (a metadata batch): render once, after them.
    this.profileRender = requestAnimationFrame(() => {
      this.profileRender = null;
      this.view.renderMembers(this.active, this.prefixes().symbols);
      this.view.renderMessages(this.active, { keep: true });
    });
  }

  // METADATA <target> <key> <visibility> [:value] — a sync, a change, or our own keys.
  onMETADATA(msg) {
    const [target, key, , value] = msg.params;
    if (!target || !key || this.isChannel(target)) return;
    this.setProfile(target === "*" ? this.conn.nick : target, key, value);
  }

  togglePane(which) {
    const open = this.root.dataset.pane === which ? "" : which || "";
    this.root.dataset.pane = open;
    if (!open) this.input.focus();
  }

  // -- connection events -------------------------------------------------------------------

  onState(state) {
    const labels = { connecting: "Connecting…", connected: "Connected", disconnected: "Disconnected" };
    this.view.setStatus(labels[state] || state, state);
  }

  onDisconnected({ reason, delay, from, next }) {
    for (const buffer of this.buffers.map.values()) {
      if (buffer.kind === "channel" && buffer.joined) {
        buffer.joined = false;
        buffer.rejoin = true;
      }
      buffer.loadingOlder = false;
    }
    this.pending.clear();
    this.batches.clear();
    this.autoWho.clear();
    this.loggedIn = false;
    this.cancelEdit();
    const seconds = Math.round(delay / 1000);
    if (delay === 0) {
      // Another server of the network is tried at once.
      const text = `Disconnected from ${serverName(from)} (${reason}). Trying ${serverName(next)}…`;
      this.info(this.active, text, "error");
      this.view.setStatus(`Disconnected — trying ${serverName(next)}`, "disconnected");
    } else {
      this.info(this.active, `Disconnected (${reason}). Reconnecting in ${seconds} s…`, "error");
      this.view.setStatus(`Disconnected — retrying in ${seconds} s`, "disconnected");
    }
    this.refresh();
  }

  onRegistered() {
    const conn = this.conn;
    this.buffers.fold = conn.casefold;
    storageSet(NICK_KEY, conn.nick);
    this.root.querySelector("#me").textContent = conn.nick;
    const join = new Set();
    for (const buffer of this.buffers.map.values()) {
      if (buffer.kind === "channel" && buffer.rejoin) join.add(buffer.name);
    }
    for (const room of this.roomsToJoin) join.add(room);
    this.roomsToJoin = [];
    this.root.querySelector("#profile-open").hidden = !conn.has("draft/metadata-2");
    if (conn.password && !conn.has("sasl")) {
      this.info(this.active, "This server offers no SASL login: you are not logged in (try /msg NickServ IDENTIFY).", "error");
    }
    // Subscribe before joining, so that each JOIN's metadata sync carries these keys.
    if (conn.has("draft/metadata-2")) conn.send("METADATA", "*", "SUB", ...PROFILE_KEYS);
    for (const room of join) conn.send("JOIN", room);
    // Private conversations catch up as well.
    for (const buffer of this.buffers.map.values()) {
      if (buffer.kind === "query") this.catchUp(buffer);
    }
  }

  onMessage(msg) {
    const batchRef = msg.tags.batch;
    if (msg.command === "BATCH") {
      this.onBatch(msg);
      return;
    }
    if (batchRef && this.batches.has(batchRef)) {
      const batch = this.batches.get(batchRef);
      if (batch.type === "chathistory" || batch.type === "draft/multiline") {
        batch.messages.push(msg);
        return;
      }
    }
    const handler = this["on" + msg.command];
    if (typeof handler === "function") handler.call(this, msg, false);
    else if (/^\d{3}$/.test(msg.command)) this.onNumeric(msg);
  }

  // -- batches and history -------------------------------------------------------------------

  onBatch(msg) {
    const ref = msg.params[0] || "";
    if (ref.startsWith("+")) {
      const parent = msg.tags.batch ? this.batches.get(msg.tags.batch) : null;
      this.batches.set(ref.slice(1), {
        type: msg.params[1] || "",
        params: msg.params.slice(2),
        label: msg.tags.label || (parent && parent.label) || null,
        messages: [],
        opening: msg,
        parent,
      });
    } else if (ref.startsWith("-")) {
      const batch = this.batches.get(ref.slice(1));
      this.batches.delete(ref.slice(1));
      if (batch && batch.type === "draft/multiline") this.finishMultiline(batch);
      else if (batch && batch.type === "chathistory") this.finishHistory(batch);
      else if (batch && batch.type === "labeled-response") this.finishRequest(batch.label, null);
    }
  }

  // A draft/multiline batch is one message: its lines joined by newlines (directly, for a
  // line tagged draft/multiline-concat), with the msgid, time and tags of the opening BATCH.
  finishMultiline(batch) {
    const lines = batch.messages.filter((m) => m.command === "PRIVMSG" || m.command === "NOTICE");
    if (!lines.length) return;
    let text = "";
    lines.forEach((line, index) => {
      const concat = "draft/multiline-concat" in line.tags;
      text += (index === 0 || concat ? "" : "\n") + (line.params[1] || "");
    });
    const opening = batch.opening;
    const tags = { ...opening.tags };
    delete tags.batch;
    const combined = {
      tags,
      source: opening.source,
      nick: opening.nick,
      command: lines[0].command,
      params: [batch.params[0] || lines[0].params[0], text],
    };
    if (batch.parent && batch.parent.type === "chathistory") batch.parent.messages.push(combined);
    else this.onPRIVMSG(combined);
  }

  // `from` (AFTER only): where to go on from, a "msgid=…" or "timestamp=…" reference; without
  // it, the newest message shown, whose time is kept (see catchUpFurther).
  requestHistory(buffer, kind, from = null) {
    const conn = this.conn;
    if (!conn || !conn.registered || !conn.has("draft/chathistory")) return;
    let params;
    let since = null;
    if (kind === "before") {
      const oldest = buffer.oldestMsgid;
      if (!oldest || buffer.loadingOlder || !buffer.hasOlder) return;
      buffer.loadingOlder = true;
      params = ["BEFORE", buffer.name, "msgid=" + oldest, PAGE];
    } else if (kind === "after") {
      let anchor = from;
      if (!anchor) {
        const newest = buffer.newestWithMsgid;
        anchor = "msgid=" + newest.msgid;
        since = newest.time;
      }
      params = ["AFTER", buffer.name, anchor, CATCH_UP];
    } else {
      params = ["LATEST", buffer.name, "*", PAGE];
    }
    const label = conn.sendLabelled("CHATHISTORY", ...params);
    const limit = params[3];
    this.pending.set(label || "t:" + this.buffers.keyOf(buffer.name), { buffer, kind, limit, since });
    if (buffer === this.active) this.view.renderHistoryState(buffer);
  }

  catchUp(buffer) {
    this.requestHistory(buffer, buffer.newestMsgid ? "after" : "latest");
  }

  takeRequest(label, target) {
    for (const key of [label, "t:" + this.buffers.keyOf(target || "")]) {
      if (key && this.pending.has(key)) {
        const request = this.pending.get(key);
        this.pending.delete(key);
        return request;
      }
    }
    return null;
  }

  finishRequest(label, target) {
    const request = this.takeRequest(label, target);
    if (!request) return;
    request.buffer.loadingOlder = false;
    if (request.kind !== "after") request.buffer.hasOlder = false;
    if (request.buffer === this.active) this.view.renderHistoryState(request.buffer);
  }

  finishHistory(batch) {
    const target = batch.params[0] || "";
    const request = this.takeRequest(batch.label, target);
    const isChannel = this.isChannel(target);
    let buffer = request ? request.buffer : null;
    if (!buffer) buffer = isChannel ? this.buffers.ensure(target, "channel") : this.buffers.ensure(target, "query");
    const entries = [];
    for (const msg of batch.messages) {
      const entry = this.entryFor(msg, buffer, true);
      if (entry) entries.push(entry);
    }
    const { added, where } = buffer.add(entries);
    buffer.historyLoaded = true;
    if (request && request.kind !== "before") this.countUnreadSinceMarker(buffer, added);
    if (request) {
      if (request.kind === "before") buffer.loadingOlder = false;
      if ((request.kind === "before" || request.kind === "latest") && batch.messages.length < request.limit) {
        buffer.hasOlder = false;
      }
      if (request.kind === "after") this.catchUpFurther(request, batch.messages);
    }
    if (buffer === this.active) {
      if (where !== "none") this.view.renderMessages(buffer, { keep: true });
      else this.view.renderHistoryState(buffer);
      requestAnimationFrame(() => this.maybeLoadOlder());
      this.markRead(buffer);
    }
    this.renderRooms();
  }

  // After an answer to CHATHISTORY AFTER. A full page: more was missed, go on after the
  // page's last message (not the newest shown: a live line may have come meanwhile, and what
  // lies between would be skipped). An empty answer to the msgid of the newest message seen:
  // the server may not have that message (a server killed with -9 loses its last commit
  // window of history, and answers an unknown msgid with an empty batch), so ask again by
  // time, from that message's millisecond (what was seen comes back and is dropped by msgid).
  catchUpFurther(request, messages) {
    if (messages.length >= request.limit) {
      const last = messages.findLast((msg) => msg.tags.msgid);
      if (last) this.requestHistory(request.buffer, "after", "msgid=" + last.tags.msgid);
    } else if (!messages.length && request.since !== null) {
      const stamp = new Date(Math.max(request.since - 1, 0)).toISOString();
      this.requestHistory(request.buffer, "after", "timestamp=" + stamp);
    }
  }

  maybeLoadOlder() {
    const buffer = this.active;
    if (!buffer || buffer.kind === "server" || buffer.loadingOlder || !buffer.hasOlder) return;
    const scroller = this.view.scroller;
    const nearTop = scroller.scrollTop < 150;
    const unscrollable = scroller.scrollHeight <= scroller.clientHeight + 10;
    if ((nearTop || unscrollable) && buffer.oldestMsgid) this.requestHistory(buffer, "before");
  }

  // -- messages --------------------------------------------------------------------------------

  isChannel(name) {
    const types = this.conn ? this.conn.isupport.get("CHANTYPES") || "#&" : "#&";
    return Boolean(name) && types.includes(name[0]);
  }

  isMe(nick) {
    return this.conn && this.conn.casefold(nick) === this.conn.casefold(this.conn.nick);
  }

  mentions(text) {
    const nick = this.conn.nick;
    if (!nick) return false;
    const escaped = nick.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`(^|[^\\w])${escaped}($|[^\\w])`, "i").test(text);
  }

  // The buffer a PRIVMSG / NOTICE belongs to.
  bufferFor(msg) {
    let target = msg.params[0] || "";
    const statusPrefixes = this.conn.isupport.get("STATUSMSG") || "@+";
    while (target && statusPrefixes.includes(target[0]) && this.isChannel(target.slice(1))) target = target.slice(1);
    if (this.isChannel(target)) return this.buffers.ensure(target, "channel");
    if (!msg.nick || msg.nick.includes(".") || !this.conn.registered) return this.buffers.serverBuffer;
    const other = this.isMe(msg.nick) ? target : msg.nick;
    if (msg.command === "NOTICE" && !this.buffers.get(other)) return this.active;
    return this.buffers.ensure(other, "query");
  }

  // A message entry for PRIVMSG / NOTICE (and, from history, stored events), or null.
  entryFor(msg, buffer, fromHistory) {
    const time = parseTime(msg.tags);
    const msgid = msg.tags.msgid || null;
    const nick = msg.nick;
    const self = this.isMe(nick);
    if (msg.command === "PRIVMSG" || msg.command === "NOTICE") {
      let text = msg.params[1] || "";
      let kind = msg.command === "PRIVMSG" ? "privmsg" : "notice";
      if (text.startsWith("\x01")) {
        const body = text.replace(/^\x01|\x01$/g, "");
        if (!body.toUpperCase().startsWith("ACTION")) return null; // other CTCPs are not shown
        kind = "action";
        text = body.slice(7);
      }
      const highlight = !self && (this.mentions(text) || (!fromHistory && buffer.kind === "query"));
      const edited = "hubbub/edited" in msg.tags;
      const bot = "bot" in msg.tags;
      return makeEntry({ msgid, time, nick, kind, text, self, highlight, edited, bot });
    }
    const text = this.describeEvent(msg);
    return text === null ? null : makeEntry({ msgid, time, nick, kind: "event", text, self });
  }

  describeEvent(msg) {
    const nick = msg.nick;
    const p = msg.params;
    switch (msg.command) {
      case "JOIN":
        return `${nick} joined`;
      case "PART":
        return `${nick} left${p[1] ? ` (${p[1]})` : ""}`;
      case "QUIT":
        return `${nick} quit${p[0] ? ` (${p[0]})` : ""}`;
      case "KICK":
        return `${nick} removed ${p[1]}${p[2] ? ` (${p[2]})` : ""}`;
      case "NICK":
        return `${nick} is now known as ${p[0]}`;
      case "TOPIC":
        return p[1] ? `${nick} set the topic: ${p[1]}` : `${nick} cleared the topic`;
      case "MODE":
        return `${nick} set mode ${p.slice(1).join(" ")}`;
      default:
        return null;
    }
  }

  // Show live entries in a buffer: count unread, mark mentions, render when shown.
  show(buffer, entries, { count = true } = {}) {
    const { added, where } = buffer.add(entries);
    if (!added.length) return;
    if (buffer !== this.active || document.hidden) {
      if (count) {
        const counted = added.filter((e) => e.kind !== "event" && e.kind !== "info" && !e.self);
        buffer.unread += counted.length;
        if (counted.some((e) => e.highlight)) buffer.mention = true;
      }
    }
    if (buffer === this.active) {
      if (where === "append") this.view.appendMessages(buffer, added);
      else this.view.renderMessages(buffer, { keep: true });
      if (count) this.markRead(buffer);
    }
    this.renderRooms();
  }

  info(buffer, text, kind = "info") {
    this.show(buffer, [makeEntry({ kind, text })], { count: false });
  }

  onPRIVMSG(msg) {
    const buffer = this.bufferFor(msg);
    const entry = this.entryFor(msg, buffer, false);
    if (!entry) return;
    if (entry.bot && buffer.kind === "channel") {
      const member = buffer.members.get(this.conn.casefold(msg.nick));
      if (member && !member.bot) {
        member.bot = true;
        this.membersChanged(buffer);
      }
    }
    // A message ends its author's typing.
    if (buffer.typers.delete(this.conn.casefold(msg.nick)) && buffer === this.active) this.renderTyping();
    this.show(buffer, [entry]);
  }

  // -- read markers (draft/read-marker) ------------------------------------------------------

  // The room is being looked at: move the account's marker to its newest message.
  markRead(buffer) {
    const conn = this.conn;
    if (!conn || !conn.registered || !conn.has("draft/read-marker") || !this.loggedIn) return;
    if (buffer !== this.active || buffer.kind === "server" || document.hidden) return;
    let newest = null;
    for (let i = buffer.messages.length - 1; i >= 0 && !newest; i -= 1) {
      if (buffer.messages[i].msgid) newest = buffer.messages[i];
    }
    if (!newest) return;
    const stamp = new Date(newest.time).toISOString();
    if ((buffer.marker && buffer.marker >= stamp) || buffer.markerSent === stamp) return;
    const wait = (buffer.markerSentAt || 0) + MARK_READ_EVERY - Date.now();
    if (wait > 0) {
      // Sent a moment ago: send the newest once the interval is over (if still looked at).
      if (!buffer.markTimer) {
        buffer.markTimer = setTimeout(() => {
          buffer.markTimer = null;
          this.markRead(buffer);
        }, wait);
      }
      return;
    }
    buffer.markerSent = stamp;
    buffer.markerSentAt = Date.now();
    conn.send("MARKREAD", buffer.name, "timestamp=" + stamp);
  }

  // History that arrived for a room not being looked at: what is newer than the account's
  // read marker was not read on any device, so it counts as unread. (Without a marker there
  // is no telling, and only live messages count, as before.)
  countUnreadSinceMarker(buffer, added) {
    if (!buffer.marker || (buffer === this.active && !document.hidden)) return;
    const read = Date.parse(buffer.marker);
    const unread = added.filter(
      (e) => e.kind !== "event" && e.kind !== "info" && e.kind !== "error" && !e.self && e.time > read,
    );
    buffer.unread += unread.length;
    if (unread.some((e) => e.highlight)) buffer.mention = true;
  }

  // MARKREAD <target> timestamp=… | * — our marker moved (here or on another device).
  onMARKREAD(msg) {
    const [target, value] = msg.params;
    const buffer = target && this.buffers.get(target);
    if (!buffer || !value || !value.startsWith("timestamp=")) return;
    const stamp = value.slice("timestamp=".length);
    if (buffer.marker && buffer.marker >= stamp) return;
    buffer.marker = stamp;
    const read = Date.parse(stamp);
    if (buffer.unread) {
      const counts = (e) => e.kind !== "event" && e.kind !== "info" && e.kind !== "error" && !e.self;
      const after = buffer.messages.filter((e) => counts(e) && e.time > read);
      buffer.unread = Math.min(buffer.unread, after.length);
      if (!after.some((e) => e.highlight)) buffer.mention = false;
      this.renderRooms();
    }
  }

  // -- typing (+typing client tag) -----------------------------------------------------------

  // The input changed: tell the room we are typing, at most every 3 s; paused after 6 s
  // without a key; done when the input is emptied.
  typing() {
    const conn = this.conn;
    const buffer = this.active;
    if (!conn || !conn.registered || !conn.has("message-tags") || buffer.kind === "server") return;
    const text = this.input.value;
    const isCommand = text.startsWith("/") && !text.startsWith("//");
    clearTimeout(this.typingTimer);
    const sent = this.typingSent;
    if (sent.target && sent.target !== buffer.name && sent.state !== "done") this.sendTyping(sent.target, "done");
    if (!text || isCommand || this.editing) {
      if (sent.state !== "done" && sent.target === buffer.name) this.sendTyping(buffer.name, "done");
      return;
    }
    const now = Date.now();
    if (sent.state !== "active" || sent.target !== buffer.name || now - sent.at >= TYPING_ACTIVE_EVERY) {
      this.sendTyping(buffer.name, "active");
    }
    this.typingTimer = setTimeout(() => {
      if (this.typingSent.state === "active") this.sendTyping(this.typingSent.target, "paused");
    }, TYPING_PAUSE_AFTER);
  }

  sendTyping(target, state) {
    this.conn.sendTagged({ "+typing": state }, "TAGMSG", target);
    this.typingSent = { target, state, at: Date.now() };
  }

  onTAGMSG(msg) {
    const state = msg.tags["+typing"];
    if (!state || this.isMe(msg.nick) || !this.conn.registered) return;
    const target = msg.params[0] || "";
    const buffer = this.isChannel(target) ? this.buffers.get(target) : this.buffers.get(msg.nick);
    if (!buffer) return;
    const fold = this.conn.casefold(msg.nick);
    if (state === "active" || state === "paused") {
      const lasts = state === "active" ? TYPING_ACTIVE_FOR : TYPING_PAUSED_FOR;
      buffer.typers.set(fold, { nick: msg.nick, state, until: Date.now() + lasts });
    } else {
      buffer.typers.delete(fold);
    }
    if (buffer === this.active) this.renderTyping();
  }

  renderTyping() {
    const buffer = this.active;
    const now = Date.now();
    for (const [fold, typer] of buffer.typers) if (typer.until <= now) buffer.typers.delete(fold);
    const active = [...buffer.typers.values()].filter((t) => t.state === "active").map((t) => t.nick);
    this.view.renderTyping(active);
    clearTimeout(this.typingExpiry);
    if (buffer.typers.size) {
      const next = Math.min(...[...buffer.typers.values()].map((t) => t.until));
      this.typingExpiry = setTimeout(() => this.renderTyping(), Math.max(0, next - now) + 50);
    }
  }

  // -- edits (draft/message-edit) --------------------------------------------------------------

  startEdit() {
    const conn = this.conn;
    const buffer = this.active;
    if (!conn.has("draft/message-edit") || !conn.has("message-tags") || buffer.kind === "server") return false;
    let entry = null;
    for (let i = buffer.messages.length - 1; i >= 0 && !entry; i -= 1) {
      const candidate = buffer.messages[i];
      if (candidate.self && candidate.msgid && candidate.kind === "privmsg") entry = candidate;
    }
    if (!entry) return false;
    this.editing = { buffer, msgid: entry.msgid, text: entry.text };
    this.input.value = entry.text;
    this.fitInput();
    this.composer.classList.add("editing");
    this.root.querySelector("#edit-hint").hidden = false;
    return true;
  }

  cancelEdit() {
    if (!this.editing) return;
    this.editing = null;
    this.composer.classList.remove("editing");
    this.root.querySelector("#edit-hint").hidden = true;
  }

  finishEdit(text) {
    const { buffer, msgid, text: before } = this.editing;
    this.cancelEdit();
    if (!text.trim() || text === before) return;
    if (text.includes("\n")) {
      this.info(this.active, "An edit is one line: the message was not changed.", "error");
      return;
    }
    this.conn.sendTagged({ "draft/target-msgid": msgid, "draft/edit-text": text }, "EDIT", buffer.name);
  }

  // @draft/target-msgid=…;draft/edit-text=… :editor EDIT <target>
  onEDIT(msg) {
    const target = msg.params[0] || "";
    const msgid = msg.tags["draft/target-msgid"];
    const text = msg.tags["draft/edit-text"];
    if (!msgid || text === undefined) return;
    const buffer = this.isChannel(target)
      ? this.buffers.get(target)
      : this.buffers.get(this.isMe(msg.nick) ? target : msg.nick);
    const entry = buffer && buffer.messages.find((e) => e.msgid === msgid);
    if (!entry) return;
    entry.text = text;
    entry.edited = true;
    if (buffer === this.active) this.view.updateMessage(entry);
  }

  onNOTICE(msg) {
    this.onPRIVMSG(msg);
  }

  onJOIN(msg) {
    const name = msg.params[0];
    const buffer = this.buffers.ensure(name, "channel");
    if (this.isMe(msg.nick)) {
      buffer.name = name;
      buffer.joined = true;
      buffer.rejoin = false;
      buffer.members.clear();
      // The topic comes with the JOIN (332) only when there is one: a room that came back
      // without its topic (a server restart) must not keep showing the old one.
      buffer.topic = "";
      buffer.wantWho = true; // away and bot flags of the members, once NAMES is done
      if (buffer === this.active) this.view.renderHeader(buffer);
      this.saveRooms();
      this.catchUp(buffer);
      // Shown: the room asked for (the address, /join), or any room while the server's
      // window is shown. Remembered rooms joined at start and rooms joined again after a
      // reconnect do not take the view from the room being read.
      const wanted = this.focusRoom && this.buffers.keyOf(this.focusRoom) === buffer.key;
      if (wanted || (!this.focusRoom && this.active.kind === "server")) {
        this.focusRoom = null;
        this.select(buffer);
      }
      this.renderRooms();
      return;
    }
    buffer.setMember(msg.nick, this.conn.casefold);
    this.event(buffer, msg);
    this.membersChanged(buffer);
  }

  onPART(msg) {
    const buffer = this.buffers.get(msg.params[0]);
    if (!buffer) return;
    if (this.isMe(msg.nick)) {
      buffer.joined = false;
      buffer.members.clear();
      this.buffers.remove(buffer);
      this.saveRooms();
      if (this.active === buffer) this.select(this.nextBuffer(0));
      this.renderRooms();
      return;
    }
    buffer.removeMember(msg.nick, this.conn.casefold);
    this.event(buffer, msg);
    this.membersChanged(buffer);
  }

  onKICK(msg) {
    const buffer = this.buffers.get(msg.params[0]);
    if (!buffer) return;
    const victim = msg.params[1];
    buffer.removeMember(victim, this.conn.casefold);
    this.event(buffer, msg);
    if (this.isMe(victim)) {
      buffer.joined = false;
      buffer.members.clear();
      this.saveRooms();
    }
    this.membersChanged(buffer);
  }

  onQUIT(msg) {
    this.profiles.delete(this.conn.casefold(msg.nick)); // synced again if they come back
    for (const buffer of this.buffers.map.values()) {
      if (buffer.removeMember(msg.nick, this.conn.casefold)) {
        this.event(buffer, msg);
        this.membersChanged(buffer);
      }
    }
  }

  onNICK(msg) {
    const newNick = msg.params[0];
    // Metadata belongs to the user, not the nick: the server does not send it again.
    const profile = this.profiles.get(this.conn.casefold(msg.nick));
    if (profile) {
      this.profiles.delete(this.conn.casefold(msg.nick));
      this.profiles.set(this.conn.casefold(newNick), profile);
    }
    if (this.isMe(newNick)) {
      this.root.querySelector("#me").textContent = newNick;
      storageSet(NICK_KEY, newNick);
    }
    for (const buffer of this.buffers.map.values()) {
      if (buffer.renameMember(msg.nick, newNick, this.conn.casefold)) {
        this.event(buffer, msg);
        this.membersChanged(buffer);
      }
    }
  }

  onTOPIC(msg) {
    const buffer = this.buffers.get(msg.params[0]);
    if (!buffer) return;
    buffer.topic = msg.params[1] || "";
    this.event(buffer, msg);
    if (buffer === this.active) this.view.renderHeader(buffer);
  }

  onMODE(msg) {
    const buffer = this.buffers.get(msg.params[0]);
    if (!buffer) return;
    const prefix = this.prefixes();
    let adding = true;
    let arg = 2;
    for (const char of msg.params[1] || "") {
      if (char === "+" || char === "-") {
        adding = char === "+";
        continue;
      }
      const modeIndex = prefix.modes.indexOf(char);
      if (modeIndex >= 0) {
        const nick = msg.params[arg++];
        const member = nick && buffer.members.get(this.conn.casefold(nick));
        if (member) {
          const symbol = prefix.symbols[modeIndex];
          let symbols = member.prefixes.replace(symbol, "");
          if (adding) symbols += symbol;
          member.prefixes = [...symbols].sort((a, b) => prefix.symbols.indexOf(a) - prefix.symbols.indexOf(b)).join("");
        }
      } else if ("bklIe".includes(char) && (adding || char !== "l")) {
        arg += 1;
      }
    }
    this.event(buffer, msg);
    this.membersChanged(buffer);
  }

  onAWAY(msg) {
    const away = msg.params.length > 0;
    for (const buffer of this.buffers.map.values()) {
      const member = buffer.members.get(this.conn.casefold(msg.nick));
      if (member) {
        member.away = away;
        if (buffer === this.active) this.view.renderMembers(buffer, this.prefixes().symbols);
      }
    }
  }

  onERROR(msg) {
    this.info(this.buffers.serverBuffer, msg.params[0] || "Error", "error");
  }

  onFAIL(msg) {
    const [command, code] = msg.params;
    const description = msg.params[msg.params.length - 1] || code;
    if (command === "CHATHISTORY") {
      const request = this.takeRequest(msg.tags.label, msg.params[2]);
      if (request) {
        request.buffer.loadingOlder = false;
        if (request.kind === "after") this.requestHistory(request.buffer, "latest");
        else request.buffer.hasOlder = false;
        if (request.buffer === this.active) this.view.renderHistoryState(request.buffer);
        return;
      }
    }
    this.info(this.active, `${command}: ${description}`, "error");
  }

  onACK(msg) {
    this.finishRequest(msg.tags.label || null, null);
  }

  event(buffer, msg) {
    const entry = this.entryFor(msg, buffer, false);
    if (entry) this.show(buffer, [entry], { count: false });
  }

  membersChanged(buffer) {
    if (buffer === this.active) this.view.renderMembers(buffer, this.prefixes().symbols);
  }

  prefixes() {
    const raw = (this.conn && this.conn.isupport.get("PREFIX")) || "(ov)@+";
    const match = raw.match(/^\(([^)]*)\)(.*)$/);
    return match ? { modes: match[1], symbols: match[2] } : { modes: "ov", symbols: "@+" };
  }

  onNumeric(msg) {
    const p = msg.params;
    const last = p[p.length - 1] || "";
    switch (msg.command) {
      case "331":
      case "332": {
        const buffer = this.buffers.get(p[1]);
        if (buffer) {
          buffer.topic = msg.command === "332" ? last : "";
          if (buffer === this.active) this.view.renderHeader(buffer);
          if (buffer.topicRequested) {
            buffer.topicRequested = false;
            this.info(buffer, buffer.topic ? `Topic: ${buffer.topic}` : "No topic is set");
          }
        }
        return;
      }
      case "333":
      case "366":
      case "329":
      case "324":
        if (msg.command === "366") {
          const buffer = this.buffers.get(p[1]);
          if (buffer) {
            buffer.namesDone = true;
            this.membersChanged(buffer);
            if (buffer.wantWho) {
              buffer.wantWho = false;
              this.autoWho.add(buffer.key);
              this.conn.send("WHO", buffer.name);
            }
          }
        }
        return;
      case "353": {
        const buffer = this.buffers.get(p[2]);
        if (!buffer) return;
        if (buffer.namesDone !== false) {
          buffer.members.clear();
          buffer.namesDone = false;
        }
        const symbols = this.prefixes().symbols;
        for (const item of last.split(" ").filter(Boolean)) {
          let i = 0;
          while (i < item.length && symbols.includes(item[i])) i += 1;
          const nick = item.slice(i).split("!")[0];
          buffer.setMember(nick, this.conn.casefold, item.slice(0, i));
        }
        return;
      }
      case "305":
      case "306":
        this.info(this.active, last);
        return;
      case "352": {
        // WHO: flags H (here) / G (gone, away), B (bot).
        const buffer = this.buffers.get(p[1]);
        const member = buffer && buffer.members.get(this.conn.casefold(p[5] || ""));
        if (member) {
          member.away = (p[6] || "").includes("G");
          member.bot = (p[6] || "").includes("B");
        }
        if (buffer && this.autoWho.has(buffer.key)) return;
        break;
      }
      case "315": {
        const buffer = this.buffers.get(p[1]);
        if (buffer && this.autoWho.delete(buffer.key)) {
          this.membersChanged(buffer);
          return;
        }
        break;
      }
      case "900":
        this.loggedIn = true;
        this.markRead(this.active);
        break;
      case "901":
        this.loggedIn = false;
        break;
      case "902": // the account is locked
      case "904": // SASL failed
      case "905":
      case "906":
        this.info(this.active, last, "error");
        return;
      case "761": {
        // Our own SET answered: <me> <target> <key> <visibility> [:value]
        const [, target, key, , value] = p;
        if (target && key && !this.isChannel(target)) {
          this.setProfile(target === "*" ? this.conn.nick : target, key, value);
        }
        return;
      }
      case "766":
      case "768":
      case "770":
      case "771":
      case "772":
        return; // metadata answers that need nothing shown
      case "774": {
        // RPL_METADATASYNCLATER <target> [retry-after]: the room was too big to sync at JOIN.
        const seconds = Math.min(300, Math.max(1, Number(p[2]) || 5));
        setTimeout(() => this.conn.registered && this.conn.send("METADATA", p[1], "SYNC"), seconds * 1000);
        return;
      }
      case "001":
      case "002":
      case "003":
      case "004":
      case "005":
      case "250":
      case "251":
      case "252":
      case "253":
      case "254":
      case "255":
      case "265":
      case "266":
      case "375":
      case "372":
      case "376":
        this.info(this.buffers.serverBuffer, p.slice(1).join(" "));
        return;
      default:
        break;
    }
    if (msg.command[0] === "4" || msg.command[0] === "5") {
      const subject = p.length > 2 ? p[1] + ": " : "";
      this.info(this.active, subject + last, "error");
    } else {
      this.info(this.buffers.serverBuffer, p.slice(1).join(" "));
    }
  }

  // -- the user's input ------------------------------------------------------------------------

  submit(text) {
    if (text.startsWith("/") && !text.startsWith("//")) {
      this.command(text.slice(1));
      return;
    }
    this.say(this.active, text.startsWith("//") ? text.slice(1) : text);
  }

  say(buffer, text, action = false) {
    if (buffer.kind === "server") {
      this.info(buffer, "This is the server's window: join a room with /join #room, or /help.", "error");
      return;
    }
    this.sendMessage(buffer.name, text, action);
  }

  sendMessage(target, text, action = false) {
    const conn = this.conn;
    if (!conn.registered) {
      this.info(this.active, "Not connected: the message was not sent.", "error");
      return;
    }
    if (!action && /\n/.test(text.trim()) && this.sendMultiline(target, text.trim())) return;
    const lines = text.split(/\r?\n/).filter((line) => line.length);
    for (const line of lines) {
      const body = action ? `\x01ACTION ${line}\x01` : line;
      conn.send("PRIVMSG", target, body);
      if (!conn.has("echo-message")) {
        const buffer = this.isChannel(target) ? this.buffers.ensure(target, "channel") : this.buffers.ensure(target, "query");
        const entry = makeEntry({ nick: conn.nick, kind: action ? "action" : "privmsg", text: line, self: true });
        this.show(buffer, [entry], { count: false });
      }
    }
  }

  // A message with newlines as one draft/multiline batch, when the server takes one that
  // big; returns false to have it sent line by line instead.
  sendMultiline(target, text) {
    const conn = this.conn;
    if (!conn.has("draft/multiline") || !conn.has("batch")) return false;
    const limits = conn.capParams("draft/multiline");
    const maxBytes = Number(limits.get("max-bytes")) || 0;
    const maxLines = Number(limits.get("max-lines")) || Infinity;
    const lines = [];
    for (const line of text.split(/\r?\n/)) {
      splitBytes(line, LINE_BYTES).forEach((piece, index) => lines.push({ piece, concat: index > 0 }));
    }
    if (!maxBytes || utf8Length(text.replace(/\r/g, "")) > maxBytes || lines.length > maxLines) return false;
    this.batchCounter += 1;
    const ref = "ml" + this.batchCounter;
    conn.send("BATCH", "+" + ref, "draft/multiline", target);
    for (const { piece, concat } of lines) {
      const tags = concat ? { batch: ref, "draft/multiline-concat": "" } : { batch: ref };
      conn.sendTagged(tags, "PRIVMSG", target, piece);
    }
    conn.send("BATCH", "-" + ref);
    if (!conn.has("echo-message")) {
      const buffer = this.isChannel(target) ? this.buffers.ensure(target, "channel") : this.buffers.ensure(target, "query");
      this.show(buffer, [makeEntry({ nick: conn.nick, kind: "privmsg", text, self: true })], { count: false });
    }
    return true;
  }

  command(line) {
    const conn = this.conn;
    const space = line.indexOf(" ");
    const name = (space < 0 ? line : line.slice(0, space)).toLowerCase();
    const rest = space < 0 ? "" : line.slice(space + 1).trim();
    const words = rest.split(/\s+/).filter(Boolean);
    const buffer = this.active;
    switch (name) {
      case "join":
      case "j": {
        if (!words.length) return this.info(buffer, "Usage: /join #room", "error");
        let room = words[0];
        if (!this.isChannel(room)) room = "#" + room;
        this.focusRoom = room;
        const existing = this.buffers.get(room);
        if (existing && existing.joined) this.select(existing);
        else conn.send("JOIN", room, ...words.slice(1, 2));
        return;
      }
      case "part":
      case "leave": {
        let room = buffer.kind === "channel" ? buffer.name : "";
        let reason = rest;
        if (words.length && this.isChannel(words[0])) {
          room = words[0];
          reason = rest.slice(words[0].length).trim();
        }
        if (!room) {
          if (buffer.kind === "query") {
            this.buffers.remove(buffer);
            this.select(this.nextBuffer(0));
            return;
          }
          return this.info(buffer, "Usage: /part #room [reason]", "error");
        }
        if (reason) conn.send("PART", room, reason);
        else conn.send("PART", room);
        return;
      }
      case "msg": {
        if (words.length < 2) return this.info(buffer, "Usage: /msg nick text", "error");
        const text = rest.slice(words[0].length).trim();
        this.sendMessage(words[0], text);
        return;
      }
      case "query":
      case "q": {
        if (!words.length) return this.info(buffer, "Usage: /query nick [text]", "error");
        const target = words[0];
        const query = this.isChannel(target) ? this.buffers.ensure(target, "channel") : this.buffers.ensure(target, "query");
        this.select(query);
        if (!query.historyLoaded) this.catchUp(query);
        const text = rest.slice(target.length).trim();
        if (text) this.sendMessage(target, text);
        return;
      }
      case "me":
        return this.say(buffer, rest, true);
      case "nick":
        if (words.length !== 1 || !NICK_PATTERN.test(words[0])) return this.info(buffer, "Usage: /nick name", "error");
        conn.send("NICK", words[0]);
        return;
      case "topic":
        if (buffer.kind !== "channel") return this.info(buffer, "/topic works in a room", "error");
        if (rest) conn.send("TOPIC", buffer.name, rest);
        else {
          buffer.topicRequested = true;
          conn.send("TOPIC", buffer.name);
        }
        return;
      case "away":
        if (rest) conn.send("AWAY", rest);
        else conn.send("AWAY");
        return;
      case "quote":
      case "raw":
        if (rest) conn.sendRaw(rest);
        return;
      case "help":
        for (const text of HELP) this.info(buffer, text);
        return;
      default:
        this.info(buffer, `Unknown command /${name}; /help lists them.`, "error");
    }
  }

  onInputKey(event) {
    const input = this.input;
    if (event.key === "Tab" && !event.altKey && !event.ctrlKey && !event.metaKey) {
      if (this.completeNick()) event.preventDefault();
      return;
    }
    this.completion = null;
    if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.isComposing) {
      event.preventDefault();
      this.composer.requestSubmit();
      return;
    }
    if (event.key === "Escape" && this.editing) {
      event.preventDefault();
      event.stopPropagation();
      this.cancelEdit();
      input.value = "";
      this.fitInput();
      return;
    }
    // ↑ in an empty input edits your last message (where the server takes edits).
    if (event.key === "ArrowUp" && !event.altKey && !event.ctrlKey && !input.value && this.sentIndex < 0) {
      if (this.startEdit()) {
        event.preventDefault();
        return;
      }
    }
    if (input.value.includes("\n")) return; // the arrows move between the lines
    if (!event.altKey && !event.ctrlKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      const history = this.sentHistory;
      if (!history.length) return;
      if (event.key === "ArrowUp") {
        if (input.value && this.sentIndex < 0) return;
        this.sentIndex = this.sentIndex < 0 ? history.length - 1 : Math.max(0, this.sentIndex - 1);
      } else {
        if (this.sentIndex < 0) return;
        this.sentIndex += 1;
        if (this.sentIndex >= history.length) {
          this.sentIndex = -1;
          input.value = "";
          event.preventDefault();
          return;
        }
      }
      input.value = history[this.sentIndex];
      event.preventDefault();
    }
  }

  completeNick() {
    const input = this.input;
    const buffer = this.active;
    if (buffer.kind !== "channel") return false;
    if (!this.completion) {
      const caret = input.selectionStart;
      const before = input.value.slice(0, caret);
      const start = before.search(/\S*$/);
      const word = before.slice(start).toLowerCase();
      if (!word) return false;
      const matches = buffer
        .sortedMembers()
        .map((m) => m.nick)
        .filter((nick) => nick.toLowerCase().startsWith(word) && !this.isMe(nick));
      if (!matches.length) return false;
      this.completion = { start, after: input.value.slice(caret), matches, index: -1 };
    }
    const c = this.completion;
    c.index = (c.index + 1) % c.matches.length;
    const suffix = c.start === 0 ? ": " : " ";
    const head = input.value.slice(0, c.start) + c.matches[c.index] + suffix;
    input.value = head + c.after;
    input.setSelectionRange(head.length, head.length);
    return true;
  }

  onGlobalKey(event) {
    if (event.altKey && (event.key === "ArrowUp" || event.key === "ArrowDown")) {
      event.preventDefault();
      this.select(this.nextBuffer(event.key === "ArrowUp" ? -1 : 1));
      this.input.focus();
    } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      const list = this.buffers.ordered();
      const start = list.indexOf(this.active);
      let target = null;
      for (let i = 1; i <= list.length && !target; i += 1) {
        const candidate = list[(start + i) % list.length];
        if (candidate.unread) target = candidate;
      }
      this.select(target || this.nextBuffer(1));
      this.input.focus();
    } else if (event.key === "Escape" && this.root.dataset.pane) {
      this.togglePane(null);
    }
  }

  nextBuffer(step) {
    const list = this.buffers.ordered();
    if (!list.length) return this.buffers.serverBuffer;
    const index = list.indexOf(this.active);
    if (step === 0) return list.find((b) => b.kind === "channel") || list[0];
    return list[(index + step + list.length) % list.length];
  }

  // -- showing a buffer ------------------------------------------------------------------------

  select(buffer) {
    if (!buffer) return;
    if (buffer !== this.active) this.cancelEdit();
    this.active = buffer;
    buffer.unread = 0;
    buffer.mention = false;
    this.completion = null;
    if (this.root.dataset.pane) this.root.dataset.pane = "";
    this.refresh();
    this.renderTyping();
    this.markRead(buffer);
    requestAnimationFrame(() => this.maybeLoadOlder());
  }

  refresh() {
    const buffer = this.active;
    this.view.renderHeader(buffer);
    this.view.renderMembers(buffer, this.prefixes().symbols);
    this.view.renderMessages(buffer);
    this.renderRooms();
    this.input.placeholder = buffer.kind === "server" ? "Type /join #room or /help" : `Message ${buffer.name}`;
  }

  renderRooms() {
    this.view.renderRooms(this.buffers, this.active, (buffer) => {
      this.select(buffer);
      this.input.focus();
    });
    const all = [...this.buffers.map.values()];
    const unread = all.reduce((sum, b) => sum + b.unread, 0);
    const toggle = this.root.querySelector("#rooms-toggle");
    toggle.classList.toggle("has-unread", unread > 0);
    toggle.classList.toggle("has-mention", all.some((b) => b.mention));
    const base = this.active.kind === "server" ? "hubbub" : `${this.active.name} · hubbub`;
    document.title = unread ? `(${unread}) ${base}` : base;
  }

  saveRooms() {
    const rooms = [...this.buffers.map.values()].filter((b) => b.kind === "channel" && b.joined).map((b) => b.name);
    storageSet(ROOMS_KEY, JSON.stringify(rooms));
  }
}

// -- the nick form -------------------------------------------------------------------------------

function main() {
  const login = document.getElementById("login");
  const form = document.getElementById("login-form");
  const nickInput = document.getElementById("nick");
  const passwordInput = document.getElementById("password");
  const error = document.getElementById("login-error");
  const app = document.getElementById("app");
  const { focus } = initialRooms();
  document.getElementById("login-room").textContent = focus;
  nickInput.value = storageGet(NICK_KEY) || "";
  nickInput.focus();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = nickInput.value.trim();
    if (!NICK_PATTERN.test(nick)) {
      error.textContent = "A nick is 1–30 letters, digits or [ ] \\ ` _ ^ { | } -, not starting with a digit or -.";
      nickInput.focus();
      return;
    }
    storageSet(NICK_KEY, nick);
    login.hidden = true;
    app.hidden = false;
    const client = new Client(app);
    const password = passwordInput.value;
    passwordInput.value = "";
    client.start(nick, password);
    client.input.focus();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && window.hubbub) {
      const client = window.hubbub;
      client.active.unread = 0;
      client.active.mention = false;
      client.renderRooms();
      client.markRead(client.active);
    }
  });
}

main();
