// The chaos history checker (docs/design.md §9 invariants). Input: every publish, ack, delivery, discontinuity and
// subscription lifetime recorded by a run (JSON lines). Output: counts and the first violations with context.
// Pure and deterministic, so it is tested on hand-made histories that must pass and must fail.

export type HistoryEvent =
  /** A publish was issued (before the ack). */
  | { ev: "pub"; node: string; room: string; id: string; t: number }
  | { ev: "ack"; node: string; room: string; id: string; seq: number; ts: number; t: number }
  | { ev: "pubfail"; node: string; room: string; id: string; code: string; t: number }
  /** A subscriber (a client connection or a node-level listener) became live for a room. */
  | { ev: "sub"; sub: string; room: string; t: number }
  | { ev: "unsub"; sub: string; room: string; t: number }
  | { ev: "deliver"; sub: string; room: string; seq: number; epoch: number; id: string; ts: number; t: number }
  | { ev: "disc"; sub: string; room: string; afterSeq: number; nextSeq: number; t: number }
  | { ev: "mem"; node: string; rss: number; t: number }
  | { ev: "fault"; kind: string; target: string; t: number }
  /** A consumer stalled on purpose past its queue budget; `closed`: the server closed it as a slow consumer in time. */
  | { ev: "stall"; node: string; room: string; closed: boolean; t: number };

export interface CheckOptions {
  /** A subscriber must have been live this long after an ack to owe that message (delivery latency slack). */
  graceMs: number;
  /** Maximum resident memory per process in bytes (0 = unchecked). */
  maxRss: number;
}

export interface Violation {
  rule: string;
  message: string;
  context: unknown;
}

export interface CheckResult {
  counts: Record<string, number>;
  violations: Violation[];
  ok: boolean;
}

type Life = { start: number; end: number };

