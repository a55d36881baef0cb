// Test helper: a live migration across real node processes (examples/migration/node.ts), generic over both brokers.
// Nodes move one by one through phases 1 → 2 → 3 → 4 (each restart = SIGTERM the old process, start one with the next
// phase's config) while every node publishes. Several legs run back to back (a migration and its way back): each
// further leg starts from the previous one's phase 4 (its phase 1) and moves on through 2 → 3 → 4. Afterwards the
// results of every process instance are checked together.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Child, currentRuntime, start } from "./process.ts";

/** Where the brokers are and which way the migration goes. */
export interface MigrationBrokers {
  /** The old broker: Redis at `redisUrl` (default), or `oldKind` at `oldUrl`. */
  redisUrl?: string;
  oldKind?: "nats" | "redis";
  oldUrl?: string;
  newKind: "nats" | "redis";
  newUrl: string;
  /** Key/subject prefix on both brokers (default "edgeplane"). */
  prefix?: string;
  /** Prefix on the old / the new broker (defaults: see examples/migration/phases.ts). */
  oldPrefix?: string;
  newPrefix?: string;
  /** Broker round-trip bound of the nodes, and how long they wait for a hole to fill, ms (default 2000). */
  timeoutMs?: number;
}

/** Scale of the run. */
export interface MigrationScale {
  nodes: number;
  rooms: number;
  /** Messages per second over all nodes. */
  rate: number;
  /** Time each configuration runs before the next node restarts. */
  dwellMs: number;
}

type Row = [number, number, string];
interface InstanceResult {
  instance: string;
  nodeId: string;
  phase: number;
  sent: number;
  failed: number;
  positions: Record<string, number>;
  target: Record<string, number>;
  delivered: Record<string, Row[]>;
  acked: Record<string, Row[]>;
  events: Array<{ type: string }>;
  status: { counters: Record<string, number> };
  /** Which configuration of the whole run this instance ran (set by runMigration). */
  stage?: "first" | "middle" | "last";
}

/** Counts over every instance. */
export interface MigrationReport {
  instances: number;
  sent: number;
  acked: number;
  failed: number;
  delivered: number;
  dup: number;
  lost: number;
  reordered: number;
  /** (room, seq) pairs seen with two different ids anywhere (acks or deliveries). */
  seqReused: number;
  /** Acked messages that no instance covering their seq delivered. */
  ackedUndelivered: number;
  discontinuities: number;
  /** Rooms whose epochs go down along the seqs, or whose last-stage acks are not under a higher epoch than first-stage acks. */
  epochNotBumped: number;
  relayFailures: number;
  relayDropped: number;
  authoritySwitches: number;
  durationMs: number;
  problems: string[];
}

const here = new URL(".", import.meta.url).pathname;
const NODE_SCRIPT = join(here, "../../examples/migration/node.ts");
const ROOT = join(here, "../..");

/** Command line that runs a TypeScript script with the runtime running this test (node+tsx, deno, bun). */
export function runtimeCommand(script: string): [string, string[]] {
  const rt = currentRuntime();
  const exec = process.execPath;
  if (rt === "deno") return [exec, ["run", "-A", "--no-check", script]];
  if (rt === "bun") return [exec, [script]];
  return [exec, ["--import", "tsx", script]];
}

/**
 * Run the migration (or several legs of it back to back: leg k + 1 starts from leg k's phase 4) and return the
 * counts (does not assert; the caller does).
 */
