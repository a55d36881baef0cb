// Private: the JSON messages nodes exchange on the cluster rooms (validated on receipt, never trusted).

/** Room every node listens to: heartbeats, presence deltas and snapshots. */
export const CLUSTER_ROOM = "~edgeplane:cluster";
/** Room a node listens to for sendTo / ask addressed to it. */
export const inboxRoom = (nodeId: string): string => `~edgeplane:node:${nodeId}`;
/** Rooms with this prefix are reserved for the hub; clients cannot join or publish to them. */
export const RESERVED_PREFIX = "~edgeplane:";

export type PresenceMember = { conn: string; meta?: unknown };

export type ClusterMsg =
  | { t: "hb"; node: string; bye?: boolean }
  | { t: "pd"; node: string; room: string; join?: PresenceMember[]; leave?: string[] }
  | { t: "ps"; node: string; snap: string; part: number; parts: number; rooms: Record<string, PresenceMember[]> };

export type InboxMsg =
  | { t: "send"; id: string; from: string; conn: string; data: string }
  | { t: "ask"; id: string; from: string; conn?: string; data: unknown }
  | { t: "reply"; id: string; from: string; ok: boolean; data?: unknown; error?: { code: string; message: string } };

const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);
const isStr = (v: unknown, max = 512): v is string => typeof v === "string" && v.length > 0 && v.length <= max;

function members(v: unknown): PresenceMember[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new Error("members");
  return v.map((m) => {
    if (!isObj(m) || !isStr(m.conn)) throw new Error("member");
    return { conn: m.conn, meta: m.meta };
  });
}

/** Parse a cluster-room message; throws on anything malformed (the caller counts and drops). */
export function parseClusterMsg(payload: unknown): ClusterMsg {
  if (typeof payload !== "string") throw new Error("not text");
  const m = JSON.parse(payload);
  if (!isObj(m) || !isStr(m.node)) throw new Error("shape");
  switch (m.t) {
    case "hb":
      return { t: "hb", node: m.node, bye: m.bye === true };
    case "pd":
      if (!isStr(m.room, 1024)) throw new Error("room");
      if (m.leave !== undefined && !(Array.isArray(m.leave) && m.leave.every((c) => isStr(c)))) throw new Error("leave");
      return { t: "pd", node: m.node, room: m.room, join: members(m.join), leave: m.leave as string[] | undefined };
    case "ps": {
      if (!isStr(m.snap, 64) || !Number.isSafeInteger(m.part) || !Number.isSafeInteger(m.parts) || !isObj(m.rooms)) throw new Error("snapshot");
      if ((m.parts as number) < 1 || (m.parts as number) > 10_000 || (m.part as number) < 0 || (m.part as number) >= (m.parts as number)) throw new Error("parts");
      const rooms: Record<string, PresenceMember[]> = Object.create(null);
      for (const [room, list] of Object.entries(m.rooms)) rooms[room] = members(list) ?? [];
      return { t: "ps", node: m.node, snap: m.snap, part: m.part as number, parts: m.parts as number, rooms };
    }
    default:
      throw new Error("type");
  }
}

/** Parse an inbox message; throws on anything malformed. */
export function parseInboxMsg(payload: unknown): InboxMsg {
  if (typeof payload !== "string") throw new Error("not text");
  const m = JSON.parse(payload);
  if (!isObj(m) || !isStr(m.id, 64) || !isStr(m.from)) throw new Error("shape");
  switch (m.t) {
    case "send":
      if (!isStr(m.conn) || typeof m.data !== "string") throw new Error("send");
      return { t: "send", id: m.id, from: m.from, conn: m.conn, data: m.data };
    case "ask":
      if (m.conn !== undefined && !isStr(m.conn)) throw new Error("ask");
      return { t: "ask", id: m.id, from: m.from, conn: m.conn as string | undefined, data: m.data };
    case "reply": {
      const e = m.error;
      if (e !== undefined && !(isObj(e) && typeof e.code === "string" && typeof e.message === "string")) throw new Error("reply");
      return { t: "reply", id: m.id, from: m.from, ok: m.ok === true, data: m.data, error: e as { code: string; message: string } | undefined };
    }
    default:
      throw new Error("type");
  }
}
