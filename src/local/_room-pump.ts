// Private: a hub's per-room pumps. Each room the hub is subscribed to has one pump that takes its messages, exchange
// events and joins strictly in order: dedupe by id and seq, resume (history replay or a `discontinuity` frame), then
// fanout to the local members — small rooms in one pass, large ones by a cursor across turns, several queued messages
// per member write. Every room shares one run queue ({@link TurnScheduler}) with one work budget per event-loop turn.
import { EdgeplaneError } from "../errors.ts";
import type { Exchange, ExchangeEvent, SequencedMessage, Unsubscribe } from "../exchange/exchange.ts";
import { isGap } from "../exchange/exchange.ts";
import type { JoinResult } from "../hub.ts";
import { frame, type Frame, messageFrame } from "../protocol.ts";
import { advanceTo, followDiscontinuity, isAfter } from "../exchange/_room-position.ts";
import { RecentMap } from "../_recent-map.ts";
import type { Conn } from "./_conn.ts";
import type { FanoutOptions } from "./fanout.ts";
import type { SendOutcome } from "./queue.ts";
import type { Registry } from "./registry.ts";
import { TASK_COST, TurnScheduler } from "./_scheduler.ts";

/** Hub counters the pumps move (the hub's `metrics()` reads the same object). */
export interface PumpCounters {
  messages: number;
  framesSerialized: number;
  duplicatesDropped: number;
  discontinuities: number;
  listenerErrors: number;
}

/** What the pumps need from their hub. */
export interface PumpContext {
  readonly exchange: Exchange;
  readonly registry: Registry<Conn>;
  readonly outcomes: Record<SendOutcome, number>;
  readonly counters: PumpCounters;
  readonly dedupeWindow: number | undefined;
  readonly fanout: FanoutOptions | undefined;
  readonly log: (line: string) => void;
  /** A connection became a member of `room` (presence). */
  admitted(room: string, connId: string, meta: unknown): void;
}

/** Messages of a large room fanned out together (each member gets them in one write per turn). */
const MAX_BATCH = 64;

/** An exchange event (discontinuity, …) in the room's order. */
export class EventTask {
  constructor(readonly e: ExchangeEvent) {}
}

/** A join in the room's order. */
export class JoinTask {
  constructor(
    readonly conn: Conn,
    readonly lastSeq: number | undefined,
    readonly meta: unknown,
    readonly resolve: (r: JoinResult) => void,
    readonly reject: (e: unknown) => void,
  ) {}
}

/** A room's pending work in order: messages as they came (no wrapper object per message), events, joins. */
export type Task = SequencedMessage | EventTask | JoinTask;

/** A message's fanout paused at the end of a turn's budget (rooms larger than what is left of it). */
interface FanoutCursor {
  members: Iterator<Conn>;
  /** One message, or several consecutive ones of a large room (in seq order), with their binary flags. */
  frames: Frame[];
  binaries: boolean[];
  /** Members reached so far. */
  reached: number;
  delivered: number;
  dropped: number;
  closed: number;
  turns: number;
  started: number;
}

export interface RoomState {
  name: string;
  unsubscribe: Unsubscribe;
  positioned: boolean;
  lastSeq: number;
  epoch: number;
  /** Pending tasks from `head` on (a FIFO without shifting). */
  tasks: Task[];
  head: number;
  /** In the hub's run queue. */
  scheduled: boolean;
  /** A join is waiting for history; later tasks wait behind it. */
  busy: boolean;
  cursor: FanoutCursor | undefined;
  /** Recently delivered ids → the seq they were delivered at (dedupe window). */
  ids: RecentMap<string, number>;
  listeners: Set<(m: SequencedMessage) => void>;
  positionWaiters: Array<() => void>;
}

/** The pumps of one hub's rooms. */
export class RoomPumps {
  readonly #ctx: PumpContext;
  readonly #rooms = new Map<string, RoomState>();
  readonly #scheduler: TurnScheduler<RoomState>;

