import assert from "node:assert/strict";
import type { ApiClient, PieceDecoder } from "../../src/api/_client.ts";
import { frameDecoder } from "../../src/api/_frames.ts";
import {
  DockerApiError,
  DockerConflictError,
  DockerConnectionError,
  DockerError,
  DockerNotFoundError,
  DockerProtocolError,
  DockerStreamError,
  DockerTimeoutError,
} from "../../src/errors.ts";
import { Connection } from "../../src/http/connection.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import type { Frame } from "../../src/stream/demux.ts";
import { JsonLinesDecoder } from "../../src/stream/json_lines.ts";
import { WorkerPool } from "../../src/worker/pool.ts";
import {
  type DecoderSpec,
  deserializeError,
  serializeError,
  type WireRequest,
} from "../../src/worker/protocol.ts";
import { decodeItems } from "../../src/worker/remote_stream.ts";
import {
  chunked,
  concat,
  type FakeConnection,
  type FakeRequest,
  frame,
  httpResponse,
  respondEach,
  sleep,
  startFakeEngine,
  waitFor,
  withDeadline,
} from "../_fake_engine.ts";
import { setup } from "./_setup.ts";
import { rejection } from "../_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function jsonStream<T>(
  api: ApiClient,
  path = "/events",
  extra: { signal?: AbortSignal; worker?: boolean } = {},
): ReadableStream<T> {
  return api.stream<T>(
    { method: "GET", path, action: "stream engine events", longLived: true, ...extra },
    () => new JsonLinesDecoder<T>(),
    { kind: "json" },
  );
}

function framesStream(
  api: ApiClient,
  spec: DecoderSpec | Promise<DecoderSpec>,
  tty = false,
  extra: { signal?: AbortSignal } = {},
): ReadableStream<Frame> {
  return api.stream<Frame>(
    {
      method: "GET",
      path: "/containers/web/logs",
      action: 'read logs of container "web"',
      ...extra,
    },
    (response) => frameDecoder(response, tty, true),
    spec,
  );
}

function bytesStream(
  api: ApiClient,
  extra: { signal?: AbortSignal } = {},
): ReadableStream<Uint8Array> {
  return api.stream<Uint8Array>(
    { method: "GET", path: "/containers/web/export", action: 'export container "web"', ...extra },
    (): PieceDecoder<Uint8Array> => ({
      push: (input, out) => void out.push(input),
      finish: () => {},
    }),
    { kind: "bytes" },
  );
}

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of stream) items.push(item);
  return items;
}

const CHUNKED_HEAD = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n";

/** A chunked response head with extra header lines. */
function chunkedHead(headers: Record<string, string> = {}): string {
  let head = CHUNKED_HEAD;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  return `${head}\r\n`;
}

/** One chunk of a chunked body. */
function chunk(data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  return concat([
    encoder.encode(`${bytes.length.toString(16)}\r\n`),
    bytes,
    encoder.encode("\r\n"),
  ]);
}

/**
 * A handler that answers one request with a chunked stream head, then hands
 * the connection to `body`, which writes chunks; the test reads what the
 * client did through the resolved connection.
 */
function streamingEngine(
  body: (connection: FakeConnection, request: FakeRequest) => Promise<void>,
  headers: Record<string, string> = {},
) {
  return async (connection: FakeConnection) => {
    const request = await connection.readRequest();
    if (!request) return;
    await connection.write(chunkedHead(headers));
    await body(connection, request);
  };
}

// ---------------------------------------------------------------------------
// Connection: detached slabs
// ---------------------------------------------------------------------------

Deno.test("Connection.read replaces a read slab whose buffer was transferred away", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    await connection.write("first");
    await sleep(20);
    await connection.write("second");
    await connection.waitForClientClose();
  });
  const path = engine.host.slice("unix://".length);
  const connection = new Connection(await Deno.connect({ transport: "unix", path }));
  try {
    const first = await connection.read();
    assert.equal(decoder.decode(first!), "first");
    // What a worker does when it posts a read buffer: the slab is detached.
    structuredClone(first!.buffer, { transfer: [first!.buffer as ArrayBuffer] });
    assert.equal(first!.length, 0);
    const second = await connection.read();
    assert.equal(decoder.decode(second!), "second");
    assert.notEqual(second!.buffer, first!.buffer);
  } finally {
    connection.close();
  }
});

