// Fault: malformed envelopes and hostile room names published straight onto the exchange's NATS subjects (room
// subjects of live rooms, heartbeats, position gathering, publish and history requests of live nodes). Every one of
// them must be counted and dropped (or answered with an error); none may reach a subscriber, stall a room, or crash a
// node. Well-formed *forgeries* (a fake owner announcing a valid-looking seq) are out of scope: NATS subjects are
// trusted (use NATS accounts/permissions to keep strangers off them).
import { headers as natsHeaders, type NatsConnection } from "nats";
import { roomKey } from "../../src/exchange/nats/_subjects.ts";

const enc = new TextEncoder();

function h(fields: Record<string, string>) {
  const x = natsHeaders();
  for (const [k, v] of Object.entries(fields)) x.set(k, v);
  return x;
}

/** Publish a batch of malformed traffic; returns how many messages were sent. */
export async function injectMalformed(nc: NatsConnection, prefix: string, rooms: string[], nodeIds: string[], pick: (n: number) => number): Promise<number> {
  let sent = 0;
  const pub = (subject: string, data: string | Uint8Array, headers?: ReturnType<typeof natsHeaders>, reply?: string) => {
    nc.publish(subject, typeof data === "string" ? enc.encode(data) : data, { headers, reply });
    sent++;
  };
  const room = rooms[pick(rooms.length)];
  const other = rooms[(rooms.indexOf(room) + 1) % rooms.length];
  const subj = `${prefix}.m.${roomKey(room).token}`;
  const good = { v: "1", id: "forgedid", origin: "chaosinject", room: encodeURIComponent(room), kind: "t", epoch: "1", owner: "chaosinject", seq: "1", ts: "1" };
  // Room subject: no headers, wrong version, bad numbers, wrong room, bad encoding, bad kind, bad ids.
  pub(subj, "garbage without headers");
  pub(subj, "x", h({ ...good, v: "2" }));
  pub(subj, "x", h({ ...good, seq: "abc" }));
  pub(subj, "x", h({ ...good, seq: "-5" }));
  pub(subj, "x", h({ ...good, seq: "0" }));
  pub(subj, "x", h({ ...good, seq: "99999999999999999999" }));
  pub(subj, "x", h({ ...good, epoch: "1e3" }));
  pub(subj, "x", h({ ...good, room: encodeURIComponent(other) }));
  pub(subj, "x", h({ ...good, room: "%E0%A4%A" }));
  pub(subj, "x", h({ ...good, room: encodeURIComponent("a.b.>") }));
  pub(subj, "x", h({ ...good, room: "" }));
  pub(subj, "x", h({ ...good, kind: "zzz" }));
  pub(subj, "x", h({ ...good, id: "bad id with spaces" }));
  pub(subj, "x", h({ ...good, owner: "a.b.*" }));
  pub(subj, "x", h({ ...good, origin: "x".repeat(100) }));
  pub(subj, new Uint8Array([0xff, 0xfe, 0x00]), h({ v: "1" }));
  // Hostile room names on subjects that look like room subjects.
  for (const bad of ["a.b", "x y", "ünï", "*", "%2A"]) pub(`${prefix}.m.${encodeURIComponent(bad).replace(/[.*>\s%]/g, "_")}`, "x", h({ ...good, room: encodeURIComponent(bad) }));
  // Heartbeats: not JSON, not an object, bad node ids, bad announcements (each throws before the sender is "heard").
  pub(`${prefix}.hb`, "{not json");
  pub(`${prefix}.hb`, "[1,2,3]");
  pub(`${prefix}.hb`, JSON.stringify({ n: 5 }));
  pub(`${prefix}.hb`, JSON.stringify({ n: "a.b.>" }));
  pub(`${prefix}.hb`, JSON.stringify({ n: "chaosinject", a: "nope" }));
  pub(`${prefix}.hb`, JSON.stringify({ n: "chaosinject", a: [[roomKey(room).token, -1, 1, 1]] }));
  pub(`${prefix}.hb`, new Uint8Array(70_000));
  // Position gathering.
  pub(`${prefix}.ctl`, "nope", undefined, `${prefix}.in.chaosinject.x`);
  pub(`${prefix}.ctl`, JSON.stringify({ n: "chaosinject", t: "x" }), undefined, `${prefix}.in.chaosinject.x`);
  pub(`${prefix}.ctl`, JSON.stringify({ n: "chaosinject", t: new Array(6000).fill("a") }), undefined, `${prefix}.in.chaosinject.x`);
  // Publish and history requests to live nodes: missing headers, bad rooms, bad kinds (errors or silence, no crash).
  const node = nodeIds[pick(nodeIds.length)];
  const reqs: Array<[string, ReturnType<typeof natsHeaders> | undefined]> = [
    ["x", undefined],
    ["x", h({ v: "1" })],
    ["x", h({ v: "1", id: "chaosinj1", origin: "chaosinject", room: "", kind: "t" })],
    ["x", h({ v: "1", id: "chaosinj2", origin: "chaosinject", room: encodeURIComponent("a\u0000b"), kind: "t" })],
    ["x", h({ v: "1", id: "chaosinj3", origin: "chaosinject", room: "%", kind: "t" })],
    ["x", h({ v: "1", id: "chaosinj4", origin: "chaosinject", room: encodeURIComponent("x".repeat(1000)), kind: "t" })],
    ["x", h({ v: "1", id: "chaosinj5", origin: "chaosinject", room: encodeURIComponent(room), kind: "q" })],
  ];
  for (const [data, hh] of reqs) pub(`${prefix}.own.${node}`, data, hh, `${prefix}.in.chaosinject.r`);
  pub(`${prefix}.hist.${node}`, "{bad", undefined, `${prefix}.in.chaosinject.h`);
  pub(`${prefix}.hist.${node}`, JSON.stringify({ t: "nottoken", a: -1 }), undefined, `${prefix}.in.chaosinject.h`);
  pub(`${prefix}.hist.${node}`, JSON.stringify({ t: roomKey(room).token, a: "x" }), undefined, `${prefix}.in.chaosinject.h`);
  await nc.flush();
  return sent;
}