  constructor(ctx: PumpContext) {
    this.#ctx = ctx;
    this.#scheduler = new TurnScheduler((s, budget) => this.#step(s, budget), ctx.fanout?.turnBudget);
    this.#scheduler.onError = (err) => ctx.log(`edgeplane hub: room step failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  }

  /** Rooms with an exchange subscription. */
  get size(): number {
    return this.#rooms.size;
  }

  /** The room's pump if it exists. */
  get(name: string): RoomState | undefined {
    return this.#rooms.get(name);
  }

  /** Unsubscribe every room (the hub is closing). */
  close(): void {
    for (const r of this.#rooms.values()) r.unsubscribe();
    this.#rooms.clear();
  }

  /** The room's pump, created (and subscribed to the exchange) on first use. */
  room(name: string): RoomState {
    const existing = this.#rooms.get(name);
    if (existing) return existing;
    const s: RoomState = {
      name,
      unsubscribe: () => {},
      positioned: false,
      lastSeq: 0,
      epoch: 0,
      tasks: [],
      head: 0,
      scheduled: false,
      busy: false,
      cursor: undefined,
      ids: new RecentMap(this.#ctx.dedupeWindow ?? 4096),
      listeners: new Set(),
      positionWaiters: [],
    };
    s.unsubscribe = this.#ctx.exchange.subscribe(name, (m) => this.enqueue(s, m), {
      onEvent: (e) => {
        if (e.type === "position" && !s.positioned) {
          s.positioned = true;
          s.lastSeq = e.seq;
          s.epoch = e.epoch;
          for (const w of s.positionWaiters.splice(0)) w();
          this.#kick(s);
        } else this.enqueue(s, new EventTask(e));
      },
    });
    this.#rooms.set(name, s);
    return s;
  }

  /** Drop the room's exchange subscription once nothing needs it (no members, listeners or pending work). */
  maybeRelease(room: string): void {
    const s = this.#rooms.get(room);
    if (!s || s.scheduled || s.busy || s.cursor || s.head < s.tasks.length || s.listeners.size > 0 || this.#ctx.registry.memberCount(room) > 0) return;
    s.unsubscribe();
    this.#rooms.delete(room);
  }

  /** Queue a message, event or join in the room's order. */
  enqueue(s: RoomState, t: Task): void {
    s.tasks.push(t);
    this.#kick(s);
  }

  #kick(s: RoomState): void {
    if (s.positioned && !s.busy && (s.cursor || s.head < s.tasks.length)) this.#scheduler.add(s);
  }

  /**
   * One visit of the run queue: continue a paused fanout, then take the room's tasks in order until the budget is
   * spent, a join waits for history, or nothing is left. Returns the budget left.
   */
  #step(s: RoomState, budget: number): number {
    if (this.#rooms.get(s.name) !== s) {
      s.tasks = [];
      s.head = 0;
      s.cursor = undefined;
      return budget;
    }
    while (budget > 0) {
      if (s.cursor) {
        budget = this.#fanout(s, s.cursor, budget);
        if (s.cursor) break;
        continue;
      }
      if (s.busy || s.head >= s.tasks.length) break;
      const t = s.tasks[s.head++];
      budget -= TASK_COST;
      if (t instanceof JoinTask) {
        const pending = this.#doJoin(s, t);
        if (pending) {
          s.busy = true;
          pending.then(() => {
            s.busy = false;
            this.#kick(s);
            this.maybeRelease(s.name);
          });
        }
      } else if (t instanceof EventTask) this.#onEvent(s, t.e);
      else budget = this.#deliver(s, t, budget);
    }
    if (s.head >= s.tasks.length) {
      s.tasks = [];
      s.head = 0;
    } else if (s.head > 1024) {
      s.tasks = s.tasks.slice(s.head);
      s.head = 0;
    }
    if (s.cursor || (!s.busy && s.head < s.tasks.length)) this.#scheduler.add(s);
    else this.maybeRelease(s.name);
    return budget;
  }