// ---------------------------------------------------------------------------
// Errors across the boundary
// ---------------------------------------------------------------------------

Deno.test("deserializeError rebuilds every berth error class with its fields", () => {
  const api = { status: 500, statusText: "Internal Server Error", method: "GET", path: "/v1.41/x" };
  const cases: Error[] = [
    new DockerError("plain"),
    new DockerApiError({ ...api, engineMessage: "boom", action: "do x" }),
    new DockerNotFoundError({
      ...api,
      status: 404,
      statusText: "Not Found",
      engineMessage: "gone",
    }),
    new DockerConflictError({ ...api, status: 409, statusText: "Conflict", engineMessage: "busy" }),
    new DockerConnectionError("broke", "unix:///x.sock", { cause: new TypeError("inner") }),
    new DockerTimeoutError("slow", "headers", 50),
    new DockerProtocolError("INVALID_FRAME", "bad frame"),
    new DockerStreamError("pull failed", { code: 1, message: "pull failed" }),
    new DockerStreamError('Cannot push image "a:1": denied', { message: "denied" }, "denied"),
    new TypeError("type"),
    new RangeError("range"),
  ];
  for (const original of cases) {
    const copy = deserializeError(structuredClone(serializeError(original)));
    assert.equal(copy.constructor, original.constructor, original.name);
    assert.equal(copy.name, original.name);
    assert.equal(copy.message, original.message);
    assert.equal(copy.stack, original.stack);
    for (
      const key of ["status", "statusText", "method", "path", "engineMessage", "host", "phase"]
    ) {
      assert.equal(
        (copy as unknown as Record<string, unknown>)[key],
        (original as unknown as Record<string, unknown>)[key],
        `${original.name}.${key}`,
      );
    }
  }
  const connection = deserializeError(serializeError(cases[4]));
  assert.ok(connection.cause instanceof TypeError);
  assert.equal((connection.cause as Error).message, "inner");
  const protocol = deserializeError(serializeError(cases[6])) as DockerProtocolError;
  assert.equal(protocol.code, "INVALID_FRAME");
  const stream = deserializeError(serializeError(cases[7])) as DockerStreamError;
  assert.deepEqual(stream.detail, { code: 1, message: "pull failed" });
  const timeout = deserializeError(serializeError(cases[5])) as DockerTimeoutError;
  assert.equal(timeout.timeout, 50);
});

Deno.test("deserializeError keeps unknown names and non-errors readable", () => {
  const custom = new Error("odd");
  custom.name = "WeirdError";
  const copy = deserializeError(serializeError(custom));
  assert.equal(copy.name, "WeirdError");
  assert.equal(copy.message, "odd");
  assert.equal(deserializeError(serializeError("text")).message, "text");
});

Deno.test("decodeItems rebuilds frames as views into the transferred buffers", () => {
  const buffer = new Uint8Array([1, 2, 3, 4, 5, 6]).buffer;
  const items = decodeItems<Frame>({
    type: "batch",
    id: 1,
    kind: "frames",
    layout: new Uint32Array([1, 0, 0, 2, 2, 0, 2, 4]),
    buffers: [buffer],
    bytes: 22,
    done: false,
  });
  assert.deepEqual(items.map((f) => [f.stream, [...f.data]]), [
    ["stdout", [1, 2]],
    ["stderr", [3, 4, 5, 6]],
  ]);
  assert.equal(items[0]!.data.buffer, buffer);
});

// ---------------------------------------------------------------------------
// Streams through a worker
// ---------------------------------------------------------------------------

