/**
 * Streams run in workers, against the real test engine: logs byte-exact
 * with and without a worker, events, error statuses as the same classes,
 * abort and cancel closing the worker's socket, and closing the client
 * stopping the workers (sanitizers on).
 *
 * The client is assembled here the way `Docker` wires it (an `HttpClient`,
 * a `WorkerPool` with the same settings, an `ApiClient` that uses it), and
 * the logs calls are the ones `containers.logs` builds.
 */

import assert from "node:assert/strict";
import { type ApiCall, ApiClient, segment } from "../../src/api/_client.ts";
import { frameDecoder } from "../../src/api/_frames.ts";
import { System } from "../../src/api/system.ts";
import { DockerApiError, DockerConnectionError, DockerNotFoundError } from "../../src/errors.ts";
import { HttpClient } from "../../src/http/client.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import type { Frame } from "../../src/stream/demux.ts";
import type { EventMessage } from "../../src/types/mod.ts";
import { WorkerPool } from "../../src/worker/pool.ts";
import { testDocker, testEnv, uniqueName, withContainer } from "./_docker.ts";
import { rejection } from "../_helpers.ts";

const encoder = new TextEncoder();

/** A client whose streams run in workers by default, as `new Docker({ workers })` builds it. */
function workerClient(size = 2) {
  const host = testEnv().host;
  const records: ExchangeRecord[] = [];
  const onRecord = (record: ExchangeRecord) => void records.push(record);
  const address = parseHost(host);
  const http = new HttpClient({
    connect: createConnector(address, 30_000),
    host,
    hostHeader: address.transport === "unix" ? "docker" : `${address.hostname}:${address.port}`,
    onRecord,
  });
  const pool = new WorkerPool({ size, host, onRecord });
  const api = new ApiClient(http, { workers: pool, workersByDefault: true });
  const close = () => {
    pool.close();
    http.close();
  };
  return {
    api,
    pool,
    records,
    system: new System(api),
    close,
    [Symbol.dispose]: close,
  };
}

/** The stream `containers.logs(id, options)` returns (same call, decoder and spec). */
function logs(
  api: ApiClient,
  id: string,
  options: { follow?: boolean; signal?: AbortSignal; worker?: boolean; tty?: boolean } = {},
): ReadableStream<Frame> {
  const tty = Promise.resolve(options.tty ?? false);
  const call: ApiCall = {
    method: "GET",
    path: `/containers/${segment(id, "container id")}/logs`,
    query: { follow: options.follow, stdout: true, stderr: true },
    signal: options.signal,
    longLived: options.follow === true,
    action: `read logs of container "${id}"`,
    worker: options.worker,
  };
  return api.stream<Frame>(
    call,
    async (response) => frameDecoder(response, await tty, true),
    tty.then((value) => ({ kind: "frames", tty: value })),
  );
}

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

async function sha256(parts: Uint8Array[]): Promise<string> {
  let total = 0;
  for (const part of parts) total += part.length;
  const joined = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  const digest = await crypto.subtle.digest("SHA-256", joined);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** 1 KiB lines, 32 MiB in all, then three stderr lines. */
const LINE = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-".repeat(16).slice(
  0,
  1023,
);
const PATTERN_BYTES = 32 * 1024 * 1024;
const WRITER = `yes ${LINE} | head -c ${PATTERN_BYTES}; for i in 1 2 3; do echo err$i >&2; done`;

Deno.test("worker logs: 32 MiB of stdout and stderr lines arrive byte-exact, as without a worker", async () => {
  await using docker = testDocker();
  using client = workerClient();
  await withContainer(docker, { Cmd: ["sh", "-c", WRITER] }, async (id) => {
    await docker.containers.start(id);
    assert.equal((await docker.containers.wait(id)).StatusCode, 0);
    const expected = await sha256([encoder.encode(`${LINE}\n`.repeat(PATTERN_BYTES / 1024))]);
    for (const worker of [true, false]) {
      const stdout: Uint8Array[] = [];
      let stderr = "";
      for await (const frame of logs(client.api, id, { worker })) {
        if (frame.stream === "stdout") stdout.push(frame.data);
        else stderr += new TextDecoder().decode(frame.data);
      }
      assert.equal(await sha256(stdout), expected, `stdout, worker: ${worker}`);
      assert.equal(stderr, "err1\nerr2\nerr3\n", `stderr, worker: ${worker}`);
    }
    assert.equal(client.pool.workers, 1);
  });
});

Deno.test("worker logs of a TTY container come through as raw stdout frames", async () => {
  await using docker = testDocker();
  using client = workerClient();
  await withContainer(docker, { Cmd: ["sh", "-c", "echo tty-out"], Tty: true }, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    const frames = await collect(logs(client.api, id, { tty: true }));
    assert.ok(frames.every((frame) => frame.stream === "stdout"));
    const text = frames.map((frame) => new TextDecoder().decode(frame.data)).join("");
    assert.equal(text, "tty-out\r\n");
  });
});

Deno.test("worker events: system.events decodes the same events in a worker as on this thread", async () => {
  await using docker = testDocker();
  using client = workerClient();
  const since = new Date(Date.now() - 1000);
  const name = uniqueName("events");
  await withContainer(docker, { Cmd: ["true"] }, async (id) => {
    await docker.containers.start(id);
    await docker.containers.wait(id);
    const until = new Date(Date.now() + 1000);
    const options = { since, until, filters: { container: [id] } };
    const inWorker = await collect(client.system.events({ ...options, worker: true }));
    const here = await collect(client.system.events({ ...options, worker: false }));
    const actions = (events: EventMessage[]) => events.map((event) => event.Action);
    assert.deepEqual(actions(inWorker), actions(here));
    for (const action of ["create", "start", "die"]) {
      assert.ok(actions(inWorker).includes(action), `${action} in ${actions(inWorker)}`);
    }
    assert.equal(inWorker[0]?.Actor?.Attributes?.name, name);
  }, { name });
  assert.ok(client.pool.workers >= 1);
});

