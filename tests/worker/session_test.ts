/**
 * Streams that need their response head (archive downloads) and hijacked
 * sessions (attach) in a worker, against a fake engine: the head before
 * the body, error statuses rejecting the call itself, stdin relayed with
 * one answer per write, half-close, close and abort.
 */

import assert from "node:assert/strict";
import { attach } from "../../src/api/_attach.ts";
import { bytesDecoder } from "../../src/api/_client.ts";
import { outputStream } from "../../src/api/_frames.ts";
import { Containers } from "../../src/api/containers.ts";
import {
  DockerConnectionError,
  DockerError,
  DockerNotFoundError,
  DockerProtocolError,
} from "../../src/errors.ts";
import type { Frame } from "../../src/stream/demux.ts";
import {
  concat,
  type FakeConnection,
  frame,
  httpResponse,
  respondEach,
  startFakeEngine,
  waitFor,
  withDeadline,
} from "../_fake_engine.ts";
import { setup } from "./_setup.ts";
import { payload, rejection } from "../_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const STAT = { name: "data", size: 3, mode: 420, mtime: "2024-01-01T00:00:00Z", linkTarget: "" };
const STAT_HEADER = btoa(JSON.stringify(STAT));

const MULTIPLEXED = "application/vnd.docker.multiplexed-stream";
const RAW = "application/vnd.docker.raw-stream";

/** Reads every frame, joining stdout and stderr. */
async function collectOutput(
  stream: ReadableStream<Frame>,
): Promise<{ stdout: Uint8Array; stderr: Uint8Array }> {
  const stdout: Uint8Array[] = [];
  const stderr: Uint8Array[] = [];
  for await (const item of stream) {
    (item.stream === "stderr" ? stderr : stdout).push(item.data.slice());
  }
  return { stdout: concat(stdout), stderr: concat(stderr) };
}

/**
 * An engine that answers the attach request with `101` (the given
 * content type), then hands the connection to `session`.
 */
