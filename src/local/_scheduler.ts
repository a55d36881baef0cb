// Private: the hub's run queue. Rooms with work are served round robin, with one work budget per event-loop turn
// shared by every room and message (a delivery costs 1, a message or join a fixed overhead): a burst of any shape —
// one huge room, many small ones, thousands of messages — runs in slices, and between slices the event loop runs
// timers and I/O. A lone message in an idle hub is handled in the same turn (a microtask), never after a timer.
import { nextTurn } from "./_turn.ts";

/** Something the scheduler can hold; `scheduled` is owned by the scheduler (true while it is in the run queue). */
export interface Schedulable {
  scheduled: boolean;
}

/** Work units per turn unless configured. About 1–3 ms of fanout on the runtimes we test. */
export const DEFAULT_TURN_BUDGET = 16_384;
/** What a message (or join, or event) costs beyond its deliveries. */
export const TASK_COST = 16;

const IDLE = 0, SOON = 1, RUNNING = 2, YIELDED = 3;

export class TurnScheduler<T extends Schedulable> {
  readonly #step: (item: T, budget: number) => number;
  readonly #budget: number;
  #queue: T[] = [];
  #head = 0;
  #state = IDLE;
  /** Turns that ended with work left (the scheduler yielded to the event loop). */
  yields = 0;
  /** A step that threw (a bug: steps guard their own callbacks); the scheduler carries on with the next item. */
  onError: ((err: unknown) => void) | undefined;

  /** `step(item, budget)` does up to `budget` units of the item's work, re-adds it if work remains, returns what is left. */
  constructor(step: (item: T, budget: number) => number, budget = DEFAULT_TURN_BUDGET) {
    this.#step = step;
    this.#budget = Math.max(1, budget);
  }

  /** Put an item in the run queue (no-op if it is there already). */
  add(item: T): void {
    if (item.scheduled) return;
    item.scheduled = true;
    this.#queue.push(item);
    if (this.#state === IDLE) {
      this.#state = SOON;
      queueMicrotask(this.#run);
    }
  }

  #run = (): void => {
    this.#state = RUNNING;
    let budget = this.#budget;
    try {
      while (this.#head < this.#queue.length && budget > 0) {
        const item = this.#queue[this.#head++];
        item.scheduled = false;
        try {
          budget = this.#step(item, budget);
        } catch (err) {
          this.onError?.(err);
        }
      }
    } finally {
      if (this.#head < this.#queue.length) {
        if (this.#head > 1024) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        this.#state = YIELDED;
        this.yields++;
        nextTurn(this.#run);
      } else {
        this.#queue.length = 0;
        this.#head = 0;
        this.#state = IDLE;
      }
    }
  };
}
