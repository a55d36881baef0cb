/**
 * The chat page's script (bundled with the client into `/app.js`). Rooms, messages, who is online in the room (the
 * hub's presence frames: every member joins with `meta: { name }`) and the connection state.
 * Query parameters: `name`, `room`, `transports` (e.g. `sse,poll`), `nodes` (fleet URLs to fail over between).
 *
 * @module
 */
import { EdgeplaneClient } from "../../src/client/mod.ts";
import type { TransportKind } from "../../src/transport/connection.ts";

type Payload = { k: "chat"; user: string; text: string };

const q = new URLSearchParams(location.search);
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const nameInput = $<HTMLInputElement>("name");
nameInput.value = q.get("name") ?? `guest-${Math.random().toString(36).slice(2, 6)}`;
const me = () => nameInput.value.trim() || "anonymous";

const transports = q.get("transports")?.split(",").filter((t): t is TransportKind => t === "ws" || t === "sse" || t === "poll");
// `nodes=http://a:8787,http://b:8787`: several nodes of one fleet; the client resumes on the next one when a node
// goes away (no sticky sessions). Default: this page's own server.
const nodes = q.get("nodes")?.split(",").filter(Boolean);
const client = new EdgeplaneClient({
  url: nodes?.length ? nodes : new URL(".", location.href),
  transports: transports?.length ? transports : undefined,
});
(globalThis as Record<string, unknown>).chatClient = client;

const rooms = new Map<string, { lines: HTMLElement[]; online: string[] }>();
let current = "";

const status = $("status");
client.on("state", (s) => {
  status.dataset.state = s.state;
  status.dataset.transport = s.transport ?? "";
  status.textContent = s.state === "open" ? `connected via ${s.transport}` : s.state;
});

function line(room: string, el: HTMLElement): void {
  const r = rooms.get(room);
  if (!r) return;
  r.lines.push(el);
  if (r.lines.length > 500) r.lines.shift();
  if (room === current) {
    const box = $("messages");
    box.append(el);
    while (box.childElementCount > 500) box.firstElementChild?.remove();
    box.scrollTop = box.scrollHeight;
  }
}

function renderRooms(): void {
  const ul = $("rooms");
  ul.replaceChildren(...[...rooms.keys()].map((name) => {
    const li = document.createElement("li");
    li.textContent = name;
    li.dataset.room = name;
    if (name === current) li.className = "current";
    li.onclick = () => select(name);
    return li;
  }));
  $("room-title").textContent = current ? `# ${current}` : "";
}

function renderOnline(): void {
  const names = rooms.get(current)?.online ?? [];
  $("online").replaceChildren(...names.map((n) => {
    const li = document.createElement("li");
    li.textContent = n;
    return li;
  }));
}

function select(room: string): void {
  current = room;
  $("messages").replaceChildren(...(rooms.get(room)?.lines ?? []));
  renderRooms();
  renderOnline();
}

function note(room: string, text: string): void {
  const el = document.createElement("div");
  el.className = "note";
  el.textContent = text;
  line(room, el);
}

async function join(room: string): Promise<void> {
  room = room.trim();
  if (!room) return;
  if (!rooms.has(room)) rooms.set(room, { lines: [], online: [] });
  select(room);
  try {
    await client.join(room, { meta: { name: me() } });
  } catch (err) {
    note(room, `cannot join ${room}: ${(err as Error).message}`);
    setTimeout(() => {
      rooms.delete(room);
      if (current === room) select([...rooms.keys()][0] ?? "");
      else renderRooms();
    }, 3000);
  }
}

client.on("presence", (p) => {
  const r = rooms.get(p.room);
  if (!r) return;
  const names = new Set<string>();
  for (const m of p.members ?? []) {
    const name = (m.meta as { name?: unknown } | undefined)?.name;
    names.add(typeof name === "string" ? name : m.conn.slice(-6));
  }
  r.online = [...names].sort();
  if (p.room === current) renderOnline();
});

client.on("message", (m) => {
  if (!rooms.has(m.room) || m.data === undefined) return;
  let p: Payload;
  try {
    p = JSON.parse(m.data);
  } catch {
    return;
  }
  if (p?.k !== "chat" || typeof p.user !== "string" || typeof p.text !== "string") return;
  const el = document.createElement("div");
  el.className = "msg";
  el.dataset.seq = String(m.seq);
  const who = document.createElement("b");
  who.textContent = p.user;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = p.text;
  const seq = document.createElement("span");
  seq.className = "seq";
  seq.textContent = `#${m.seq}`;
  el.append(who, text, seq);
  line(m.room, el);
});

client.on("discontinuity", (d) => note(d.room, `missed messages ${d.afterSeq + 1}…${d.nextSeq - 1} (${d.reason})`));

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("room-input");
  void join(input.value);
  input.value = "";
});
$("send-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("text");
  const text = input.value.trim();
  if (!text || !current) return;
  const room = current;
  client.publish(room, JSON.stringify({ k: "chat", user: me(), text } satisfies Payload)).catch((err) => note(room, `not sent: ${err.message}`));
  input.value = "";
});

void join(q.get("room") ?? "lobby");