  /**
   * Dedupe and hand the message to the room's listeners; returns its frame, or undefined when it is a duplicate or
   * nobody on this node is a member.
   */
  #take(s: RoomState, m: SequencedMessage): Frame | undefined {
    if (m.room !== s.name || s.ids.has(m.id) || !isAfter(s, m)) {
      this.#ctx.counters.duplicatesDropped++;
      return undefined;
    }
    advanceTo(s, m);
    s.ids.set(m.id, m.seq);
    this.#ctx.counters.messages++;
    if (s.listeners.size > 0) {
      for (const l of s.listeners) {
        try {
          l(m);
        } catch {
          this.#ctx.counters.listenerErrors++;
        }
      }
    }
    if (this.#ctx.registry.memberCount(s.name) === 0) return undefined;
    this.#ctx.counters.framesSerialized++;
    return messageFrame(m);
  }

  /**
   * Deliver a message to the members within the budget. A room too large for what is left of the budget is fanned
   * out by a cursor across turns; a large room takes the messages queued right behind this one into the same cursor
   * (up to {@link MAX_BATCH}), so each member gets them in one write per turn instead of one write per message.
   */
  #deliver(s: RoomState, m: SequencedMessage, budget: number): number {
    const f = this.#take(s, m);
    if (f === undefined) return budget;
    const members = this.#ctx.registry.members(s.name);
    const size = members.size;
    const binary = typeof m.payload !== "string";
    if (size <= budget && size < this.#logThreshold) {
      const outcomes = this.#ctx.outcomes;
      let accepted = 0;
      for (const c of members.values()) {
        const o = c.send(f, binary);
        if (o === "accepted") accepted++;
        else outcomes[o]++;
      }
      outcomes.accepted += accepted;
      return budget - size;
    }
    const frames = [f], binaries = [binary];
    if (size >= this.#logThreshold) {
      // Only messages: a join or event behind them keeps its place (it runs after the whole batch is out).
      while (frames.length < MAX_BATCH && s.head < s.tasks.length) {
        const next = s.tasks[s.head];
        if (next instanceof JoinTask || next instanceof EventTask) break;
        s.head++;
        budget -= TASK_COST;
        const g = this.#take(s, next);
        if (g === undefined) continue;
        frames.push(g);
        binaries.push(typeof next.payload !== "string");
      }
    }
    const cursor: FanoutCursor = {
      members: members.values(),
      frames,
      binaries,
      reached: 0,
      delivered: 0,
      dropped: 0,
      closed: 0,
      turns: 0,
      started: Date.now(),
    };
    s.cursor = cursor;
    return this.#fanout(s, cursor, budget);
  }

  /** Offer the cursor's frames, in order, to each member until the room is done or the budget is spent. */
  #fanout(s: RoomState, c: FanoutCursor, budget: number): number {
    const { frames, binaries, members } = c;
    const n = frames.length;
    const outcomes = this.#ctx.outcomes;
    let accepted = 0;
    c.turns++;
    while (budget > 0) {
      const next = members.next();
      if (next.done) {
        outcomes.accepted += accepted;
        c.delivered += accepted;
        s.cursor = undefined;
        this.#fanoutDone(s, c);
        return budget;
      }
      const conn = next.value;
      c.reached++;
      for (let i = 0; i < n; i++) {
        const o = conn.send(frames[i], binaries[i]);
        if (o === "accepted") accepted++;
        else {
          outcomes[o]++;
          c.delivered++;
          if (o === "dropped") c.dropped++;
          else if (o === "closed") c.closed++;
        }
      }
      budget -= n;
    }
    outcomes.accepted += accepted;
    c.delivered += accepted;
    return 0;
  }

  get #logThreshold(): number {
    return this.#ctx.fanout?.logThreshold ?? 1000;
  }

  #fanoutDone(s: RoomState, c: FanoutCursor): void {
    if (c.reached < this.#logThreshold) return;
    (this.#ctx.fanout?.log ?? this.#ctx.log)(
      `edgeplane fanout room=${JSON.stringify(s.name).slice(0, 80)} members=${c.reached} messages=${c.frames.length} ms=${Date.now() - c.started} turns=${c.turns} dropped=${c.dropped} closed=${c.closed}`,
    );
  }


  #onEvent(s: RoomState, e: ExchangeEvent): void {
    if (e.type !== "discontinuity") return;
    this.#ctx.counters.discontinuities++;
    followDiscontinuity(s, e); // a newer generation may restart below our position (Redis lost its data)
    const f = frame({ t: "discontinuity", room: s.name, afterSeq: e.afterSeq, nextSeq: e.nextSeq, reason: e.reason });
    for (const c of this.#ctx.registry.members(s.name).values()) {
      this.#ctx.outcomes[c.send(f)]++;
      c.queue.setLastSeq(s.name, e.nextSeq - 1);
    }
  }

  /** Handle a join in the room's order; returns a promise only when it must wait for history (a resume). */
  #doJoin(s: RoomState, t: JoinTask): Promise<void> | undefined {
    const { conn } = t;
    if (conn.queue.closed) {
      t.reject(new EdgeplaneError("CLOSED", "connection closed before the join completed"));
      return undefined;
    }
    const result: JoinResult = { seq: s.lastSeq, epoch: s.epoch, replayed: 0, discontinuity: false };
    conn.send(frame({ t: "joined", room: s.name, seq: s.lastSeq, epoch: s.epoch }));
    const from = t.lastSeq;
    if (from === undefined || from === s.lastSeq) {
      this.#admit(s, t, result);
      return undefined;
    }
    if (from > s.lastSeq) {
      this.#resumeGap(s, conn, from, "client is ahead of the room (history was reset)", result);
      this.#admit(s, t, result);
      return undefined;
    }
    return this.#replay(s, t, from, result).then(
      () => this.#admit(s, t, result),
      (err) => t.reject(err),
    );
  }

  async #replay(s: RoomState, t: JoinTask, from: number, result: JoinResult): Promise<void> {
    const { conn } = t;
    let reason = "";
    try {
      const held = await this.#ctx.exchange.history(s.name, from);
      if (isGap(held)) reason = "history no longer holds the missed messages";
      else {
        for (const m of held) {
          if (m.seq > s.lastSeq) break;
          // The same id sequenced twice (a retried publish across an owner change) was delivered live once:
          // replay it where it was delivered, never again under its second seq.
          const first = s.ids.get(m.id);
          if (first !== undefined && first !== m.seq) continue;
          this.#ctx.counters.framesSerialized++;
          this.#ctx.outcomes[conn.send(messageFrame(m), typeof m.payload !== "string")]++;
          result.replayed++;
        }
        if (held.length === 0 || held[held.length - 1].seq < s.lastSeq) reason = "history ended before the room position";
      }
    } catch (err) {
      reason = `history unavailable: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (reason) this.#resumeGap(s, conn, from, reason, result);
  }

  #resumeGap(s: RoomState, conn: Conn, from: number, reason: string, result: JoinResult): void {
    result.discontinuity = true;
    this.#ctx.counters.discontinuities++;
    conn.send(frame({ t: "discontinuity", room: s.name, afterSeq: from, nextSeq: s.lastSeq + 1, reason }));
  }

  /** The joining connection becomes a member from the room's current position on. */
  #admit(s: RoomState, t: JoinTask, result: JoinResult): void {
    const { conn } = t;
    conn.queue.setLastSeq(s.name, s.lastSeq);
    if (!conn.queue.closed && this.#ctx.registry.join(conn.id, s.name)) this.#ctx.admitted(s.name, conn.id, t.meta);
    t.resolve(result);
  }
}
