// IRC over WebSocket: the line format (IRCv3 tags included) and a connection that registers,
// negotiates capabilities and reconnects with backoff, moving through the network's list of
// servers when one is lost. No DOM here, but for reading that list from the page.

const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

const TAG_ESCAPES = { ";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n" };

// A tag value as message-tags escapes it on the wire.
export function escapeTag(value) {
  return String(value).replace(/[; \\\r\n]/g, (c) => TAG_ESCAPES[c]);
}

function unescapeTag(value) {
  return value.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPES ? TAG_UNESCAPES[c] : c));
}

// One IRC line → { tags, source, nick, command, params }.
export function parseLine(line) {
  let rest = line;
  const tags = {};
  if (rest.startsWith("@")) {
    const space = rest.indexOf(" ");
    const raw = space < 0 ? rest.slice(1) : rest.slice(1, space);
    rest = space < 0 ? "" : rest.slice(space + 1);
    for (const item of raw.split(";")) {
      if (!item) continue;
      const eq = item.indexOf("=");
      if (eq < 0) tags[item] = "";
      else tags[item.slice(0, eq)] = unescapeTag(item.slice(eq + 1));
    }
  }
  rest = rest.replace(/^ +/, "");
  let source = "";
  if (rest.startsWith(":")) {
    const space = rest.indexOf(" ");
    source = space < 0 ? rest.slice(1) : rest.slice(1, space);
    rest = space < 0 ? "" : rest.slice(space + 1);
  }
  const params = [];
  while (rest.length) {
    rest = rest.replace(/^ +/, "");
    if (!rest.length) break;
    if (rest.startsWith(":")) {
      params.push(rest.slice(1));
      break;
    }
    const space = rest.indexOf(" ");
    if (space < 0) {
      params.push(rest);
      break;
    }
    params.push(rest.slice(0, space));
    rest = rest.slice(space + 1);
  }
  const command = (params.shift() || "").toUpperCase();
  const bang = source.indexOf("!");
  const nick = bang < 0 ? source : source.slice(0, bang);
  return { tags, source, nick, command, params };
}

// A command and its parameters → one line; the last one becomes trailing when it needs to.
export function formatLine(command, ...params) {
  const out = [command];
  params.forEach((param, index) => {
    const text = String(param).replace(/[\r\n\0]/g, " ");
    const last = index === params.length - 1;
    if (last && (text === "" || text.includes(" ") || text.startsWith(":"))) out.push(":" + text);
    else out.push(text);
  });
  return out.join(" ");
}

export function makeCasefold(mapping) {
  if (mapping === "ascii") return (name) => name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  return (name) =>
    name
      .replace(/[A-Z]/g, (c) => c.toLowerCase())
      .replace(/[[\]\\~]/g, (c) => ({ "[": "{", "]": "}", "\\": "|", "~": "^" })[c]);
}

const WANTED_CAPS = [
  "batch",
  "server-time",
  "message-tags",
  "echo-message",
  "draft/chathistory",
  "draft/event-playback",
  "multi-prefix",
  "away-notify",
  "labeled-response",
  // Issue 15's extensions: each asked for only when the server offers it, and the page works
  // without any of them.
  "draft/metadata-2",
  "draft/read-marker",
  "draft/multiline",
  "draft/message-edit",
];

// Backoff between reconnection attempts, in ms: 1 s doubling to 30 s, with ±20 % jitter.
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5));
  return Math.round(base * (0.8 + random() * 0.4));
}

