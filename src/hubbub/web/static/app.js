// The hubbub web client: the nick form, the IRC events turned into buffers, the commands, and
// the history (CHATHISTORY LATEST on join, BEFORE when scrolling up, AFTER after a reconnect).

import { Connection, defaultServerUrl } from "./irc.js";
import { Buffers, makeEntry } from "./model.js";
import { View } from "./view.js";

const NICK_KEY = "hubbub.nick";
const ROOMS_KEY = "hubbub.rooms";
const DEFAULT_ROOM = "#lobby";
const PAGE = 50; // messages per CHATHISTORY LATEST / BEFORE
const CATCH_UP = 100; // messages per CHATHISTORY AFTER
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
  "Keys: Enter sends, Alt+↑/↓ or Ctrl+K switch rooms, Tab completes nicks.",
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
  }

  // -- start -----------------------------------------------------------------------------

  start(nick) {
    const { rooms, focus } = initialRooms();
    this.roomsToJoin = rooms;
    this.focusRoom = focus;
    this.conn = new Connection({ url: defaultServerUrl(), nick });
    this.conn.on("message", (msg) => this.onMessage(msg));
    this.conn.on("registered", () => this.onRegistered());
    this.conn.on("state", (state) => this.onState(state));
    this.conn.on("disconnected", ({ reason, delay }) => this.onDisconnected(reason, delay));
    this.bindUi();
    this.refresh();
    this.conn.open();
    window.hubbub = this; // for debugging from the console
  }

  bindUi() {
    const form = this.root.querySelector("#composer");
    const input = this.root.querySelector("#input");
    this.input = input;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value;
      input.value = "";
      this.completion = null;
      if (text.trim()) {
        this.sentHistory.push(text);
        if (this.sentHistory.length > 100) this.sentHistory.shift();
        this.sentIndex = -1;
        this.submit(text);
      }
    });
    input.addEventListener("keydown", (event) => this.onInputKey(event));
    document.addEventListener("keydown", (event) => this.onGlobalKey(event));
    this.view.scroller.addEventListener("scroll", () => this.maybeLoadOlder(), { passive: true });
    this.root.querySelector("#rooms-toggle").addEventListener("click", () => this.togglePane("rooms"));
    this.root.querySelector("#members-toggle").addEventListener("click", () => this.togglePane("members"));
    this.root.querySelector("#scrim").addEventListener("click", () => this.togglePane(null));
    this.root.querySelector("#reconnect").addEventListener("click", () => this.conn.reconnectNow());
    window.addEventListener("online", () => this.conn.reconnectNow());
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

  onDisconnected(reason, delay) {
    for (const buffer of this.buffers.map.values()) {
      if (buffer.kind === "channel" && buffer.joined) {
        buffer.joined = false;
        buffer.rejoin = true;
      }
      buffer.loadingOlder = false;
    }
    this.pending.clear();
    this.batches.clear();
    const seconds = Math.round(delay / 1000);
    this.info(this.active, `Disconnected (${reason}). Reconnecting in ${seconds} s…`, "error");
    this.view.setStatus(`Disconnected — retrying in ${seconds} s`, "disconnected");
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
      if (batch.type === "chathistory") {
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
      });
    } else if (ref.startsWith("-")) {
      const batch = this.batches.get(ref.slice(1));
      this.batches.delete(ref.slice(1));
      if (batch && batch.type === "chathistory") this.finishHistory(batch);
      else if (batch && batch.type === "labeled-response") this.finishRequest(batch.label, null);
    }
  }

  requestHistory(buffer, kind) {
    const conn = this.conn;
    if (!conn || !conn.registered || !conn.has("draft/chathistory")) return;
    let params;
    if (kind === "before") {
      const oldest = buffer.oldestMsgid;
      if (!oldest || buffer.loadingOlder || !buffer.hasOlder) return;
      buffer.loadingOlder = true;
      params = ["BEFORE", buffer.name, "msgid=" + oldest, PAGE];
    } else if (kind === "after") {
      params = ["AFTER", buffer.name, "msgid=" + buffer.newestMsgid, CATCH_UP];
    } else {
      params = ["LATEST", buffer.name, "*", PAGE];
    }
    const label = conn.sendLabelled("CHATHISTORY", ...params);
    const limit = params[3];
    this.pending.set(label || "t:" + this.buffers.keyOf(buffer.name), { buffer, kind, limit });
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
    const { where } = buffer.add(entries);
    buffer.historyLoaded = true;
    if (request) {
      if (request.kind === "before") buffer.loadingOlder = false;
      if ((request.kind === "before" || request.kind === "latest") && batch.messages.length < request.limit) {
        buffer.hasOlder = false;
      }
      if (request.kind === "after" && batch.messages.length >= request.limit) {
        this.requestHistory(buffer, "after"); // more was missed than one page
      }
    }
    if (buffer === this.active) {
      if (where !== "none") this.view.renderMessages(buffer, { keep: true });
      else this.view.renderHistoryState(buffer);
      requestAnimationFrame(() => this.maybeLoadOlder());
    }
    this.renderRooms();
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
      return makeEntry({ msgid, time, nick, kind, text, self, highlight });
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
    }
    this.renderRooms();
  }

  info(buffer, text, kind = "info") {
    this.show(buffer, [makeEntry({ kind, text })], { count: false });
  }

  onPRIVMSG(msg) {
    const buffer = this.bufferFor(msg);
    const entry = this.entryFor(msg, buffer, false);
    if (entry) this.show(buffer, [entry]);
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
      if (buffer === this.active) this.view.renderHeader(buffer);
      this.saveRooms();
      this.catchUp(buffer);
      if (!this.focusRoom || this.buffers.keyOf(this.focusRoom) === buffer.key) {
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
    for (const buffer of this.buffers.map.values()) {
      if (buffer.removeMember(msg.nick, this.conn.casefold)) {
        this.event(buffer, msg);
        this.membersChanged(buffer);
      }
    }
  }

  onNICK(msg) {
    const newNick = msg.params[0];
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
        if (msg.command[0] === "4" || msg.command[0] === "5") {
          const subject = p.length > 2 ? p[1] + ": " : "";
          this.info(this.active, subject + last, "error");
        } else {
          this.info(this.buffers.serverBuffer, p.slice(1).join(" "));
        }
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
    this.active = buffer;
    buffer.unread = 0;
    buffer.mention = false;
    this.completion = null;
    if (this.root.dataset.pane) this.root.dataset.pane = "";
    this.refresh();
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
    client.start(nick);
    client.input.focus();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && window.hubbub) {
      const client = window.hubbub;
      client.active.unread = 0;
      client.active.mention = false;
      client.renderRooms();
    }
  });
}

main();
