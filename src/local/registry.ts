/**
 * Connection ⇄ room registry, indexed both ways with Maps (O(1) lookups, safe for any room string including
 * `__proto__`). Join and leave are idempotent; removing a connection removes it from every room.
 *
 * @module
 */
import { EdgeplaneError } from "../errors.ts";

/**
 * Registry of connections of type `C` and the rooms they are in.
 *
 * @example
 * ```ts
 * const reg = new Registry<{ send(t: string): void }>();
 * reg.add("c1", conn);
 * reg.join("c1", "lobby"); // true
 * reg.join("c1", "lobby"); // false (already in)
 * reg.remove("c1");        // ["lobby"]
 * ```
 */
export class Registry<C> {
  readonly #conns = new Map<string, { conn: C; rooms: Set<string> }>();
  readonly #rooms = new Map<string, Map<string, C>>();

  /** Number of registered connections. */
  get connectionCount(): number {
    return this.#conns.size;
  }

  /** Number of rooms with at least one member. */
  get roomCount(): number {
    return this.#rooms.size;
  }

  /** Register a connection. Throws `BAD_OPTION` if the id is taken. */
  add(id: string, conn: C): void {
    if (this.#conns.has(id)) throw new EdgeplaneError("BAD_OPTION", `connection id ${id} is already registered`);
    this.#conns.set(id, { conn, rooms: new Set() });
  }

  /** The connection registered under `id`, if any. */
  get(id: string): C | undefined {
    return this.#conns.get(id)?.conn;
  }

  /** True when a connection is registered under `id`. */
  has(id: string): boolean {
    return this.#conns.has(id);
  }

  /** All connections. */
  connections(): IterableIterator<C> {
    return Array.from(this.#conns.values(), (e) => e.conn)[Symbol.iterator]();
  }

  /** Put a connection in a room. Returns false when it was already there. Throws `UNKNOWN_CONNECTION`. */
  join(id: string, room: string): boolean {
    const entry = this.#entry(id);
    if (entry.rooms.has(room)) return false;
    entry.rooms.add(room);
    let members = this.#rooms.get(room);
    if (!members) this.#rooms.set(room, (members = new Map()));
    members.set(id, entry.conn);
    return true;
  }

  /** Take a connection out of a room. Returns false when it was not there. Unknown ids are a no-op (false). */
  leave(id: string, room: string): boolean {
    const entry = this.#conns.get(id);
    if (!entry || !entry.rooms.delete(room)) return false;
    const members = this.#rooms.get(room);
    members?.delete(id);
    if (members && members.size === 0) this.#rooms.delete(room);
    return true;
  }

  /** Rooms a connection is in (empty for unknown ids). */
  roomsOf(id: string): ReadonlySet<string> {
    return this.#conns.get(id)?.rooms ?? EMPTY;
  }

  /** Members of a room, live view (empty for unknown rooms). */
  members(room: string): ReadonlyMap<string, C> {
    return this.#rooms.get(room) ?? EMPTY_MAP;
  }

  /** Number of connections in `room` (0 for an unknown room). */
  memberCount(room: string): number {
    return this.#rooms.get(room)?.size ?? 0;
  }

  /** Remove a connection from every room and from the registry; returns the rooms it left. Idempotent. */
  remove(id: string): string[] {
    const entry = this.#conns.get(id);
    if (!entry) return [];
    const rooms = [...entry.rooms];
    for (const room of rooms) this.leave(id, room);
    this.#conns.delete(id);
    return rooms;
  }

  #entry(id: string) {
    const entry = this.#conns.get(id);
    if (!entry) throw new EdgeplaneError("UNKNOWN_CONNECTION", `unknown connection ${JSON.stringify(id).slice(0, 80)}`);
    return entry;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
const EMPTY_MAP: ReadonlyMap<string, never> = new Map<string, never>();