// The server's WebSocket endpoint: this page's own origin.
export function defaultServerUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/irc`;
}

// The WebSocket endpoints of the network's servers, in the order to try them: the page's
// <meta name="hubbub-servers"> (the server's `[web] servers` setting, separated by spaces),
// or this page's own endpoint when that is empty. Only the server's setting names them (not
// the address bar): the page sends its password to whichever it connects to.
export function serverUrls(content, loc = window.location) {
  const urls = (content || "").split(/\s+/).filter((url) => /^wss?:\/\/\S+$/.test(url));
  return urls.length ? [...new Set(urls)] : [defaultServerUrl(loc)];
}

// Which server to try next. Round robin through `urls`: a lost or refused connection moves on
// to the next server at once; only when every server has failed in a row is there a wait
// (`backoffDelay`, growing with each such round until a registration succeeds). With one
// server that is a wait before every new attempt.
export class ServerList {
  constructor(urls, random = Math.random) {
    this.urls = [...new Set(urls)];
    if (!this.urls.length) throw new Error("no server to connect to");
    this.index = 0;
    this.failedInARow = 0;
    this.rounds = 0; // whole rounds failed since the last registration
    this.random = random;
  }

  get current() {
    return this.urls[this.index];
  }

  // The current server failed or was lost: move to the next; returns the wait in ms first.
  failed() {
    this.failedInARow += 1;
    this.index = (this.index + 1) % this.urls.length;
    if (this.failedInARow < this.urls.length) return 0;
    this.failedInARow = 0;
    const delay = backoffDelay(this.rounds, this.random);
    this.rounds += 1;
    return delay;
  }

  // Registered on the current server: the next loss starts afresh.
  registered() {
    this.failedInARow = 0;
    this.rounds = 0;
  }
}

// A WebSocket URL as a person reads it: its host and port.
export function serverName(url) {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

// One logical connection to the network, kept alive across reconnects and moves between its
// servers (`urls`, or the one `url`).
// Events (via `on(name, fn)`): "message" (parsed line), "registered", "state" (string),
// "disconnected" ({ reason, delay, from, next }: the lost server, the one tried after `delay`
// ms), "moved" ({ from, to }: registered on another server than the last time).
export class Connection {
  constructor({ url, urls, nick, realname = "hubbub web client", account = "", password = "" }) {
    this.servers = new ServerList(urls || [url]);
    this.registeredOn = null;
    // SASL PLAIN credentials, kept in memory only (for reconnects), never stored.
    this.account = account;
    this.password = password;
    this.capValues = new Map(); // capability → its value in CAP LS (e.g. multiline limits)
    this.nick = nick;
    this.wantedNick = nick; // asked for in this registration (nick_ after a 433)
    this.preferredNick = nick; // the user's nick: asked for first at every (re)connection
    this.regain = null; // the nick MONITOR watches, to take it back when it is free
    this.realname = realname;
    this.caps = new Set();
    this.isupport = new Map();
    this.casefold = makeCasefold("rfc1459");
    this.registered = false;
    this.handlers = new Map();
    this.socket = null;
    this.timer = null;
    this.stopped = false;
    this.labelCounter = 0;
    this.lsCaps = [];
  }

  // The server connected to, or tried next.
  get url() {
    return this.servers.current;
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(fn);
  }

  emit(name, value) {
    for (const fn of this.handlers.get(name) || []) fn(value);
  }

  has(cap) {
    return this.caps.has(cap);
  }

  open() {
    this.stopped = false;
    clearTimeout(this.timer);
    this.registered = false;
    this.caps = new Set();
    this.lsCaps = [];
    this.capValues = new Map();
    // An ERROR explains the close of the connection that sent it, not of later attempts.
    this.lastError = "";
    this.emit("state", "connecting");
    let socket;
    try {
      socket = new WebSocket(this.url, ["text.ircv3.net"]);
    } catch (error) {
      this.scheduleReconnect(String(error));
      return;
    }
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.sendRaw("CAP LS 302");
      this.wantedNick = this.preferredNick;
      this.regain = null; // a MONITOR list lives as long as its connection
      this.sendRaw(formatLine("NICK", this.wantedNick));
      this.sendRaw(formatLine("USER", "web", "0", "*", this.realname));
    });
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      for (const line of event.data.split(/\r?\n/)) if (line) this.receive(line);
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.registered = false;
      if (this.stopped) return;
      this.scheduleReconnect(event.reason || this.lastError || "connection closed");
    });
  }

  scheduleReconnect(reason) {
    const from = this.url;
    const delay = this.servers.failed();
    this.emit("disconnected", { reason, delay, from, next: this.url });
    this.emit("state", "disconnected");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }

  reconnectNow() {
    if (this.socket || this.stopped) return;
    this.servers.registered(); // the user asked: no wait, from the server tried next
    this.open();
  }

  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000);
  }

  sendRaw(line) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(line);
      return true;
    }
    return false;
  }

  send(command, ...params) {
    return this.sendRaw(formatLine(command, ...params));
  }

  // Send with a `label` tag when labeled-response is on; returns the label (or null).
  sendLabelled(command, ...params) {
    if (!this.has("labeled-response")) {
      this.send(command, ...params);
      return null;
    }
    this.labelCounter += 1;
    const label = "w" + this.labelCounter;
    this.sendRaw(`@label=${label} ` + formatLine(command, ...params));
    return label;
  }

  // A capability's value as key=value pairs ("max-bytes=4096,max-lines=100" → Map).
  capParams(cap) {
    const params = new Map();
    for (const item of (this.capValues.get(cap) || "").split(",").filter(Boolean)) {
      const eq = item.indexOf("=");
      params.set(eq < 0 ? item : item.slice(0, eq), eq < 0 ? "" : item.slice(eq + 1));
    }
    return params;
  }

  // Send a line with tags ({name: value}); values are escaped.
  sendTagged(tags, command, ...params) {
    const encoded = Object.entries(tags)
      .map(([name, value]) => (value === "" ? name : `${name}=${escapeTag(value)}`))
      .join(";");
    return this.sendRaw(`@${encoded} ` + formatLine(command, ...params));
  }

  receive(line) {
    const msg = parseLine(line);
    switch (msg.command) {
      case "PING":
        this.send("PONG", ...msg.params);
        return;
      case "CAP":
        this.onCap(msg);
        break;
      case "001": {
        this.registered = true;
        this.servers.registered();
        this.nick = msg.params[0];
        const from = this.registeredOn;
        this.registeredOn = this.url;
        this.emit("state", "connected");
        if (from !== null && from !== this.url) this.emit("moved", { from, to: this.url });
        this.emit("registered", msg);
        break;
      }
      case "005":
        for (const token of msg.params.slice(1, -1)) {
          const [key, ...value] = token.split("=");
          this.isupport.set(key.toUpperCase(), value.join("="));
          if (key.toUpperCase() === "CASEMAPPING") this.casefold = makeCasefold(value.join("="));
        }
        this.watchPreferredNick();
        break;
      case "731": // RPL_MONOFFLINE: these nicks are free now
        if (this.regain && this.casefold(this.nick) !== this.casefold(this.regain)) {
          const free = (msg.params[1] || "").split(",").map((target) => this.casefold(target.split("!")[0]));
          if (free.includes(this.casefold(this.regain))) this.send("NICK", this.regain);
        }
        break;
      case "433": // nick in use
      case "432": // erroneous nick
        if (!this.registered) {
          this.wantedNick =
            msg.command === "432" ? "guest" + Math.floor(Math.random() * 1000) : this.wantedNick + "_";
          this.send("NICK", this.wantedNick);
        }
        break;
      case "NICK":
        if (this.casefold(msg.nick) === this.casefold(this.nick)) {
          this.nick = msg.params[0];
          this.wantedNick = this.nick;
          this.preferredNick = this.nick; // taken back, or one the user chose: nothing to wait for
          if (this.regain) this.send("MONITOR", "-", this.regain);
          this.regain = null;
        }
        break;
      case "ERROR":
        this.lastError = msg.params[0] || "";
        break;
      case "AUTHENTICATE":
        if (msg.params[0] === "+") {
          const raw = new TextEncoder().encode(`${this.account}\0${this.account}\0${this.password}`);
          const encoded = btoa(String.fromCharCode(...raw));
          // 400-byte chunks; a chunk of exactly 400 is followed by "+".
          for (let i = 0; i < encoded.length; i += 400) this.send("AUTHENTICATE", encoded.slice(i, i + 400));
          if (encoded.length % 400 === 0) this.send("AUTHENTICATE", "+");
        }
        break;
      case "903": // SASL success
      case "904": // failed
      case "905":
      case "906":
      case "908":
        if (!this.registered && msg.command !== "908") this.send("CAP", "END");
        break;
      default:
        break;
    }
    this.emit("message", msg);
  }

  // Registered under a fallback nick (ours was held — after a move to another server, often
  // by our own lost connection until the network drops it): ask the server to say when ours
  // is free (MONITOR, when it offers it), to take it back.
  watchPreferredNick() {
    if (!this.registered || this.regain || !this.isupport.has("MONITOR")) return;
    if (this.casefold(this.nick) === this.casefold(this.preferredNick)) return;
    this.regain = this.preferredNick;
    this.send("MONITOR", "+", this.regain);
  }

  onCap(msg) {
    const sub = (msg.params[1] || "").toUpperCase();
    if (sub === "LS") {
      const more = msg.params[2] === "*";
      const list = msg.params[more ? 3 : 2] || "";
      this.lsCaps.push(...list.split(" ").filter(Boolean));
      if (more) return;
      for (const item of this.lsCaps) {
        const eq = item.indexOf("=");
        this.capValues.set(eq < 0 ? item : item.slice(0, eq), eq < 0 ? "" : item.slice(eq + 1));
      }
      const available = new Set(this.capValues.keys());
      const request = WANTED_CAPS.filter((cap) => available.has(cap));
      if (this.password && available.has("sasl")) request.push("sasl");
      if (request.length) this.send("CAP", "REQ", request.join(" "));
      else this.send("CAP", "END");
    } else if (sub === "ACK") {
      for (const cap of (msg.params[2] || "").split(" ").filter(Boolean)) {
        if (cap.startsWith("-")) this.caps.delete(cap.slice(1));
        else this.caps.add(cap);
      }
      if (!this.registered) {
        if (this.caps.has("sasl") && this.password) this.send("AUTHENTICATE", "PLAIN");
        else this.send("CAP", "END");
      }
    } else if (sub === "NAK") {
      if (!this.registered) this.send("CAP", "END");
    }
  }
}