Deno.test("ApiClient.stream decodes JSON lines split across chunks in a worker", async () => {
  const lines = [{ a: 1 }, { b: "é" }, { c: [1, 2, 3] }];
  const body = encoder.encode(lines.map((line) => JSON.stringify(line)).join("\n") + "\n");
  await using engine = await startFakeEngine(
    respondEach(() => concat([encoder.encode(chunkedHead()), chunked(body, [3, 9, 1, 12])])),
  );
  using client = setup(engine);
  assert.equal(client.pool.workers, 0, "no worker before the first stream");
  assert.deepEqual(await collect(jsonStream(client.api)), lines);
  assert.equal(client.pool.workers, 1);
});

Deno.test("ApiClient.stream demultiplexes frames in a worker, byte-exact", async () => {
  const big = new Uint8Array(200_000).map((_, i) => i % 251);
  const body = concat([frame(1, "out\n"), frame(2, "err\n"), frame(1, big), frame(3, "sys")]);
  await using engine = await startFakeEngine(respondEach(() =>
    concat([
      encoder.encode(chunkedHead({ "Content-Type": "application/vnd.docker.multiplexed-stream" })),
      chunked(body, [5, 7, 3, 40_000]),
    ])
  ));
  using client = setup(engine);
  // TTY true, but the engine labels the body multiplexed: demultiplexed.
  const frames = await collect(framesStream(client.api, { kind: "frames", tty: true }));
  const joined = (stream: string) =>
    concat(frames.filter((f) => f.stream === stream).map((f) => f.data));
  assert.equal(decoder.decode(joined("stderr")), "err\n");
  assert.equal(decoder.decode(joined("system")), "sys");
  assert.deepEqual(joined("stdout"), concat([encoder.encode("out\n"), big]));
});

Deno.test("ApiClient.stream passes raw TTY output as stdout frames in a worker", async () => {
  await using engine = await startFakeEngine(respondEach(() =>
    concat([
      encoder.encode(chunkedHead({ "Content-Type": "application/vnd.docker.raw-stream" })),
      chunked(encoder.encode("$ ls\r\nbin\r\n"), [4]),
    ])
  ));
  using client = setup(engine);
  const frames = await collect(framesStream(client.api, { kind: "frames", tty: true }));
  assert.ok(frames.every((f) => f.stream === "stdout"));
  assert.equal(decoder.decode(concat(frames.map((f) => f.data))), "$ ls\r\nbin\r\n");
});

Deno.test("ApiClient.stream takes the decoder spec late, as a promise", async () => {
  await using engine = await startFakeEngine(
    respondEach(() =>
      concat([encoder.encode(chunkedHead()), chunked(concat([frame(1, "a"), frame(2, "b")]))])
    ),
  );
  using client = setup(engine);
  const { promise, resolve } = Promise.withResolvers<DecoderSpec>();
  const frames = framesStream(client.api, promise);
  setTimeout(() => resolve({ kind: "frames", tty: false }), 20);
  const items = await collect(frames);
  assert.deepEqual(items.map((f) => `${f.stream}:${decoder.decode(f.data)}`), [
    "stdout:a",
    "stderr:b",
  ]);
});

Deno.test("ApiClient.stream rethrows the spec promise's own rejection", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    if (!(await connection.readRequest())) return;
    await connection.write(chunkedHead());
    await connection.waitForClientClose();
  });
  using client = setup(engine);
  const failure = new DockerNotFoundError({
    status: 404,
    statusText: "Not Found",
    method: "GET",
    path: "/v1.41/containers/web/json",
    engineMessage: "No such container: web",
  });
  const spec = Promise.reject<DecoderSpec>(failure);
  const error = await rejection(collect(framesStream(client.api, spec)));
  assert.equal(error, failure, "the same object, not a copy");
});

