// The web client's list of servers, in Node (node:test, no browser, no npm packages): the
// round robin of ServerList, the URLs a page takes from its meta tag, and a Connection moving
// to the next server when its WebSocket closes. Run by tests/web/test_irc_js.py.

import assert from "node:assert/strict";
import { mock, test } from "node:test";

import { Connection, ServerList, serverName, serverUrls } from "../../src/hubbub/web/static/irc.js";

const PAGE = { protocol: "https:", host: "chat.example.org" };

test("a page without a list uses its own endpoint", () => {
  assert.deepEqual(serverUrls("", PAGE), ["wss://chat.example.org/irc"]);
  assert.deepEqual(serverUrls(undefined, { protocol: "http:", host: "127.0.0.1:8080" }), [
    "ws://127.0.0.1:8080/irc",
  ]);
});

test("the meta tag's list, in order, without repeats or anything but ws(s) URLs", () => {
  const content = " ws://a:1/irc  wss://b/irc\nws://a:1/irc javascript:x https://c/irc ";
  assert.deepEqual(serverUrls(content, PAGE), ["ws://a:1/irc", "wss://b/irc"]);
});

test("round robin: the next server at once, a wait only when all failed in a row", () => {
  const list = new ServerList(["ws://a/irc", "ws://b/irc", "ws://c/irc"], () => 0.5);
  assert.equal(list.current, "ws://a/irc");
  assert.equal(list.failed(), 0);
  assert.equal(list.current, "ws://b/irc");
  assert.equal(list.failed(), 0);
  assert.equal(list.current, "ws://c/irc");
  assert.equal(list.failed(), 1000); // the whole list failed: 1 s (jitter 0.5 → ×1.0)
  assert.equal(list.current, "ws://a/irc");
  assert.equal(list.failed(), 0);
  assert.equal(list.failed(), 0);
  assert.equal(list.failed(), 2000); // the second round in a row waits longer
  list.registered(); // on a: the next loss starts afresh
  assert.equal(list.failed(), 0);
  assert.equal(list.current, "ws://b/irc");
});

test("one server: a wait before every attempt, capped at 30 s with jitter", () => {
  const list = new ServerList(["ws://a/irc"], () => 1);
  const delays = Array.from({ length: 8 }, () => list.failed());
  assert.deepEqual(delays, [1200, 2400, 4800, 9600, 19200, 36000, 36000, 36000]);
  assert.throws(() => new ServerList([]), /no server/);
});

test("a server's name is its host and port", () => {
  assert.equal(serverName("wss://chat-b.example.org:8443/irc"), "chat-b.example.org:8443");
});

// A WebSocket stand-in: records the URL it was opened on; the test fires its events.
class FakeSocket {
  static opened = [];
  static OPEN = 1;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.listeners = new Map();
    FakeSocket.opened.push(this);
  }
  addEventListener(name, fn) {
    this.listeners.set(name, fn);
  }
  fire(name, event = {}) {
    if (name === "open") this.readyState = FakeSocket.OPEN;
    this.listeners.get(name)(event);
  }
  send(line) {
    this.sent.push(line);
  }
  close() {}
}

test("a lost connection moves to the next server, keeping nick and password", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  globalThis.WebSocket = FakeSocket;
  try {
    const conn = new Connection({
      urls: ["ws://a/irc", "ws://b/irc"],
      nick: "mover",
      account: "mover",
      password: "sesame",
    });
    const seen = [];
    conn.on("disconnected", (lost) => seen.push(["disconnected", lost]));
    conn.on("moved", (move) => seen.push(["moved", move]));
    conn.on("registered", () => seen.push(["registered", conn.url]));
    conn.open();
    const first = FakeSocket.opened.at(-1);
    assert.equal(first.url, "ws://a/irc");
    first.fire("open");
    first.fire("message", { data: ":a 001 mover :Welcome\r\n" });
    assert.deepEqual(seen, [["registered", "ws://a/irc"]]);

    first.fire("close", { reason: "" });
    assert.deepEqual(seen[1], [
      "disconnected",
      { reason: "connection closed", delay: 0, from: "ws://a/irc", next: "ws://b/irc" },
    ]);
    mock.timers.tick(0);
    const second = FakeSocket.opened.at(-1);
    assert.equal(second.url, "ws://b/irc");
    second.fire("open");
    assert.ok(second.sent.includes("NICK mover"), second.sent);
    second.fire("message", { data: ":b CAP * LS :sasl\r\n" });
    assert.ok(second.sent.includes("CAP REQ sasl"), second.sent); // the password is kept
    second.fire("message", { data: ":b 001 mover :Welcome\r\n" });
    assert.deepEqual(seen.slice(2), [
      ["moved", { from: "ws://a/irc", to: "ws://b/irc" }],
      ["registered", "ws://b/irc"],
    ]);

    // b refuses, then a refuses: the whole list failed, so now there is a wait.
    second.fire("close", { reason: "" });
    assert.equal(seen.at(-1)[1].delay, 0);
    mock.timers.tick(0);
    FakeSocket.opened.at(-1).fire("close", { reason: "" });
    const wait = seen.at(-1)[1];
    assert.equal(wait.next, "ws://b/irc");
    assert.ok(wait.delay >= 800 && wait.delay <= 1200, wait);
    const before = FakeSocket.opened.length;
    mock.timers.tick(wait.delay - 1);
    assert.equal(FakeSocket.opened.length, before);
    mock.timers.tick(1);
    assert.equal(FakeSocket.opened.at(-1).url, "ws://b/irc");
    conn.close();
  } finally {
    mock.timers.reset();
    delete globalThis.WebSocket;
  }
});

test("a nick still held after a move is watched (MONITOR) and taken back when free", () => {
  mock.timers.enable({ apis: ["setTimeout"] });
  globalThis.WebSocket = FakeSocket;
  try {
    const conn = new Connection({ urls: ["ws://a/irc", "ws://b/irc"], nick: "mover" });
    conn.open();
    const socket = FakeSocket.opened.at(-1);
    socket.fire("open");
    socket.fire("message", { data: ":b 433 * mover :Nickname is already in use" });
    assert.equal(socket.sent.at(-1), "NICK mover_");
    socket.fire("message", { data: ":b 001 mover_ :Welcome" });
    socket.fire("message", { data: ":b 005 mover_ MONITOR=100 :are supported" });
    assert.equal(socket.sent.at(-1), "MONITOR + mover");
    socket.fire("message", { data: ":b 731 mover_ :bob,MOVER" });
    assert.equal(socket.sent.at(-1), "NICK mover");
    socket.fire("message", { data: ":mover_!~web@h NICK mover" });
    assert.equal(conn.nick, "mover");
    assert.equal(socket.sent.at(-1), "MONITOR - mover");
    const count = socket.sent.length;
    socket.fire("message", { data: ":b 731 mover :mover" });
    assert.equal(socket.sent.length, count); // late news changes nothing

    conn.close();
    // A new connection asks for the user's nick first, not the fallback.
    const again = new Connection({ urls: ["ws://a/irc"], nick: "ada" });
    again.open();
    const first = FakeSocket.opened.at(-1);
    first.fire("open");
    first.fire("message", { data: ":a 433 * ada :in use" });
    first.fire("message", { data: ":a 001 ada_ :Welcome" });
    first.fire("close", { reason: "" });
    again.open(); // what the reconnection timer does
    const second = FakeSocket.opened.at(-1);
    second.fire("open");
    assert.ok(second.sent.includes("NICK ada"), second.sent);
    again.close();
  } finally {
    mock.timers.reset();
    delete globalThis.WebSocket;
  }
});