/** Check a history. `events` may be in any order; per-subscriber delivery order is the order of `t` then input order. */
export function checkHistory(events: Iterable<HistoryEvent>, opts: Partial<CheckOptions> = {}): CheckResult {
  const graceMs = opts.graceMs ?? 3000;
  const maxRss = opts.maxRss ?? 0;
  const violations: Violation[] = [];
  const counts: Record<string, number> = {
    published: 0, acked: 0, pubFailed: 0, deliveries: 0, discontinuities: 0, subscribers: 0, faults: 0, checkedObligations: 0,
  };
  const add = (rule: string, message: string, context: unknown) => {
    counts[`violation:${rule}`] = (counts[`violation:${rule}`] ?? 0) + 1;
    if (violations.length < 50) violations.push({ rule, message, context });
  };

  const pubT = new Map<string, number>();
  const acks: Array<Extract<HistoryEvent, { ev: "ack" }>> = [];
  const lives = new Map<string, Life[]>(); // `${sub}\u0000${room}` → lifetimes
  const delivered = new Map<string, Array<Extract<HistoryEvent, { ev: "deliver" }>>>();
  const discs = new Map<string, Array<Extract<HistoryEvent, { ev: "disc" }>>>();
  const idAtSeq = new Map<string, string>(); // `${room}\u0000${seq}` → id
  let lastT = 0;

  for (const e of events) {
    lastT = Math.max(lastT, e.t);
    switch (e.ev) {
      case "pub":
        counts.published++;
        pubT.set(e.id, e.t);
        break;
      case "ack": {
        counts.acked++;
        acks.push(e);
        sameIdAtSeq(e.room, e.seq, e.id, "ack", e);
        break;
      }
      case "pubfail":
        counts.pubFailed++;
        break;
      case "sub": {
        counts.subscribers++;
        const k = key(e.sub, e.room);
        const l = lives.get(k) ?? [];
        l.push({ start: e.t, end: Infinity });
        lives.set(k, l);
        break;
      }
      case "unsub": {
        const l = lives.get(key(e.sub, e.room));
        // The last still-open lifetime (a loop rather than findLast: the project targets ES2022).
        for (let i = (l?.length ?? 0) - 1; i >= 0; i--) {
          if (l![i].end === Infinity) {
            l![i].end = e.t;
            break;
          }
        }
        break;
      }
      case "deliver": {
        counts.deliveries++;
        const k = key(e.sub, e.room);
        const list = delivered.get(k) ?? [];
        list.push(e);
        delivered.set(k, list);
        sameIdAtSeq(e.room, e.seq, e.id, "deliver", e);
        break;
      }
      case "disc": {
        counts.discontinuities++;
        const k = key(e.sub, e.room);
        const list = discs.get(k) ?? [];
        list.push(e);
        discs.set(k, list);
        break;
      }
      case "mem":
        if (maxRss > 0 && e.rss > maxRss) add("memory", `${e.node} rss ${e.rss} > ${maxRss}`, e);
        break;
      case "fault":
        counts.faults++;
        break;
      case "stall":
        counts.stalledConsumers = (counts.stalledConsumers ?? 0) + 1;
        if (!e.closed) add("slow-consumer", `${e.node}: a consumer stalled past its budget in ${e.room} was not closed as a slow consumer`, e);
        break;
    }
  }

  function sameIdAtSeq(room: string, seq: number, id: string, what: string, e: unknown) {
    const k = key(room, String(seq));
    const prev = idAtSeq.get(k);
    if (prev === undefined) idAtSeq.set(k, id);
    else if (prev !== id) add("seq-reused", `room ${room} seq ${seq} carries two ids (${prev}, ${id}) [${what}]`, e);
  }

  // (1) strictly increasing seqs, (3) each id at most once, (5) timestamps never decrease — per subscriber and room.
  const deliveredIds = new Map<string, Set<string>>();
  for (const [k, list] of delivered) {
    list.sort((a, b) => a.t - b.t);
    const ids = new Set<string>();
    for (let i = 0; i < list.length; i++) {
      const d = list[i];
      if (ids.has(d.id)) add("duplicate", `${d.sub} got id ${d.id} twice in ${d.room}`, d);
      ids.add(d.id);
      if (i > 0) {
        const p = list[i - 1];
        if (d.seq <= p.seq) add("order", `${d.sub} got seq ${d.seq} after ${p.seq} in ${d.room}`, { prev: p, next: d });
        if (d.ts < p.ts) add("timestamp", `${d.sub} saw time go back ${p.ts} → ${d.ts} in ${d.room}`, { prev: p, next: d });
      }
    }
    deliveredIds.set(k, ids);
  }

  // (4) every acked message reaches every subscriber live for its whole lifetime, or a discontinuity covers it.
  const livesByRoom = new Map<string, Array<[string, string, Life[]]>>(); // room → [sub, key, lifetimes]
  for (const [k, l] of lives) {
    const [sub, room] = k.split("\u0000");
    const list = livesByRoom.get(room) ?? [];
    list.push([sub, k, l]);
    livesByRoom.set(room, list);
  }
  for (const a of acks) {
    const issued = pubT.get(a.id) ?? a.t;
    for (const [sub, k, l] of livesByRoom.get(a.room) ?? []) {
      const owed = l.some((x) => x.start <= issued && x.end >= a.t + graceMs) && lastT >= a.t + graceMs;
      if (!owed) continue;
      counts.checkedObligations++;
      if (deliveredIds.get(k)?.has(a.id)) continue;
      const covered = discs.get(k)?.some((d) => d.afterSeq < a.seq && a.seq < d.nextSeq);
      if (!covered) add("lost", `${sub} never got acked ${a.room}#${a.seq} (${a.id}) and no discontinuity covers it`, a);
    }
  }

  return { counts, violations, ok: violations.length === 0 };
}

function key(a: string, b: string): string {
  return `${a}\u0000${b}`;
}

/** Human summary of a result. */
export function formatResult(r: CheckResult): string {
  const lines = [`checker: ${r.ok ? "OK" : "VIOLATIONS"} ${JSON.stringify(r.counts)}`];
  for (const v of r.violations.slice(0, 10)) lines.push(`  [${v.rule}] ${v.message}\n    ${JSON.stringify(v.context).slice(0, 400)}`);
  return lines.join("\n");
}