Deno.test("ApiClient.stream hands byte pieces over byte-exact, compacting small ones", async () => {
  const pieces = [encoder.encode("tiny"), new Uint8Array(100_000).fill(7), encoder.encode("end")];
  await using engine = await startFakeEngine(streamingEngine(async (connection) => {
    for (const piece of pieces) {
      await connection.write(chunk(piece));
      await sleep(5);
    }
    await connection.write("0\r\n\r\n");
  }));
  using client = setup(engine);
  const items = await collect(bytesStream(client.api));
  assert.deepEqual(concat(items), concat(pieces));
  const tiny = items[0]!;
  assert.equal(decoder.decode(tiny), "tiny");
  // A few bytes of a read buffer travel in a buffer of their own.
  assert.ok(tiny.buffer.byteLength < 1024, `buffer of ${tiny.buffer.byteLength} bytes`);
  // Large pieces travel in the read buffers themselves (transferred, not copied).
  const large = items.filter((item) => item.byteLength > 16 * 1024);
  assert.ok(large.length > 0);
  for (const item of large) {
    const size = item.buffer.byteLength;
    assert.ok([16384, 32768, 65536].includes(size), `read buffer of ${size} bytes`);
  }
});

Deno.test("ApiClient.stream reports the request's error status before a failed spec", async () => {
  await using engine = await startFakeEngine(
    respondEach(() => httpResponse(404, JSON.stringify({ message: "No such container: web" }))),
  );
  using client = setup(engine);
  const spec = Promise.reject<DecoderSpec>(new Error("inspect failed too"));
  const error = await rejection(collect(framesStream(client.api, spec)));
  assert.ok(error instanceof DockerNotFoundError, String(error));
});

Deno.test("ApiClient.stream reports error statuses as the same error classes through a worker", async () => {
  await using engine = await startFakeEngine(respondEach((request) => {
    const status = request.target.includes("missing")
      ? 404
      : request.target.includes("busy")
      ? 409
      : 500;
    return httpResponse(status, JSON.stringify({ message: `engine says ${status}` }), {
      "Content-Type": "application/json",
    });
  }));
  using client = setup(engine);
  const missing = await rejection(collect(jsonStream(client.api, "/containers/missing/stats")));
  assert.ok(missing instanceof DockerNotFoundError);
  assert.equal(missing.status, 404);
  assert.equal(missing.engineMessage, "engine says 404");
  assert.equal(missing.path, "/v1.41/containers/missing/stats");
  assert.equal(
    missing.message,
    "Cannot stream engine events: engine answered 404 Not Found: engine says 404",
  );
  assert.ok(
    await rejection(collect(jsonStream(client.api, "/busy"))) instanceof DockerConflictError,
  );
  const server = await rejection(collect(jsonStream(client.api, "/other")));
  assert.ok(server instanceof DockerApiError && !(server instanceof DockerNotFoundError));
  assert.equal(server.status, 500);
});

Deno.test("ApiClient.stream delivers values before an error line, then the DockerStreamError", async () => {
  const body =
    '{"status":"one"}\n{"status":"two"}\n{"errorDetail":{"code":1,"message":"denied"},"error":"denied"}\n';
  for (const worker of [true, false]) {
    await using engine = await startFakeEngine(
      respondEach(() => concat([encoder.encode(chunkedHead()), chunked(encoder.encode(body))])),
    );
    using client = setup(engine);
    const reader = jsonStream<{ status: string }>(client.api, "/images/create", { worker })
      .getReader();
    assert.equal((await reader.read()).value?.status, "one");
    assert.equal((await reader.read()).value?.status, "two");
    const error = await rejection(reader.read());
    assert.ok(error instanceof DockerStreamError, `worker: ${worker}`);
    assert.equal(error.message, "denied");
    assert.deepEqual(error.detail, { code: 1, message: "denied" });
  }
});

Deno.test("ApiClient.stream reports a bad frame as DockerProtocolError INVALID_FRAME", async () => {
  await using engine = await startFakeEngine(
    respondEach(() =>
      concat([encoder.encode(chunkedHead()), chunked(encoder.encode("plain text, not frames"))])
    ),
  );
  using client = setup(engine);
  const error = await rejection(collect(framesStream(client.api, { kind: "frames", tty: false })));
  assert.ok(error instanceof DockerProtocolError);
  assert.equal(error.code, "INVALID_FRAME");
});

