// Private: which exchange room carries a crossws topic. A fixed number of rooms per channel (so a fleet subscribes to
// a bounded set, and on NATS the rooms, hence the sequencing work, spread over the owner nodes), picked by a hash of
// the topic alone: every publish into a topic, whatever its namespace (`adapter.publish(topic)` has none, a peer's
// has its own), lands in one room and so in one order.

/** FNV-1a (32 bit) over the UTF-16 code units: the same on every runtime, no allocation. */
export function topicHash(topic: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < topic.length; i++) {
    h ^= topic.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The shard (0 … shards-1) of a topic. */
export function shardOf(topic: string, shards: number): number {
  return topicHash(topic) % shards;
}

/** The exchange room of one shard of a channel. */
export function shardRoom(channel: string, shard: number): string {
  return `${channel}#${shard}`;
}
