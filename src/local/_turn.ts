// Private: "run this at the start of the next event-loop turn" on every runtime, web standards first.
//
// A macrotask, never a timer: timers and I/O callbacks that are due run before it (so a long fanout that yields with
// it keeps the event loop responsive), but it does not wait for a timer's clamp. `setImmediate` where the runtime has
// it (Node, Deno, Bun), else a `MessageChannel` message (browsers, workers), else `setTimeout(0)`.

type G = { setImmediate?: (fn: () => void) => unknown; MessageChannel?: typeof MessageChannel };
const g = globalThis as unknown as G;

function viaChannel(): (fn: () => void) => void {
  const queue: Array<() => void> = [];
  const ch = new g.MessageChannel!();
  ch.port1.onmessage = () => {
    const batch = queue.splice(0);
    for (const fn of batch) fn();
  };
  return (fn) => {
    queue.push(fn);
    if (queue.length === 1) ch.port2.postMessage(0);
  };
}

/** Schedule `fn` for the next event-loop turn (after due timers and I/O). */
export const nextTurn: (fn: () => void) => void = typeof g.setImmediate === "function"
  ? (fn) => void g.setImmediate!(fn)
  : typeof g.MessageChannel === "function"
  ? viaChannel()
  : (fn) => void setTimeout(fn, 0);
