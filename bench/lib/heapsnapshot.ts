// Summarize a V8 .heapsnapshot: retained-by-nobody-in-particular, just self size and count per constructor name,
// so two snapshots (before/after N idle connections) can be diffed per connection.
import { readFileSync } from "node:fs";

export interface HeapGroup {
  name: string;
  count: number;
  bytes: number;
}

export function heapGroups(file: string): Map<string, HeapGroup> {
  const snap = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const f = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const stride = f.length;
  const iType = f.indexOf("type"), iName = f.indexOf("name"), iSize = f.indexOf("self_size");
  const out = new Map<string, HeapGroup>();
  for (let i = 0; i < snap.nodes.length; i += stride) {
    const type = types[snap.nodes[i + iType]];
    let name: string;
    if (type === "object" || type === "closure" || type === "native") name = `${type === "closure" ? "closure " : ""}${snap.strings[snap.nodes[i + iName]]}`;
    else name = `(${type})`;
    const g = out.get(name) ?? { name, count: 0, bytes: 0 };
    g.count++;
    g.bytes += snap.nodes[i + iSize];
    out.set(name, g);
  }
  return out;
}

/** Per-connection growth between two snapshots, largest first. */
export function diffPer(before: Map<string, HeapGroup>, after: Map<string, HeapGroup>, n: number, top = 20): HeapGroup[] {
  const rows: HeapGroup[] = [];
  for (const [k, a] of after) {
    const b = before.get(k) ?? { name: k, count: 0, bytes: 0 };
    rows.push({ name: k, count: (a.count - b.count) / n, bytes: (a.bytes - b.bytes) / n });
  }
  return rows.sort((x, y) => y.bytes - x.bytes).slice(0, top);
}