Deno.test("ApiClient.stream in a worker reads the socket only as the consumer reads", async () => {
  const piece = chunk(new Uint8Array(64 * 1024).fill(97));
  let written = 0;
  const { promise: clientClosed, resolve } = Promise.withResolvers<boolean>();
  await using engine = await startFakeEngine(streamingEngine(async (connection) => {
    const closing = connection.waitForClientClose().then(resolve);
    try {
      // 64 MiB if nobody stopped it.
      for (let i = 0; i < 1024; i++) {
        await connection.write(piece);
        written += piece.length;
      }
    } catch {
      // The client closed the socket.
    }
    await closing;
  }));
  using client = setup(engine);
  const reader = bytesStream(client.api).getReader();
  await reader.read();
  await sleep(300);
  const paused = written;
  await sleep(300);
  // Socket buffers fill, then the engine's writes block: nothing more is read.
  assert.equal(written, paused, "the worker kept reading without pulls");
  assert.ok(paused < 16 * 1024 * 1024, `${paused} bytes written before the pause`);
  await reader.cancel();
  assert.equal(await withDeadline(clientClosed, 2000, "socket close"), true);
});

Deno.test("ApiClient.stream in a worker: cancel closes the worker's socket before it resolves", async () => {
  let closed = false;
  await using engine = await startFakeEngine(streamingEngine(async (connection) => {
    await connection.write(chunk('{"n":1}\n'));
    closed = await connection.waitForClientClose();
  }));
  using client = setup(engine);
  const reader = jsonStream<{ n: number }>(client.api).getReader();
  assert.deepEqual((await reader.read()).value, { n: 1 });
  await withDeadline(reader.cancel(), 2000, "cancel");
  await waitFor(() => closed);
  assert.equal(client.pool.streams, 0);
});

Deno.test("ApiClient.stream in a worker: an abort rejects with the signal's own reason and closes the socket", async () => {
  let closed = false;
  await using engine = await startFakeEngine(streamingEngine(async (connection) => {
    await connection.write(chunk('{"n":1}\n'));
    closed = await connection.waitForClientClose();
  }));
  using client = setup(engine);
  const controller = new AbortController();
  const reason = new Error("stop now");
  const reader = jsonStream<{ n: number }>(client.api, "/events", { signal: controller.signal })
    .getReader();
  assert.deepEqual((await reader.read()).value, { n: 1 });
  const pending = reader.read();
  setTimeout(() => controller.abort(reason), 20);
  assert.equal(await rejection(pending), reason);
  assert.equal(await rejection(reader.read()), reason);
  await waitFor(() => closed);
  await waitFor(() => client.pool.streams === 0);
});

for (const worker of [true, false]) {
  const where = worker ? "in a worker" : "on this thread";
  Deno.test(`ApiClient.stream ${where}: an abort drops the items already received`, async () => {
    // Three lines in one write: one read of the socket decodes all three.
    await using engine = await startFakeEngine(streamingEngine(async (connection) => {
      await connection.write(chunk('{"n":1}\n{"n":2}\n{"n":3}\n'));
      await connection.waitForClientClose();
    }));
    using client = setup(engine);
    const controller = new AbortController();
    const reason = new Error("stop now");
    const reader = jsonStream<{ n: number }>(client.api, "/events", {
      signal: controller.signal,
      worker,
    }).getReader();
    assert.deepEqual((await reader.read()).value, { n: 1 });
    // Let the rest of the batch reach the stream's queue.
    await sleep(50);
    controller.abort(reason);
    assert.equal(await rejection(reader.read()), reason);
    assert.equal(await rejection(reader.read()), reason);
    await waitFor(() => client.pool.streams === 0);
  });
}

Deno.test("WorkerPool.close drops the items a stream already received", async () => {
  await using engine = await startFakeEngine(streamingEngine(async (connection) => {
    await connection.write(chunk('{"n":1}\n{"n":2}\n{"n":3}\n'));
    await connection.waitForClientClose();
  }));
  const client = setup(engine);
  const reader = jsonStream<{ n: number }>(client.api).getReader();
  assert.deepEqual((await reader.read()).value, { n: 1 });
  await sleep(50);
  client.close();
  assert.ok(await rejection(reader.read()) instanceof DockerConnectionError);
});

