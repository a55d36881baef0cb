// Test helper: a loopback TCP proxy whose connections can all be killed at once (both sides destroyed, no goodbye),
// to cut a client's connection mid-stream the way a network failure does.
import { connect, createServer, type Socket } from "node:net";

export interface TcpProxy {
  port: number;
  url: string;
  /** Destroy every proxied connection now; returns how many there were. */
  killAll(): number;
  /** While on, every new connection is destroyed as soon as it arrives (the network is down). */
  outage(on: boolean): void;
  close(): Promise<void>;
}

export function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let isDown = false;
  const server = createServer((down) => {
    if (isDown) {
      down.destroy();
      return;
    }
    const up = connect(targetPort, "127.0.0.1");
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on("error", drop);
    up.on("error", drop);
    down.on("close", drop);
    up.on("close", drop);
    down.pipe(up);
    up.pipe(down);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const addr = server.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      resolve({
        port,
        url: `http://127.0.0.1:${port}`,
        outage(on: boolean) {
          isDown = on;
        },
        killAll() {
          const n = pairs.size;
          for (const [down, up] of [...pairs]) {
            const hard = down as Socket & { resetAndDestroy?: () => void };
            if (typeof hard.resetAndDestroy === "function") hard.resetAndDestroy();
            else down.destroy();
            up.destroy();
          }
          pairs.clear();
          return n;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const [down, up] of pairs) {
              down.destroy();
              up.destroy();
            }
            server.close(() => done());
          }),
      });
    });
  });
}