function attachEngine(
  session: (connection: FakeConnection) => Promise<void>,
  contentType = MULTIPLEXED,
) {
  return async (connection: FakeConnection) => {
    const request = await connection.readRequest();
    if (!request) return;
    assert.equal(request.method, "POST");
    assert.match(request.target, /^\/v1\.41\/containers\/web\/attach\?/);
    assert.equal(request.headers["upgrade"], "tcp");
    await connection.write(
      `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
    );
    await session(connection);
  };
}

/** Echoes stdin as stdout frames until EOF, then says so on stderr. */
async function echo(connection: FakeConnection): Promise<void> {
  while (true) {
    const bytes = await connection.readSome();
    if (bytes === null) break;
    await connection.write(frame(1, bytes));
  }
  await connection.write(frame(2, "eof\n"));
}

// ---------------------------------------------------------------------------
// Streams with a head
// ---------------------------------------------------------------------------

Deno.test("ApiClient.streamWithHead in a worker reports the head fields first, then the body byte-exact", async () => {
  const body = payload(300 * 1024);
  await using engine = await startFakeEngine(
    respondEach(() =>
      httpResponse(200, body, { "X-Docker-Container-Path-Stat": STAT_HEADER, "X-Other": "no" })
    ),
  );
  using client = setup(engine);
  for (const worker of [true, false]) {
    const { head, body: stream } = await client.api.streamWithHead<Uint8Array>(
      { method: "GET", path: "/containers/web/archive", action: "copy", worker },
      () => bytesDecoder(),
      { kind: "bytes" },
      ["X-Docker-Container-Path-Stat"],
    );
    assert.deepEqual(head, {
      status: 200,
      statusText: "OK",
      headers: { "x-docker-container-path-stat": STAT_HEADER },
    });
    const got = new Uint8Array(await new Response(stream).arrayBuffer());
    assert.deepEqual(got, body);
  }
  assert.equal(client.pool.workers, 1);
  await waitFor(() => client.pool.streams === 0);
});

Deno.test("Containers.getArchive in a worker decodes the stat; an error status rejects the call itself", async () => {
  await using engine = await startFakeEngine(
    respondEach((request) =>
      request.target.includes("missing")
        ? httpResponse(404, JSON.stringify({ message: "Could not find the file /missing" }))
        : httpResponse(200, "tar", { "X-Docker-Container-Path-Stat": STAT_HEADER })
    ),
  );
  using client = setup(engine);
  const containers = new Containers(client.api);
  const { stat, body } = await containers.getArchive("web", "/data");
  assert.deepEqual(stat, STAT);
  assert.equal(decoder.decode(await new Response(body).arrayBuffer()), "tar");
  const error = await rejection(containers.getArchive("web", "/missing"));
  assert.ok(error instanceof DockerNotFoundError);
  assert.equal(error.engineMessage, "Could not find the file /missing");
  assert.match(error.message, /^Cannot copy "\/missing" from container "web"/);
  await waitFor(() => client.pool.streams === 0);
});

Deno.test("Containers.getArchive in a worker: a missing stat header is INVALID_HEADER and closes the body", async () => {
  let closed = false;
  await using engine = await startFakeEngine(async (connection) => {
    await connection.readRequest();
    await connection.write(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntar\r\n",
    );
    closed = await connection.waitForClientClose();
  });
  using client = setup(engine);
  const error = await rejection(new Containers(client.api).getArchive("web", "/data"));
  assert.ok(error instanceof DockerProtocolError);
  assert.equal(error.code, "INVALID_HEADER");
  await waitFor(() => closed);
  await waitFor(() => client.pool.streams === 0);
});

Deno.test("ApiClient.streamWithHead in a worker: an abort before the head rejects with the signal's reason", async () => {
  let closed = false;
  await using engine = await startFakeEngine(async (connection) => {
    await connection.readRequest();
    closed = await connection.waitForClientClose();
  });
  using client = setup(engine);
  const controller = new AbortController();
  const reason = new Error("no longer needed");
  const pending = client.api.streamWithHead(
    { method: "GET", path: "/containers/web/archive", action: "copy", signal: controller.signal },
    () => bytesDecoder(),
    { kind: "bytes" },
    [],
  );
  await waitFor(() => engine.connections === 1);
  controller.abort(reason);
  assert.equal(await rejection(pending), reason);
  await waitFor(() => closed);
  await waitFor(() => client.pool.streams === 0);
  // An aborted signal starts nothing.
  const again = client.api.streamWithHead(
    { method: "GET", path: "/x", action: "copy", signal: AbortSignal.abort(reason) },
    () => bytesDecoder(),
    { kind: "bytes" },
    [],
  );
  assert.equal(await rejection(again), reason);
  assert.equal(engine.connections, 1);
});

// ---------------------------------------------------------------------------
// Hijacked sessions
// ---------------------------------------------------------------------------

Deno.test("Containers.attach in a worker demultiplexes output, relays stdin byte-exact, and half-closes", async () => {
  await using engine = await startFakeEngine(attachEngine(echo));
  using client = setup(engine);
  const session = await new Containers(client.api).attach("web", { stdin: true, tty: false });
  assert.equal(session.id, "web");
  assert.equal(client.pool.streams, 1);
  const output = collectOutput(session.readable);
  const input = payload(1 << 20);
  const writer = session.writable.getWriter();
  // One reused buffer: each write must have been copied, not transferred.
  const chunk = new Uint8Array(64 * 1024);
  for (let offset = 0; offset < input.length; offset += chunk.length) {
    const piece = input.subarray(offset, offset + chunk.length);
    chunk.set(piece);
    await writer.write(chunk.subarray(0, piece.length));
    assert.equal(chunk.byteLength, 64 * 1024, "the caller's buffer was detached");
  }
  await writer.close(); // EOF for the engine; its last frame still arrives
  const { stdout, stderr } = await withDeadline(output, 5000, "output");
  assert.equal(stdout.length, input.length);
  assert.deepEqual(stdout, input);
  assert.equal(decoder.decode(stderr), "eof\n");
  await waitFor(() => client.pool.streams === 0);
  // The session ended with its output: closing again is quiet.
  await session.closeWrite();
  await session[Symbol.asyncDispose]();
});

Deno.test("Containers.attach in a worker passes raw TTY output through as stdout frames", async () => {
  // Bytes that would parse as a multiplexed header if demultiplexed.
  const raw = concat([new Uint8Array([2, 0, 0, 0, 0, 0, 0, 5]), payload(100_000)]);
  await using engine = await startFakeEngine(attachEngine(async (connection) => {
    await connection.write(raw);
  }, RAW));
  using client = setup(engine);
  await using session = await new Containers(client.api).attach("web", { tty: true });
  const frames: Frame[] = [];
  for await (const item of session.readable) frames.push({ ...item, data: item.data.slice() });
  assert.ok(frames.every((item) => item.stream === "stdout"));
  assert.deepEqual(concat(frames.map((item) => item.data)), raw);
});

Deno.test("Containers.attach in a worker: the Content-Type wins over a TTY lookup, which runs on this thread", async () => {
  await using engine = await startFakeEngine(attachEngine(async (connection) => {
    await connection.write(frame(1, "out"));
    await connection.write(frame(2, "err"));
  }));
  using client = setup(engine);
  let looked = 0;
  const session = await attach(client.api, "web", {}, () => {
    looked++;
    return Promise.resolve(true);
  }, () => Promise.resolve());
  const { stdout, stderr } = await collectOutput(session.readable);
  assert.equal(looked, 1);
  assert.equal(decoder.decode(stdout), "out");
  assert.equal(decoder.decode(stderr), "err");
  await session[Symbol.asyncDispose]();
});

Deno.test("Containers.attach in a worker rejects with the TTY lookup's own error", async () => {
  let closed = false;
  await using engine = await startFakeEngine(attachEngine(async (connection) => {
    closed = await connection.waitForClientClose();
  }, RAW));
  using client = setup(engine);
  const failure = new DockerError("inspect failed");
  const error = await rejection(
    attach(client.api, "web", {}, () => Promise.reject(failure), () => Promise.resolve()),
  );
  assert.equal(error, failure);
  await waitFor(() => closed);
  await waitFor(() => client.pool.streams === 0);
});

Deno.test("Containers.attach in a worker: close() ends the output quietly, closes the socket, and fails later writes", async () => {
  let closed = false;
  await using engine = await startFakeEngine(attachEngine(async (connection) => {
    await connection.write(frame(1, "hello"));
    closed = await connection.waitForClientClose();
  }));
  using client = setup(engine);
  const session = await new Containers(client.api).attach("web", { stdin: true, tty: false });
  const reader = session.readable.getReader();
  assert.equal(decoder.decode((await reader.read()).value!.data), "hello");
  const pending = reader.read();
  session.close();
  assert.deepEqual(await withDeadline(pending, 2000, "read after close"), {
    done: true,
    value: undefined,
  });
  const writer = session.writable.getWriter();
  const error = await rejection(writer.write(encoder.encode("late")));
  assert.ok(error instanceof DockerConnectionError);
  assert.match(error.message, /session is closed/);
  // Disposing resolves once the worker has closed the socket.
  await session[Symbol.asyncDispose]();
  assert.equal(client.pool.streams, 0);
  await waitFor(() => closed);
});

Deno.test("Containers.attach in a worker: an abort before the switch rejects with its reason, after it closes the session and fails the output with it", async () => {
  let closedEarly = false;
  await using early = await startFakeEngine(async (connection) => {
    await connection.readRequest();
    closedEarly = await connection.waitForClientClose();
  });
  using first = setup(early);
  const controller = new AbortController();
  const reason = new Error("stop attaching");
  const pending = new Containers(first.api).attach("web", {
    tty: false,
    signal: controller.signal,
  });
  await waitFor(() => early.connections === 1);
  controller.abort(reason);
  assert.equal(await rejection(pending), reason);
  await waitFor(() => closedEarly);
  await waitFor(() => first.pool.streams === 0);

  let closed = false;
  await using engine = await startFakeEngine(attachEngine(async (connection) => {
    closed = await connection.waitForClientClose();
  }));
  using client = setup(engine);
  const later = new AbortController();
  const session = await new Containers(client.api).attach("web", {
    tty: false,
    signal: later.signal,
  });
  const reading = collectOutput(session.readable);
  const laterReason = new Error("done");
  later.abort(laterReason);
  // As on this thread: the output fails with the reason.
  assert.equal(await withDeadline(rejection(reading), 2000, "output end"), laterReason);
  await waitFor(() => closed);
  await waitFor(() => client.pool.streams === 0);
});

Deno.test("Containers.attach in a worker rejects an error status as its class and a missing switch as UNEXPECTED_UPGRADE", async () => {
  await using engine = await startFakeEngine(
    respondEach((request) =>
      request.target.includes("/missing/")
        ? httpResponse(404, JSON.stringify({ message: "No such container: missing" }))
        : httpResponse(200, "not a stream")
    ),
  );
  using client = setup(engine);
  const containers = new Containers(client.api);
  const missing = await rejection(containers.attach("missing", { tty: false }));
  assert.ok(missing instanceof DockerNotFoundError);
  assert.equal(missing.engineMessage, "No such container: missing");
  const plain = await rejection(containers.attach("web", { tty: false }));
  assert.ok(plain instanceof DockerProtocolError);
  assert.equal(plain.code, "UNEXPECTED_UPGRADE");
  await waitFor(() => client.pool.streams === 0);
});

Deno.test("Containers.attach in a worker: a write on a connection the engine closed rejects with DockerConnectionError", async () => {
  await using engine = await startFakeEngine(attachEngine((connection) => {
    connection.close();
    return Promise.resolve();
  }));
  using client = setup(engine);
  await using session = await new Containers(client.api).attach("web", {
    stdin: true,
    tty: false,
  });
  const writer = session.writable.getWriter();
  const chunk = new Uint8Array(64 * 1024);
  let error: unknown;
  for (let i = 0; i < 1000 && error === undefined; i++) {
    await writer.write(chunk).catch((failure) => error = failure);
  }
  assert.ok(error instanceof DockerConnectionError, String(error));
  assert.match(error.message, /^Attached session with the engine at unix:.* broke: /);
});

Deno.test("WorkerPool.close fails a session's pending read and its later writes", async () => {
  await using engine = await startFakeEngine(attachEngine(async (connection) => {
    await connection.waitForClientClose();
  }));
  const client = setup(engine);
  try {
    const session = await new Containers(client.api).attach("web", { stdin: true, tty: false });
    const reader = session.readable.getReader();
    const pending = reader.read();
    client.close();
    const error = await rejection(pending);
    assert.ok(error instanceof DockerConnectionError);
    assert.match(error.message, /client was closed/);
    const write = await rejection(session.writable.getWriter().write(new Uint8Array(1)));
    assert.ok(write instanceof DockerConnectionError);
    assert.equal(client.pool.workers, 0);
  } finally {
    client.close();
  }
});

Deno.test("A failed attach or output stream waits for its TTY lookup, in a worker and on this thread", async () => {
  await using engine = await startFakeEngine(
    respondEach(() => httpResponse(404, '{"message":"No such container: gone"}')),
  );
  using client = setup(engine);
  for (const worker of [true, false]) {
    // The lookup (a request of its own in real use) settles after the 404.
    const slowLookup = () => {
      const state = { settled: false };
      const promise = new Promise<boolean>((resolve) =>
        setTimeout(() => {
          state.settled = true;
          resolve(false);
        }, 100)
      );
      return { state, promise };
    };
    const forAttach = slowLookup();
    await assert.rejects(
      attach(client.api, "gone", { worker }, () => forAttach.promise, () => Promise.resolve()),
      DockerNotFoundError,
    );
    assert.equal(forAttach.state.settled, true, `attach, worker ${worker}`);

    const forLogs = slowLookup();
    const stream = outputStream(
      client.api,
      { method: "GET", path: "/containers/gone/logs", action: "read logs", worker },
      forLogs.promise,
    );
    await assert.rejects(stream.getReader().read(), DockerNotFoundError);
    assert.equal(forLogs.state.settled, true, `logs, worker ${worker}`);
  }
});

// ---------------------------------------------------------------------------
// WebSocket attach
// ---------------------------------------------------------------------------

/** An engine that switches to WebSocket with the given accept value and closes. */
function webSocketEngine(accept: (key: string) => Promise<string>) {
  return async (connection: FakeConnection) => {
    const request = await connection.readRequest();
    if (!request) return;
    assert.equal(request.method, "GET");
    assert.match(request.target, /^\/v1\.41\/containers\/web\/attach\/ws\?/);
    assert.equal(request.headers["upgrade"], "websocket");
    const value = await accept(request.headers["sec-websocket-key"] ?? "");
    await connection.write(
      `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${value}\r\n\r\n`,
    );
    // A text message "hi", then a close frame (status 1000).
    await connection.write(new Uint8Array([0x81, 2, 104, 105, 0x88, 2, 0x03, 0xe8]));
  };
}

/** RFC 6455 §4.2.2: base64 SHA-1 of the key and the protocol's GUID. */
async function acceptOf(key: string): Promise<string> {
  const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(key + guid));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

Deno.test("Containers.attachWebSocket checks the handshake the same in a worker and on this thread", async (t) => {
  for (const worker of [true, false]) {
    await t.step(worker ? "in a worker" : "on this thread", async () => {
      await using good = await startFakeEngine(webSocketEngine(acceptOf));
      using client = setup(good);
      const ws = await new Containers(client.api).attachWebSocket("web", { worker });
      assert.equal(client.pool.streams, worker ? 1 : 0);
      const messages: string[] = [];
      for await (const payload of ws.readable) messages.push(decoder.decode(payload));
      assert.deepEqual(messages, ["hi"]);
      await ws.close();
      assert.equal(client.pool.streams, 0);

      await using bad = await startFakeEngine(webSocketEngine(() => Promise.resolve("wrong=")));
      using other = setup(bad);
      const error = await rejection(new Containers(other.api).attachWebSocket("web", { worker }));
      assert.ok(error instanceof DockerProtocolError);
      assert.equal(error.code, "INVALID_HEADER");
      assert.match(
        error.message,
        /Sec-WebSocket-Accept "wrong=", which does not match the key sent/,
      );
      assert.equal(other.pool.streams, 0);
    });
  }
});