Deno.test("ApiClient.stream in a worker: an aborted signal fails the first read and starts nothing", async () => {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "")));
  using client = setup(engine);
  const reason = new DOMException("gone", "AbortError");
  const stream = jsonStream(client.api, "/events", { signal: AbortSignal.abort(reason) });
  assert.equal(await rejection(collect(stream)), reason);
  assert.equal(client.pool.workers, 0);
  assert.equal(engine.connections, 0);
});

Deno.test("ApiClient.stream in a worker: an abort before the head arrives ends the request", async () => {
  let closed = false;
  await using engine = await startFakeEngine(async (connection) => {
    await connection.readRequest();
    closed = await connection.waitForClientClose();
  });
  using client = setup(engine);
  const controller = new AbortController();
  const stream = jsonStream(client.api, "/events", { signal: controller.signal });
  await waitFor(() => engine.connections === 1);
  const reason = new Error("not waiting");
  const read = collect(stream);
  controller.abort(reason);
  assert.equal(await rejection(read), reason);
  await waitFor(() => closed);
});

Deno.test("WorkerPool.close fails open streams and terminates the workers", async () => {
  let closed = false;
  await using engine = await startFakeEngine(streamingEngine(async (connection) => {
    await connection.write(chunk('{"n":1}\n'));
    closed = await connection.waitForClientClose();
  }));
  const client = setup(engine);
  const reader = jsonStream(client.api).getReader();
  await reader.read();
  const pending = reader.read();
  client.close();
  const error = await rejection(pending);
  assert.ok(error instanceof DockerConnectionError);
  assert.match(error.message, /client was closed/);
  assert.equal(client.pool.workers, 0);
  await waitFor(() => closed);
  // Later streams fail at once.
  const later = await rejection(collect(jsonStream(client.api)));
  assert.ok(later instanceof DockerError);
});

Deno.test("WorkerPool starts workers lazily up to its size and balances streams", async () => {
  await using engine = await startFakeEngine(streamingEngine(async (connection) => {
    await connection.write(chunk('{"n":1}\n'));
    await connection.waitForClientClose();
  }));
  using client = setup(engine, { size: 2 });
  const readers = [0, 1, 2, 3].map(() => jsonStream(client.api).getReader());
  for (const reader of readers) await reader.read();
  assert.equal(client.pool.workers, 2);
  assert.equal(client.pool.streams, 4);
  for (const reader of readers) await reader.cancel();
  assert.equal(client.pool.streams, 0);
});

Deno.test("WorkerPool stops a worker that stays idle for idleTimeout", async () => {
  await using engine = await startFakeEngine(
    respondEach(() => concat([encoder.encode(chunkedHead()), chunked(encoder.encode("1\n"))])),
  );
  using client = setup(engine, { idleTimeout: 30 });
  assert.deepEqual(await collect(jsonStream(client.api)), [1]);
  assert.equal(client.pool.workers, 1);
  await waitFor(() => client.pool.workers === 0);
  // A new stream starts a new worker.
  assert.deepEqual(await collect(jsonStream(client.api)), [1]);
});

Deno.test("ApiClient.stream stays on this thread with worker: false or without a spec", async () => {
  await using engine = await startFakeEngine(
    respondEach(() => concat([encoder.encode(chunkedHead()), chunked(encoder.encode("2\n"))])),
  );
  using client = setup(engine, { byDefault: true });
  assert.deepEqual(await collect(jsonStream(client.api, "/events", { worker: false })), [2]);
  const noSpec = client.api.stream<number>(
    { method: "GET", path: "/events", action: "stream engine events" },
    () => new JsonLinesDecoder<number>(),
  );
  assert.deepEqual(await collect(noSpec), [2]);
  assert.equal(client.pool.workers, 0);
  using off = setup(engine, { byDefault: false });
  assert.deepEqual(await collect(jsonStream(off.api)), [2]);
  assert.equal(off.pool.workers, 0);
  assert.deepEqual(await collect(jsonStream(off.api, "/events", { worker: true })), [2]);
  assert.equal(off.pool.workers, 1);
});

