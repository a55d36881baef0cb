/**
 * Prometheus text exposition of a hub's metrics snapshot (no dependency; web standards only).
 *
 * @module
 */
import type { HubMetrics } from "./hub.ts";

/**
 * Render {@link HubMetrics} (and optional extra gauges) in the Prometheus text format (version 0.0.4).
 * Counters end in `_total`; the exchange's counters are labelled with the exchange kind.
 *
 * @example
 * ```ts
 * const body = prometheusText(hub.metrics(), { sse_sessions: 3 });
 * // # TYPE edgeplane_connections gauge
 * // edgeplane_connections{node="n1"} 12
 * ```
 */
export function prometheusText(m: HubMetrics, extraGauges: Record<string, number> = {}): string {
  const out: string[] = [];
  const node = `node="${escapeLabel(m.nodeId)}"`;
  const metric = (name: string, type: "gauge" | "counter", value: number, labels = node) => {
    out.push(`# TYPE edgeplane_${name} ${type}`, `edgeplane_${name}{${labels}} ${Number.isFinite(value) ? value : 0}`);
  };
  metric("connections", "gauge", m.connections);
  metric("rooms", "gauge", m.rooms);
  metric("subscribed_rooms", "gauge", m.subscribedRooms);
  metric("queued_bytes", "gauge", m.queuedBytes);
  metric("draining", "gauge", m.draining ? 1 : 0);
  out.push("# TYPE edgeplane_frames_total counter");
  for (const [outcome, n] of Object.entries(m.outcomes)) out.push(`edgeplane_frames_total{${node},outcome="${outcome}"} ${n}`);
  for (const k of ["messages", "framesSerialized", "duplicatesDropped", "discontinuities", "slowConsumerCloses", "badFrames", "listenerErrors"] as const) {
    metric(`${snake(k)}_total`, "counter", m[k]);
  }
  out.push("# TYPE edgeplane_refused_total counter");
  for (const [reason, n] of Object.entries(m.refused)) out.push(`edgeplane_refused_total{${node},reason="${snake(reason)}"} ${n}`);
  const ex = `${node},exchange="${escapeLabel(m.exchange.kind)}"`;
  metric("exchange_ready", "gauge", m.exchange.state === "ready" ? 1 : 0, ex);
  metric("exchange_epoch", "gauge", m.exchange.epoch, ex);
  for (const [k, v] of Object.entries(m.exchange.counters)) {
    if (typeof v === "number") metric(`exchange_${snake(k)}_total`, "counter", v, ex);
  }
  if (m.cluster) {
    metric("cluster_nodes", "gauge", m.cluster.nodes.length);
    metric("cluster_pending_asks", "gauge", m.cluster.pendingAsks);
    for (const [k, v] of Object.entries(m.cluster.counters)) metric(`cluster_${snake(k)}_total`, "counter", v);
  }
  for (const [k, v] of Object.entries(extraGauges)) metric(snake(k), "gauge", v);
  return out.join("\n") + "\n";
}

function snake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/[^a-z0-9_]/g, "_");
}

function escapeLabel(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
