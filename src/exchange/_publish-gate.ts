// Private: "subscribe, then publish" on one node loses nothing (issue 17). An exchange whose subscriptions go live
// asynchronously (SUBSCRIBE confirmed, position read) holds the room's gate from `subscribe()` until that subscription
// is positioned; `publish()` of the room on this node waits for the gate before it sends, so its seq lands above the
// position of every subscription this node started before it. Waiters resume in call order (a node's publishes keep
// their order), and a wait is bounded: past `timeoutMs` the publish rejects with BACKPLANE_UNAVAILABLE (nothing was
// sent, so nothing was sequenced).
import { EdgeplaneError } from "../errors.ts";

interface Waiter {
  resolve(): void;
  timer: ReturnType<typeof setTimeout>;
}

interface Gate {
  holds: number;
  open: boolean;
  waiters: Waiter[];
}

/** One gate per room with pending subscriptions; rooms without any cost one Map lookup per publish. */
export class PublishGates {
  readonly #gates = new Map<string, Gate>();

  /** Keep `room` closed until the returned function is called (idempotent; call it on position, unsubscribe, close). */
  hold(room: string): () => void {
    let g = this.#gates.get(room);
    if (!g || g.open) {
      g = { holds: 0, open: false, waiters: [] };
      this.#gates.set(room, g);
    }
    const gate = g;
    gate.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--gate.holds === 0) this.#open(room, gate);
    };
  }

  /** Whether `room` has a gate (pending subscriptions, or waiters not resumed yet). */
  has(room: string): boolean {
    return this.#gates.has(room);
  }

  /**
   * `undefined` when `room` has no pending subscription (the hot path: no promise, no await). Otherwise a promise that
   * resolves when every subscription started before this call is positioned, or rejects after `timeoutMs`.
   */
  wait(room: string, timeoutMs: number): Promise<void> | undefined {
    const g = this.#gates.get(room);
    if (!g) return undefined;
    // Just opened, earlier waiters not resumed yet: queue behind them (their continuations are already scheduled).
    if (g.open) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        timer: setTimeout(() => {
          const i = g.waiters.indexOf(waiter);
          if (i >= 0) g.waiters.splice(i, 1);
          reject(new EdgeplaneError("BACKPLANE_UNAVAILABLE", `this node's subscription to ${JSON.stringify(room)} did not go live within ${timeoutMs} ms; nothing was published`, { room }));
        }, timeoutMs),
      };
      g.waiters.push(waiter);
    });
  }

  /** Open every gate (the exchange is closing; waiters then see it closed). */
  openAll(): void {
    for (const [room, g] of this.#gates) if (!g.open) this.#open(room, g);
  }

  #open(room: string, g: Gate): void {
    g.open = true;
    for (const w of g.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve();
    }
    // Drop the gate only after the waiters resumed (a job queued behind theirs), so a publish called in between still
    // queues behind them instead of overtaking.
    void Promise.resolve().then(() => {
      if (this.#gates.get(room) === g) this.#gates.delete(room);
    });
  }
}
