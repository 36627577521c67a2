/**
 * The three `_ping` clients the round-trip benches compare: a raw socket
 * floor (fixed request bytes, minimal parse), Deno's `fetch` over the same
 * Unix socket, and berth.
 *
 * @module
 */

import { Docker } from "../mod.ts";

const encoder = new TextEncoder();
const PING = encoder.encode("GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n");

/** One client that can ping repeatedly and be closed. */
export interface PingClient {
  name: string;
  /** One `_ping`, exactly as a caller would write it (no wrapper of the bench's own). */
  ping(): Promise<unknown>;
  close(): void;
}

/** Busy for `micros` µs: stands for a client's own work between calls. */
function work(micros: number): void {
  const end = performance.now() + micros / 1000;
  while (performance.now() < end) {
    // Spinning on the clock.
  }
}

/**
 * The floor: one kept-alive socket, the request as fixed bytes, and the
 * least parsing that still finds the end of the response (`\r\n\r\nOK`).
 *
 * @param path The engine's socket.
 * @param workMicros Microseconds of busy work before each write: 0 for the
 *   floor itself. With a little (2 µs), the floor shows what any client
 *   doing anything between calls pays: the engine has gone idle by the
 *   time the request comes, and waking it costs far more than the work.
 */
export async function rawClient(path: string, workMicros = 0): Promise<PingClient> {
  const conn = await Deno.connect({ transport: "unix", path });
  const ping = floorPing(conn);
  return {
    name: workMicros === 0 ? "raw socket floor" : `raw floor + ${workMicros} µs of work per call`,
    ping: workMicros === 0 ? ping : () => {
      work(workMicros);
      return ping();
    },
    close: () => conn.close(),
  };
}

/**
 * The floor's `_ping` on `conn`: the fixed request bytes, then reads until
 * the answer ends (with CRLF CRLF "OK": Content-Length 2).
 *
 * @param conn A connection to the engine (or one that answers as it does).
 * @returns One call.
 */
export function floorPing(conn: Deno.Conn): () => Promise<void> {
  const buffer = new Uint8Array(4096);
  return async () => {
    await conn.write(PING);
    let length = 0;
    while (true) {
      const n = await conn.read(buffer.subarray(length));
      if (n === null) throw new Error("engine closed the floor connection");
      length += n;
      if (
        length >= 6 && buffer[length - 2] === 79 && buffer[length - 1] === 75 &&
        buffer[length - 3] === 10 && buffer[length - 4] === 13
      ) return;
    }
  };
}

/** Deno's fetch through a Unix-socket proxy transport. */
export function fetchClient(path: string): PingClient {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path } });
  return {
    name: "fetch (unix proxy)",
    async ping() {
      const response = await fetch("http://docker/_ping", { client });
      await response.text();
    },
    close: () => client.close(),
  };
}

/**
 * berth's `system.ping()`, called as it is: an `async` wrapper here would
 * add an async step of the bench's own (measured: 1.3–2.3 µs of p50) that
 * a caller's `await docker.system.ping()` does not pay. The floor's and
 * `fetch`'s `ping` are likewise the whole of what a caller writes.
 */
export function berthClient(path: string, maxConnections = 16): PingClient {
  const docker = new Docker({ host: `unix://${path}`, maxConnections });
  return {
    name: maxConnections === 16 ? "berth" : `berth (maxConnections ${maxConnections})`,
    ping: () => docker.system.ping(),
    close: () => void docker.close(),
  };
}

/** The socket path of `DOCKER_HOST` (or the default socket). */
export function socketPath(): string {
  const host = Deno.env.get("BERTH_TEST_HOST") ?? Deno.env.get("DOCKER_HOST") ??
    "unix:///var/run/docker.sock";
  if (!host.startsWith("unix://")) {
    throw new Error(`The round-trip bench needs a unix socket, not ${host}`);
  }
  return host.slice("unix://".length);
}
