// The owner lease (src/exchange/nats/_lease.ts) on a hand-driven clock: valid only from a beat's echo until
// sentAt + ttl, a lapse reported once, stale echoes never extend it, and a fresh echo re-validates.
import { describe, it } from "node:test";
import { assert, assertEquals } from "@std/assert";
import { OwnerLease } from "../src/exchange/nats/_lease.ts";

describe("owner lease", () => {
  it("runs from when the echoed beat left, lapses once, and comes back with a fresh echo", () => {
    let t = 1000;
    const lease = new OwnerLease(1500, () => t);
    assert(!lease.valid(), "no lease before the first echo");
    assert(!lease.takeLapse(), "start-up is not a lapse");
    const k1 = lease.stamp();
    t += 5;
    assert(lease.echoed(k1), "the first echo validates");
    assert(lease.valid());
    const term = lease.term;
    const k1b = lease.stamp();
    t += 5;
    assert(!lease.echoed(k1b), "a renewal of a valid lease is not a revalidation");
    assertEquals(lease.term, term, "and keeps the term");
    t = 1005 + 1499;
    assert(lease.valid(), "valid until sentAt + ttl");
    t = 1005 + 1500;
    assert(!lease.valid(), "expired at sentAt + ttl, however late the echo came");
    assert(lease.takeLapse(), "a lapse is reported");
    assert(!lease.takeLapse(), "once");
    const k2 = lease.stamp();
    t += 3000; // frozen between sending and hearing the echo
    assert(!lease.echoed(k2), "an echo of a beat sent before the freeze does not revalidate");
    assert(!lease.valid());
    const k3 = lease.stamp();
    t += 2;
    assert(lease.echoed(k3), "a fresh echo revalidates");
    assertEquals(lease.term, term + 1, "after a gap the term moves on (an ack pending across the gap is not confirmed)");
    assert(!lease.echoed(k3), "an echo counts once");
    assert(!lease.echoed("x"), "garbage is ignored");
    t += 1600;
    assert(lease.takeLapse(), "a new lapse after the renewed lease runs out");
  });

  it("older echoes never shorten the lease", () => {
    let t = 0;
    const lease = new OwnerLease(100, () => t);
    const a = lease.stamp();
    t = 50;
    const b = lease.stamp();
    assert(lease.echoed(b));
    assertEquals(lease.echoed(a), false, "a beat older than the one already echoed is forgotten");
    t = 149;
    assert(lease.valid(), "still the later beat's lease");
  });
});
