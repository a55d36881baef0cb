// Test helper: edgeplane clients over a chosen transport that record what they receive, plus publishing helpers.
import { EdgeplaneClient, type ClientMessage } from "../../src/client/mod.ts";
import type { ServerFrame } from "../../src/protocol.ts";
import type { TransportKind } from "../../src/transport/connection.ts";
import { waitUntil } from "./process.ts";

type WsCtor = new (url: string) => WebSocket;
let wsCtor: WsCtor | undefined;

/** The runtime's WebSocket client class (`ws` on Node 20, which has no global WebSocket). */
export async function webSocketClass(): Promise<WsCtor> {
  if (wsCtor) return wsCtor;
  const g = (globalThis as { WebSocket?: WsCtor }).WebSocket;
  wsCtor = g ?? ((await import("ws")).default as unknown as WsCtor);
  return wsCtor;
}

export interface Recorder {
  client: EdgeplaneClient;
  kind: TransportKind;
  messages: ClientMessage[];
  frames: ServerFrame[];
  /** Seqs of raw `msg` frames per room as they arrived (before the client's duplicate filter). */
  rawSeqs: Map<string, number[]>;
  welcomes: number;
  errors: Array<Extract<ServerFrame, { t: "error" }>>;
  seqs(room: string): number[];
}

/** A client restricted to one transport, recording everything. */
export async function recorder(url: string, kind: TransportKind, extra: { pollWaitMs?: number } = {}): Promise<Recorder> {
  const client = new EdgeplaneClient({
    url,
    transports: [kind],
    WebSocket: await webSocketClass(),
    backoff: { initialMs: 50, maxMs: 500 },
    pollWaitMs: extra.pollWaitMs ?? 5000,
  });
  const r: Recorder = {
    client,
    kind,
    messages: [],
    frames: [],
    rawSeqs: new Map(),
    welcomes: 0,
    errors: [],
    seqs: (room) => r.messages.filter((m) => m.room === room).map((m) => m.seq),
  };
  client.on("message", (m) => r.messages.push(m));
  client.on("frame", (f) => {
    r.frames.push(f);
    if (f.t === "welcome") r.welcomes++;
    if (f.t === "error") r.errors.push(f);
    if (f.t === "msg") {
      let a = r.rawSeqs.get(f.room);
      if (!a) r.rawSeqs.set(f.room, (a = []));
      a.push(f.seq);
    }
  });
  return r;
}

/** Publish `n` messages (pipelined, at most `window` unacknowledged); resolves with the acknowledged seqs. */
export async function publishMany(
  client: EdgeplaneClient,
  room: string,
  n: number,
  opts: { window?: number; payload?: (i: number) => string; from?: number } = {},
): Promise<number[]> {
  const window = opts.window ?? 64;
  const payload = opts.payload ?? ((i: number) => `m${i}`);
  const seqs: number[] = [];
  const inflight = new Set<Promise<void>>();
  for (let i = opts.from ?? 0; i < (opts.from ?? 0) + n; i++) {
    const p: Promise<void> = client.publish(room, payload(i)).then((a) => {
      seqs.push(a.seq);
      inflight.delete(p);
    });
    inflight.add(p);
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return seqs.sort((a, b) => a - b);
}

/** 1..n */
export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Wait until the client is open. */
export function opened(r: Recorder, timeoutMs = 15_000): Promise<void> {
  return waitUntil(() => r.client.state === "open", `${r.kind} client open`, timeoutMs);
}
