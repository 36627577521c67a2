/**
 * The client the worker unit tests share: an `ApiClient` on a fake engine
 * whose streams run in a `WorkerPool`, wired as `new Docker({ workers })`
 * wires it.
 *
 * @module
 */

import { ApiClient } from "../../src/api/_client.ts";
import { HttpClient } from "../../src/http/client.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import { WorkerPool, type WorkerPoolOptions } from "../../src/worker/pool.ts";
import type { FakeEngine } from "../_fake_engine.ts";

/** What {@linkcode setup} returns; dispose it (`using`) to stop the workers and sockets. */
export interface WorkerClient {
  api: ApiClient;
  pool: WorkerPool;
  close(): void;
  [Symbol.dispose](): void;
}

/**
 * An API client on a fake engine whose streams run in a worker pool.
 *
 * @param engine The fake engine.
 * @param options Pool options; `byDefault` (default `true`) runs streams in
 *   workers unless a call says `worker: false`.
 * @returns The client.
 */
export function setup(
  engine: FakeEngine,
  options: Partial<WorkerPoolOptions> & { byDefault?: boolean } = {},
): WorkerClient {
  const http = new HttpClient({
    connect: createConnector(parseHost(engine.host), 1000),
    host: engine.host,
    hostHeader: "docker",
  });
  const { byDefault, ...poolOptions } = options;
  const pool = new WorkerPool({ size: 1, host: engine.host, ...poolOptions });
  const api = new ApiClient(http, {
    apiVersion: "1.41",
    workers: pool,
    workersByDefault: byDefault ?? true,
  });
  const close = () => {
    pool.close();
    http.close();
  };
  return { api, pool, close, [Symbol.dispose]: close };
}
