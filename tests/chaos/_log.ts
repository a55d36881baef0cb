// The chaos processes' own JSON-lines log (tests/chaos/node.ts, tests/chaos/clients.ts): records are buffered and
// appended to the file every 50 ms, or at once when more than 5000 are waiting, so a SIGKILL loses at most that much
// of a process's own records.
import { appendFileSync } from "node:fs";

export interface JsonLog {
  /** Buffers one record (one JSON line). */
  rec(o: Record<string, unknown>): void;
  /** Appends every buffered record to the file now. */
  flush(): void;
  /** Flushes and stops the 50 ms timer (the last call of a leaving process). */
  close(): void;
}

export function jsonLog(path: string): JsonLog {
  let buf: string[] = [];
  const flush = (): void => {
    if (buf.length === 0) return;
    const text = buf.join("\n") + "\n";
    buf = [];
    appendFileSync(path, text);
  };
  const rec = (o: Record<string, unknown>): void => {
    buf.push(JSON.stringify(o));
    if (buf.length > 5000) flush();
  };
  const timer = setInterval(flush, 50);
  return {
    rec,
    flush,
    close() {
      flush();
      clearInterval(timer);
    },
  };
}