Deno.test("system.events with since taken before a call sees that call's event, in a worker and on this thread; without since it is missed", async () => {
  await using docker = testDocker();
  using client = workerClient();
  for (const worker of [true, false]) {
    const since = new Date();
    await withContainer(docker, { Cmd: ["true"] }, async (id) => {
      // The container exists before either subscription is even sent.
      const stop = new AbortController();
      const deadline = Date.now() + 20_000;
      const filters = { container: [id] };
      const seen = { since: [] as string[], live: [] as string[] };
      const read = async (stream: ReadableStream<EventMessage>, into: string[]) => {
        try {
          for await (const event of stream) into.push(event.Action ?? "");
        } catch (error) {
          if (!stop.signal.aborted) throw error;
        }
      };
      const signal = stop.signal;
      const reading = Promise.all([
        read(client.system.events({ since, filters, signal, worker }), seen.since),
        read(client.system.events({ filters, signal, worker }), seen.live),
      ]);
      reading.catch(() => {}); // Awaited below.
      try {
        // Live events until both streams have one: each is subscribed by then.
        while (!seen.since.includes("die") || !seen.live.includes("die")) {
          assert.ok(Date.now() < deadline, `no live event within 20 s: ${JSON.stringify(seen)}`);
          await docker.containers.start(id);
          await docker.containers.wait(id);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } finally {
        stop.abort();
        await reading;
      }
      const where = worker ? "in a worker" : "on this thread";
      // `since` replays the create, then goes on live with no gap.
      assert.equal(seen.since[0], "create", `${where}: ${seen.since}`);
      assert.ok(seen.since.includes("start"), `${where}: ${seen.since}`);
      // Without it the stream starts after the create.
      assert.ok(!seen.live.includes("create"), `${where}: ${seen.live}`);
    });
  }
});

Deno.test("worker streams: error statuses arrive as the same DockerApiError subclasses", async () => {
  using client = workerClient();
  const missing = uniqueName("missing");
  const error = await rejection(collect(logs(client.api, missing)));
  assert.ok(error instanceof DockerNotFoundError, String(error));
  assert.equal(error.status, 404);
  assert.match(
    error.message,
    new RegExp(`^Cannot read logs of container "${missing}": engine answered 404`),
  );
  assert.match(error.engineMessage, /No such container/);
  // The engine refuses `until` before `since` with 400.
  const bad = await rejection(collect(client.system.events({ since: 10, until: 5 })));
  assert.ok(bad instanceof DockerApiError && !(bad instanceof DockerNotFoundError), String(bad));
  assert.equal(bad.status, 400);
  assert.equal(client.pool.streams, 0);
});

/** A container that prints a line every 100 ms until stopped. */
const TICKER = ["sh", "-c", "while true; do echo tick; sleep 0.1; done"];

Deno.test("worker logs: an abort mid-stream rejects with the signal's reason and ends the worker's exchange", async () => {
  await using docker = testDocker();
  using client = workerClient();
  await withContainer(docker, { Cmd: TICKER }, async (id) => {
    await docker.containers.start(id);
    const controller = new AbortController();
    const reader = logs(client.api, id, { follow: true, signal: controller.signal }).getReader();
    assert.equal((await reader.read()).value?.stream, "stdout");
    const reason = new Error("enough");
    const pending = reader.read().then(() => reader.read());
    controller.abort(reason);
    assert.equal(await rejection(pending), reason);
    // The worker's exchange ended early (its socket closed, never pooled).
    const path = `/containers/${id}/logs`;
    await waitUntil(() => client.records.some((r) => r.target.includes(path) && r.error));
    await waitUntil(() => client.pool.streams === 0);
  });
});

Deno.test("worker logs: a consumer cancel closes the worker's socket", async () => {
  await using docker = testDocker();
  using client = workerClient();
  await withContainer(docker, { Cmd: TICKER }, async (id) => {
    await docker.containers.start(id);
    const reader = logs(client.api, id, { follow: true }).getReader();
    assert.equal((await reader.read()).value?.stream, "stdout");
    await reader.cancel();
    assert.equal(client.pool.streams, 0, "cancel resolves once the worker closed the stream");
    const path = `/containers/${id}/logs`;
    await waitUntil(() => client.records.some((r) => r.target.includes(path) && r.error));
  });
});

Deno.test("worker pool: closing the client fails open streams and stops every worker", async () => {
  await using docker = testDocker();
  const client = workerClient(2);
  await withContainer(docker, { Cmd: TICKER }, async (id) => {
    await docker.containers.start(id);
    const first = logs(client.api, id, { follow: true }).getReader();
    const second = client.system.events({ filters: { container: [id] } }).getReader();
    await first.read();
    const pending = [first.read().then(() => first.read()), second.read()];
    assert.equal(client.pool.workers, 2);
    client.close();
    for (const read of pending) assert.ok(await rejection(read) instanceof DockerConnectionError);
    assert.equal(client.pool.workers, 0);
    assert.equal(client.pool.streams, 0);
  });
});

async function waitUntil(predicate: () => boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
