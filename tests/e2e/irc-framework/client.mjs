// One irc-framework client (the IRC library Kiwi IRC is built on) for hubbub's end-to-end
// tests (tests/support/irc_framework.py). Usage: node client.mjs HOST PORT NICK [CAP...]
// What the library reports comes out on stdout, one JSON object per line ({"type": ...}); the
// test's commands come in on stdin, one JSON object per line ({"do": ...}). No test logic here:
// the library decides what to request, parse and emit, as it does for Kiwi IRC.
import { createInterface } from "node:readline";
import IRC from "irc-framework";

const [host, port, nick, ...caps] = process.argv.slice(2);
const client = new IRC.Client();
if (caps.length) client.requestCap(caps);

function out(type, fields) {
  process.stdout.write(JSON.stringify({ type, ...fields }) + "\n");
}

function batchOf(event) {
  return event.batch ? { type: event.batch.type, params: event.batch.params } : null;
}

client.on("registered", (event) => {
  out("registered", { nick: event.nick, caps: client.network.cap.enabled });
});
client.on("join", (event) => {
  out("join", { nick: event.nick, channel: event.channel, time: event.time ?? null });
});
client.on("part", (event) => out("part", { nick: event.nick, channel: event.channel }));
client.on("quit", (event) => out("quit", { nick: event.nick, message: event.message }));
client.on("nick", (event) => out("nick", { nick: event.nick, new_nick: event.new_nick }));
for (const kind of ["privmsg", "notice", "action"]) {
  client.on(kind, (event) => {
    out(kind, {
      nick: event.nick,
      target: event.target,
      message: event.message,
      time: event.time ?? null,
      msgid: event.tags?.msgid ?? null,
      batch: batchOf(event),
    });
  });
}
client.on("topic", (event) => out("topic", { channel: event.channel, topic: event.topic, nick: event.nick ?? null }));
client.on("userlist", (event) => {
  out("userlist", { channel: event.channel, users: event.users.map((user) => [user.nick, user.modes]) });
});
client.on("whois", (event) => {
  out("whois", {
    nick: event.nick, ident: event.ident, hostname: event.hostname, server: event.server,
    server_info: event.server_info, channels: event.channels, error: event.error ?? null,
  });
});
client.on("batch start", (event) => out("batch start", { batch_type: event.type, params: event.params }));
client.on("batch end", (event) => out("batch end", { batch_type: event.type, params: event.params }));
client.on("irc error", (event) => out("irc error", { error: event.error, reason: event.reason ?? null }));
client.on("close", () => {
  out("close", {});
  process.exit(0);
});

// Commands wait for the registration (the test may send them before it is over).
let registered = false;
const waiting = [];
client.on("registered", () => {
  registered = true;
  waiting.splice(0).forEach(run);
});

createInterface({ input: process.stdin }).on("line", (line) => {
  if (registered) run(line);
  else waiting.push(line);
});

function run(line) {
  const command = JSON.parse(line);
  if (command.do === "join") client.join(command.channel);
  else if (command.do === "say") client.say(command.target, command.text);
  else if (command.do === "whois") client.whois(command.nick);
  else if (command.do === "raw") client.raw(command.line);
  else if (command.do === "quit") client.quit(command.text);
  else out("driver error", { error: `unknown command ${line}` });
}

client.connect({
  host, port: Number(port), nick, username: nick, gecos: `${nick} via irc-framework`,
  auto_reconnect: false,
});