export async function runMigration(
  legs: MigrationBrokers | MigrationBrokers[],
  scale: MigrationScale,
  log: (s: string) => void = console.log,
): Promise<MigrationReport> {
  const list = Array.isArray(legs) ? legs : [legs];
  // Steps: [leg, phase]; a further leg's phase 1 is the previous leg's phase 4, already running.
  const steps: Array<[number, number]> = [[0, 1], [0, 2], [0, 3], [0, 4]];
  for (let k = 1; k < list.length; k++) steps.push([k, 2], [k, 3], [k, 4]);
  const dir = mkdtempSync(join(tmpdir(), "edgeplane-migration-"));
  const quiesce = join(dir, "quiesce");
  const outputs: Array<{ file: string; step: number }> = [];
  const live: Array<Child | undefined> = [];
  let seq = 0;
  const t0 = Date.now();
  const launch = async (i: number, step: number): Promise<Child> => {
    const [leg, phase] = steps[step];
    const brokers = list[leg];
    const out = join(dir, `n${i}-${seq++}.json`);
    outputs.push({ file: out, step });
    const [cmd, args] = runtimeCommand(NODE_SCRIPT);
    const child = start(cmd, args, {
      cwd: ROOT,
      env: {
        NODE_ID: `n${i}`,
        PHASE: String(phase),
        OLD_KIND: brokers.oldKind ?? "redis",
        OLD_URL: brokers.oldUrl ?? brokers.redisUrl ?? "",
        REDIS_URL: brokers.redisUrl ?? "",
        NEW_KIND: brokers.newKind,
        NEW_URL: brokers.newUrl,
        OLD_PREFIX: brokers.oldPrefix ?? "",
        NEW_PREFIX: brokers.newPrefix ?? "",
        ROOMS: String(scale.rooms),
        RATE: String(scale.rate / scale.nodes),
        OUT: out,
        QUIESCE_FILE: quiesce,
        PREFIX: brokers.prefix ?? "",
        TIMEOUT_MS: String(brokers.timeoutMs ?? 2000),
        GAP_TIMEOUT_MS: String(brokers.timeoutMs ?? 2000),
      },
    });
    await child.waitFor(/READY \S+ phase=\d positioned=(\d+)/, 90_000);
    return child;
  };
  const stopNode = async (i: number) => {
    const c = live[i]!;
    c.kill("SIGTERM");
    await c.waitFor(/DONE /, 120_000);
    await c.exited;
    live[i] = undefined;
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    const first = await Promise.all(Array.from({ length: scale.nodes }, (_, i) => launch(i, 0)));
    first.forEach((c, i) => (live[i] = c));
    log(`[migration] leg 1 phase 1: ${scale.nodes} nodes up (${Date.now() - t0} ms)`);
    await pause(scale.dwellMs);
    for (let step = 1; step < steps.length; step++) {
      for (let i = 0; i < scale.nodes; i++) {
        await stopNode(i);
        live[i] = await launch(i, step);
        await pause(scale.dwellMs);
      }
      log(`[migration] leg ${steps[step][0] + 1} phase ${steps[step][1]}: every node moved (${Date.now() - t0} ms)`);
    }
    writeFileSync(quiesce, "stop");
    for (const c of live) await c!.waitFor(/QUIET /, 120_000);
    for (let i = 0; i < scale.nodes; i++) await stopNode(i);
  } finally {
    for (const c of live) await c?.stop();
  }
  const last = steps.length - 1;
  const results = outputs.map(({ file, step }) => {
    const r = JSON.parse(readFileSync(file, "utf8")) as InstanceResult;
    // The epoch check compares the very first configuration with the very last one.
    r.stage = step === 0 ? "first" : step === last ? "last" : "middle";
    return r;
  });
  rmSync(dir, { recursive: true, force: true });
  const report = check(results);
  report.durationMs = Date.now() - t0;
  return report;
}

function check(results: InstanceResult[]): MigrationReport {
  const r: MigrationReport = {
    instances: results.length, sent: 0, acked: 0, failed: 0, delivered: 0, dup: 0, lost: 0, reordered: 0, seqReused: 0,
    ackedUndelivered: 0, discontinuities: 0, epochNotBumped: 0, relayFailures: 0, relayDropped: 0, authoritySwitches: 0,
    durationMs: 0, problems: [],
  };
  const problem = (s: string) => {
    if (r.problems.length < 20) r.problems.push(s);
  };
  const idAt = new Map<string, string>(); // room|seq -> id
  const note = (room: string, seq: number, id: string, where: string) => {
    if (!id) return;
    const key = `${room}|${seq}`;
    const prev = idAt.get(key);
    if (prev === undefined) idAt.set(key, id);
    else if (prev !== id) {
      r.seqReused++;
      problem(`seq ${seq} of ${room} has two ids (${where})`);
    }
  };
  const ranges: Array<{ room: string; from: number; to: number; got: Set<number> }> = [];
  const epochs = new Map<string, { early: number; late: number }>();
  const bySeq = new Map<string, number>(); // room|seq -> epoch of the ack
  for (const inst of results) {
    r.sent += inst.sent;
    r.failed += inst.failed;
    r.discontinuities += inst.events.filter((e) => e.type === "discontinuity").length;
    const c = inst.status?.counters ?? {};
    r.relayFailures += c.relayFailures ?? 0;
    r.relayDropped += c.relayDropped ?? 0;
    r.authoritySwitches += c.authoritySwitches ?? 0;
    for (const [room, rows] of Object.entries(inst.acked)) {
      r.acked += rows.length;
      // First-stage nodes publish only through the first authority, last-stage nodes only through the last one.
      const e = epochs.get(room) ?? { early: 0, late: Infinity };
      for (const [s, ep, id] of rows) {
        note(room, s, id, `ack by ${inst.instance}`);
        if (inst.stage === "first") e.early = Math.max(e.early, ep);
        if (inst.stage === "last") e.late = Math.min(e.late, ep);
        bySeq.set(`${room}|${s}`, ep);
      }
      epochs.set(room, e);
    }
    for (const [room, rows] of Object.entries(inst.delivered)) {
      r.delivered += rows.length;
      const ids = new Set<string>();
      const pos = inst.positions[room] ?? 0;
      let last = pos;
      const got = new Set<number>();
      for (const [s, , id] of rows) {
        note(room, s, id, `delivered on ${inst.instance}`);
        if (ids.has(id)) {
          r.dup++;
          continue;
        }
        ids.add(id);
        if (s <= last) {
          r.reordered++;
          problem(`${inst.instance} ${room}: seq ${s} after ${last}`);
          continue;
        }
        if (s > last + 1) {
          r.lost += s - last - 1;
          problem(`${inst.instance} ${room}: hole ${last + 1}..${s - 1}`);
        }
        got.add(s);
        last = s;
      }
      const target = inst.target[room] ?? 0;
      if (last < target) {
        r.lost += target - last;
        problem(`${inst.instance} ${room}: stopped at ${last}, backplane had ${target}`);
      }
      ranges.push({ room, from: pos, to: last, got });
    }
  }
  // Every acked message reached every instance whose delivered range covers its seq, and at least one instance.
  for (const inst of results) {
    for (const [room, rows] of Object.entries(inst.acked)) {
      for (const [s] of rows) {
        const covering = ranges.filter((x) => x.room === room && x.from < s && s <= x.to);
        if (covering.length === 0 || covering.some((x) => !x.got.has(s))) {
          r.ackedUndelivered++;
          problem(`acked ${room}#${s} not delivered`);
        }
      }
    }
  }
  // Epochs never go down along a room's seqs.
  const perRoom = new Map<string, Array<[number, number]>>();
  for (const [key, ep] of bySeq) {
    const [room, s] = [key.slice(0, key.lastIndexOf("|")), Number(key.slice(key.lastIndexOf("|") + 1))];
    (perRoom.get(room) ?? perRoom.set(room, []).get(room)!).push([s, ep]);
  }
  for (const [room, list] of perRoom) {
    list.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < list.length; i++) {
      if (list[i][1] < list[i - 1][1]) {
        r.epochNotBumped++;
        problem(`${room}: epoch went down at seq ${list[i][0]}`);
        break;
      }
    }
  }
  for (const [room, e] of epochs) {
    if (e.early > 0 && e.late !== Infinity && !(e.late > e.early)) {
      r.epochNotBumped++;
      problem(`${room}: last-stage epoch ${e.late} is not above first-stage epoch ${e.early}`);
    }
  }
  return r;
}