Deno.test("WorkerPool forwards the workers' exchange records to onRecord", async () => {
  await using engine = await startFakeEngine(
    respondEach(() => concat([encoder.encode(chunkedHead()), chunked(encoder.encode("3\n"))])),
  );
  const records: ExchangeRecord[] = [];
  using client = setup(engine, { onRecord: (record) => records.push(record) });
  assert.deepEqual(await collect(jsonStream(client.api)), [3]);
  await waitFor(() => records.length === 1);
  assert.equal(records[0]!.target, "/v1.41/events");
  assert.equal(records[0]!.status, 200);
  assert.ok(records[0]!.bytesReceived > 0);
  assert.equal(records[0]!.error, undefined);
});

Deno.test("WorkerPool sends a streamed request body from the worker", async () => {
  await using engine = await startFakeEngine(respondEach((request) =>
    concat([
      encoder.encode(chunkedHead()),
      chunked(encoder.encode(JSON.stringify({ received: decoder.decode(request.body) }) + "\n")),
    ])
  ));
  using client = setup(engine);
  const body = ReadableStream.from([encoder.encode("tar "), encoder.encode("bytes")]);
  const stream = client.api.stream<{ received: string }>(
    { method: "POST", path: "/build", body, action: "build an image" },
    () => new JsonLinesDecoder(),
    { kind: "json" },
  );
  assert.deepEqual(await collect(stream), [{ received: "tar bytes" }]);
});

Deno.test("WorkerPool rejects a size that is not a positive integer", () => {
  assert.throws(() => new WorkerPool({ size: 0, host: "unix:///x.sock" }), RangeError);
  assert.throws(() => new WorkerPool({ size: 1.5, host: "unix:///x.sock" }), RangeError);
});

Deno.test("WorkerPool.stream fails when the request cannot be built", async () => {
  const pool = new WorkerPool({ size: 1, host: "unix:///nowhere.sock" });
  try {
    const failure = new DockerConnectionError("no engine", "unix:///nowhere.sock");
    const stream = pool.stream(Promise.reject<WireRequest>(failure), { kind: "json" });
    assert.equal(await rejection(collect(stream)), failure);
    await waitFor(() => pool.streams === 0);
  } finally {
    pool.close();
  }
});

Deno.test("WorkerPool reports an unreachable engine as DockerConnectionError from the worker", async () => {
  const dir = await Deno.makeTempDir();
  const host = `unix://${dir}/missing.sock`;
  const pool = new WorkerPool({ size: 1, host });
  try {
    const request: WireRequest = { method: "GET", target: "/v1.41/events", action: "stream" };
    const error = await rejection(collect(pool.stream(Promise.resolve(request), { kind: "json" })));
    assert.ok(error instanceof DockerConnectionError);
    assert.equal(error.host, host);
    assert.match(error.message, /does not exist/);
  } finally {
    pool.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WorkerPool: a worker that crashes fails its streams with a DockerError, and the next stream gets a new worker", async () => {
  await using engine = await startFakeEngine(streamingEngine(async (connection) => {
    await connection.write(chunk('{"n":1}\n'));
    await connection.waitForClientClose();
  }));
  using client = setup(engine, {
    workerModule: new URL("./_crash_worker.ts", import.meta.url),
  });
  // A stream on the worker that is about to crash.
  const bystander = jsonStream<{ n: number }>(client.api, "/events").getReader();
  assert.deepEqual((await bystander.read()).value, { n: 1 });
  const pending = bystander.read();
  const crashing = jsonStream(client.api, "/crash");
  const error = await rejection(collect(crashing));
  assert.ok(error instanceof DockerError, String(error));
  assert.match((error as Error).message, /^A stream worker failed: .*worker bug/);
  // The other stream of that worker fails the same way.
  assert.equal(await rejection(pending), error);
  assert.equal(client.pool.workers, 0);
  assert.equal(client.pool.streams, 0);
  // The pool goes on with a new worker.
  const next = jsonStream<{ n: number }>(client.api, "/events").getReader();
  assert.deepEqual((await next.read()).value, { n: 1 });
  assert.equal(client.pool.workers, 1);
  await next.cancel();
});