/** One line with the scale and every count of a run. */
export function describeMigration(scale: MigrationScale, r: MigrationReport): string {
  return `nodes=${scale.nodes} rooms=${scale.rooms} rate=${scale.rate}/s dwell=${scale.dwellMs}ms ` +
    `instances=${r.instances} sent=${r.sent} acked=${r.acked} failed=${r.failed} delivered=${r.delivered} dup=${r.dup} ` +
    `lost=${r.lost} reordered=${r.reordered} seqReused=${r.seqReused} ackedUndelivered=${r.ackedUndelivered} ` +
    `discontinuities=${r.discontinuities} relayFailures=${r.relayFailures} relayDropped=${r.relayDropped} ` +
    `authoritySwitches=${r.authoritySwitches} epochNotBumped=${r.epochNotBumped} duration=${r.durationMs}ms`;
}

/** What a run broke of the migration's promise (empty when every acked message arrived once, in order, no seq reused). */
export function migrationProblems(scale: MigrationScale, r: MigrationReport): string[] {
  const p: string[] = [];
  if (!(r.acked > scale.rate)) p.push(`traffic did not flow for the whole run (acked ${r.acked})`);
  if (r.failed !== 0) p.push(`${r.failed} publishes failed (the authority never failed)`);
  if (r.sent !== r.acked) p.push(`sent ${r.sent} but acked ${r.acked}`);
  const zero: Array<[keyof MigrationReport, string]> = [
    ["dup", "duplicate deliveries"],
    ["lost", "holes: an instance did not catch up"],
    ["reordered", "deliveries out of seq order"],
    ["seqReused", "seqs assigned twice"],
    ["ackedUndelivered", "acked messages not delivered on an instance subscribed to them"],
    ["discontinuities", "discontinuities"],
    ["epochNotBumped", "rooms where the new authority did not continue under a higher epoch"],
    ["relayDropped", "relayed messages dropped"],
  ];
  for (const [k, what] of zero) if (r[k] !== 0) p.push(`${r[k]} ${what}`);
  return p;
}

/**
 * The full scale of a migration run, for a shared 2-core machine running every file under three runtimes: 1,000 msg/s
 * over 100 rooms from 4 node processes, but each configuration runs only MIGRATION_DWELL_MS (default 400 ms) before
 * the next restart. Broker round trips and hole waits (`timeoutMs`) get 10 s instead of the production 2 s: the runs
 * are about migration correctness, and the shared machine is sometimes overloaded far beyond what a 2 s bound is for.
 */
export const MIGRATION_SCALE: MigrationScale & { timeoutMs: number } = {
  nodes: 4,
  rooms: 100,
  rate: Number(process.env.MIGRATION_RATE ?? 1000),
  dwellMs: Number(process.env.MIGRATION_DWELL_MS ?? 400),
  timeoutMs: Number(process.env.MIGRATION_TIMEOUT_MS ?? 10_000),
};
