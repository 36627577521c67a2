// HttpClient: observer records, close, backpressure, small bodies, the
// request cache, reads inside the exchange, and HTTP/1.0 keep-alive.
import assert from "node:assert/strict";
import { DockerConnectionError, DockerError, DockerProtocolError } from "../../src/errors.ts";
import { HttpClient } from "../../src/http/client.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import {
  chunked,
  concat,
  httpResponse,
  newClient,
  respondEach,
  sleep,
  startFakeEngine,
  tappedConnector,
} from "../_fake_engine.ts";
import { rejection } from "../_helpers.ts";

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// Observer records
// ---------------------------------------------------------------------------

Deno.test("HttpClient reports one record per exchange with the bytes seen on the wire", async () => {
  const wire: { read: number; written: number }[] = [];
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      await connection.write(
        httpResponse(request.method === "POST" ? 201 : 200, "x".repeat(request.body.length + 3)),
      );
      wire.push({ read: connection.bytesRead, written: connection.bytesWritten });
    }
  });
  const records: ExchangeRecord[] = [];
  const client = newClient(engine, { onRecord: (record) => records.push(record) });
  try {
    await (await client.request({ method: "GET", target: "/a?b=1" })).text();
    await (await client.request({ method: "POST", target: "/c", body: "payload" })).text();
    await (await client.request({ method: "GET", target: "/d", headers: { "X-Extra": "1" } }))
      .text();
    assert.equal(records.length, 3);
    assert.deepEqual(records.map((r) => [r.method, r.target, r.status]), [
      ["GET", "/a?b=1", 200],
      ["POST", "/c", 201],
      ["GET", "/d", 200],
    ]);
    assert.deepEqual(records.map((r) => r.reusedConnection), [false, true, true]);
    let previous = { read: 0, written: 0 };
    for (const [i, record] of records.entries()) {
      assert.equal(record.bytesSent, wire[i]!.read - previous.read, `bytesSent of #${i}`);
      assert.equal(
        record.bytesReceived,
        wire[i]!.written - previous.written,
        `bytesReceived of #${i}`,
      );
      assert.equal(record.error, undefined);
      assert.ok(record.endTime >= record.startTime);
      previous = wire[i]!;
    }
    assert.equal(records[2]!.requestHeaders["X-Extra"], "1");
    assert.equal(records[2]!.requestHeaders["Host"], "docker");
  } finally {
    client.close();
  }
});

Deno.test("HttpClient records the error of failed, cancelled and unconnectable exchanges", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      if (request.target === "/bad") {
        await connection.write(
          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        return;
      }
      await connection.write(httpResponse(200, "y".repeat(100_000)));
    }
  });
  const records: ExchangeRecord[] = [];
  const client = newClient(engine, { onRecord: (record) => records.push(record) });
  const missing = new HttpClient({
    connect: createConnector(parseHost("unix:///nonexistent/berth/engine.sock"), 1000),
    host: "unix:///nonexistent/berth/engine.sock",
    hostHeader: "docker",
    onRecord: (record) => records.push(record),
  });
  try {
    const protocol = await rejection(client.request({ method: "GET", target: "/bad" }));
    assert.ok(protocol instanceof DockerProtocolError);
    assert.equal(records.length, 1);
    assert.equal(records[0]!.error, protocol);
    assert.equal(records[0]!.status, 200);

    const response = await client.request({ method: "GET", target: "/big" });
    const reason = new Error("enough");
    response.cancel(reason);
    assert.equal(records.length, 2);
    assert.equal(records[1]!.error, reason);
    response.cancel(new Error("again"));
    assert.equal(records.length, 2, "a second cancel reports nothing");

    const unconnectable = await rejection(missing.request({ method: "GET", target: "/_ping" }));
    assert.ok(unconnectable instanceof DockerConnectionError);
    assert.equal(records.length, 3);
    assert.equal(records[2]!.error, unconnectable);
    assert.equal(records[2]!.bytesSent, 0);
    assert.equal(records[2]!.status, undefined);
  } finally {
    client.close();
    missing.close();
  }
});

Deno.test("HttpClient keeps working when onRecord throws", async () => {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "fine")));
  const client = newClient(engine, {
    onRecord: () => {
      throw new Error("observer bug");
    },
  });
  try {
    for (let i = 0; i < 2; i++) {
      assert.equal(await (await client.request({ method: "GET", target: "/" })).text(), "fine");
    }
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient rejects requests after close with DockerError", async () => {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "ok")));
  const client = newClient(engine);
  client.close();
  await assert.rejects(client.request({ method: "GET", target: "/" }), DockerError);
  assert.equal(engine.connections, 0);
});

// ---------------------------------------------------------------------------
// Backpressure
// ---------------------------------------------------------------------------

Deno.test("HttpClient reads a 64 MiB chunked body only as fast as the consumer pulls", async () => {
  const CHUNK = 64 * 1024;
  const CHUNKS = 1024; // 64 MiB
  const READ_AHEAD_LIMIT = 512 * 1024;
  let serverDone = false;
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      if (request.target !== "/export") {
        await connection.write(httpResponse(200, "after"));
        continue;
      }
      await connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
      const size = encoder.encode(`${CHUNK.toString(16)}\r\n`);
      for (let i = 0; i < CHUNKS; i++) {
        const chunk = new Uint8Array(size.length + CHUNK + 2);
        chunk.set(size);
        chunk.fill(i & 0xff, size.length, size.length + CHUNK);
        chunk.set([13, 10], size.length + CHUNK);
        await connection.write(chunk);
      }
      await connection.write("0\r\n\r\n");
      serverDone = true;
    }
  });
  const tap = tappedConnector(engine.host);
  const client = new HttpClient({ connect: tap.connect, host: engine.host, hostHeader: "docker" });
  try {
    const response = await client.request({ method: "GET", target: "/export" });
    const reader = response.stream().getReader();
    let consumed = 0;
    const pauses = [1, 16, 48].map((mib) => mib * 1024 * 1024);
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      // Spot-check content: every byte of chunk i is i & 0xff.
      assert.equal(value[0], Math.floor(consumed / CHUNK) & 0xff);
      assert.equal(
        value[value.length - 1],
        Math.floor((consumed + value.length - 1) / CHUNK) & 0xff,
      );
      consumed += value.length;
      if (pauses.length > 0 && consumed >= pauses[0]!) {
        pauses.shift();
        const before = tap.bytesRead;
        await sleep(100);
        assert.equal(tap.bytesRead, before, "the client read while the consumer was paused");
        assert.ok(
          before - consumed < READ_AHEAD_LIMIT,
          `read ahead ${before - consumed} bytes at ${consumed}`,
        );
        assert.equal(serverDone, false, "the engine must be held back by the socket");
      }
    }
    assert.equal(consumed, CHUNK * CHUNKS);
    assert.equal(pauses.length, 0);
    assert.equal(await (await client.request({ method: "GET", target: "/next" })).text(), "after");
    assert.equal(tap.opened, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient gives a small Content-Length body back without another read and pools the connection at once", async () => {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "OK")));
  const client = newClient(engine);
  try {
    for (let i = 0; i < 3; i++) {
      const response = await client.request({ method: "GET", target: "/_ping" });
      // The body came with the head: the exchange is over before it is read.
      assert.equal(response.finished, true);
      assert.equal(client.pool.idle, 1);
      assert.equal(client.pool.busy, 0);
      assert.equal(await response.text(), "OK");
    }
    assert.equal(engine.connections, 1);
    const cancelled = await client.request({ method: "GET", target: "/_ping" });
    cancelled.cancel(new Error("not wanted"));
    await assert.rejects(cancelled.text(), /not wanted/);
    const limited = await client.request({ method: "GET", target: "/_ping" });
    await assert.rejects(limited.bytes(1), (error: unknown) => {
      assert.ok(error instanceof DockerProtocolError, String(error));
      assert.equal(error.code, "BODY_TOO_LARGE");
      return true;
    });
  } finally {
    client.close();
  }
});

Deno.test("HttpClient sends the caller's Host field instead of its own, once", async () => {
  const seen: Record<string, string>[] = [];
  await using engine = await startFakeEngine(respondEach((request) => {
    seen.push(request.headers);
    return httpResponse(200, "OK");
  }));
  const client = newClient(engine);
  try {
    await (await client.request({ method: "GET", target: "/a", headers: { Host: "other" } }))
      .discard();
    await (await client.request({ method: "GET", target: "/b" })).discard();
    assert.equal(seen[0]!["host"], "other");
    assert.equal(seen[1]!["host"], "docker");
  } finally {
    client.close();
  }
});

Deno.test("HttpClient with reuseReadBuffer reads the body into one buffer, each piece exact when consumed in turn", async () => {
  const body = new Uint8Array(1024 * 1024 + 123);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 11)) & 0xff;
  const wire = concat([
    encoder.encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
    chunked(body, [1000, 70_000, 5, 200_000]),
  ]);
  await using engine = await startFakeEngine(respondEach(() => wire));
  const client = newClient(engine);
  try {
    for (const reuse of [false, true]) {
      const response = await client.request({
        method: "GET",
        target: "/logs",
        reuseReadBuffer: reuse,
      });
      const buffers = new Set<ArrayBufferLike>();
      let offset = 0;
      let mismatches = 0;
      while (true) {
        const batch = await response.readBatch();
        if (batch === null) break;
        for (const piece of batch) {
          buffers.add(piece.buffer);
          for (let i = 0; i < piece.length; i++) if (piece[i] !== body[offset + i]) mismatches++;
          offset += piece.length;
        }
      }
      assert.equal(offset, body.length);
      assert.equal(mismatches, 0);
      // The slab holding the head's leftover bytes, then the reused buffer;
      // without reuse, fresh 256 KiB slabs for the 1 MiB.
      if (reuse) assert.ok(buffers.size <= 2, `${buffers.size} buffers`);
      else assert.ok(buffers.size >= 4, `${buffers.size} buffers`);
    }
  } finally {
    client.close();
  }
});

Deno.test("HttpClient returns the engine's early answer to a large upload even when the write then breaks", async () => {
  // The engine refuses at the head: it answers and closes without reading
  // the body, so the client's write breaks while the answer is readable.
  await using engine = await startFakeEngine(async (connection) => {
    await connection.readSome();
    await connection.write(httpResponse(400, '{"message":"context too large"}'));
    connection.close();
  });
  const client = newClient(engine);
  try {
    for (const kind of ["bytes", "stream"] as const) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const size = 16 * 1024 * 1024;
        const body = kind === "bytes" ? new Uint8Array(size) : new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < size / 65536; i++) controller.enqueue(new Uint8Array(65536));
            controller.close();
          },
        });
        const response = await client.request({ method: "POST", target: "/build", body });
        assert.equal(response.status, 400, `${kind} attempt ${attempt}`);
        assert.equal(await response.text(), '{"message":"context too large"}');
      }
    }
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient sends a plain GET's cached bytes unchanged, and never caches a request with fields, a body or a bad target", async () => {
  // Answers each request with what the engine saw of it.
  const engine = await startFakeEngine(
    respondEach((r) =>
      httpResponse(200, JSON.stringify([r.method, r.target, r.lines, r.body.length]))
    ),
  );
  await using _ = engine;
  const client = newClient(engine);
  try {
    const seen = async (request: Parameters<HttpClient["request"]>[0]) =>
      JSON.parse(await (await client.request(request)).text());
    const plain = ["GET", "/v1.41/containers/a/json", [["host", "docker"]], 0];
    assert.deepEqual(await seen({ method: "GET", target: "/v1.41/containers/a/json" }), plain);
    assert.deepEqual(await seen({ method: "GET", target: "/v1.41/containers/a/json" }), plain);
    // The same target with a field of its own, a body, or another method is encoded anew.
    assert.deepEqual(
      await seen({
        method: "GET",
        target: "/v1.41/containers/a/json",
        headers: { "X-Trace": "1" },
      }),
      ["GET", "/v1.41/containers/a/json", [["host", "docker"], ["x-trace", "1"]], 0],
    );
    assert.deepEqual(
      await seen({ method: "POST", target: "/v1.41/containers/a/json" }),
      ["POST", "/v1.41/containers/a/json", [["host", "docker"], ["content-length", "0"]], 0],
    );
    assert.deepEqual(
      await seen({ method: "GET", target: "/v1.41/containers/a/json", body: "xy" }),
      ["GET", "/v1.41/containers/a/json", [["host", "docker"], ["content-length", "2"]], 2],
    );
    // More targets than the client keeps: each is still sent right.
    for (let i = 0; i < 300; i++) {
      assert.deepEqual((await seen({ method: "GET", target: `/t/${i}` }))[1], `/t/${i}`);
    }
    assert.deepEqual(await seen({ method: "GET", target: "/v1.41/containers/a/json" }), plain);
    // An invalid target fails every time, before any I/O.
    for (let i = 0; i < 2; i++) {
      await assert.rejects(client.request({ method: "GET", target: "/a b" }), TypeError);
    }
  } finally {
    client.close();
  }
});

Deno.test("HttpClient runs a request's read inside the exchange: its result, its promise, its error (a body left unread is cancelled), never after rejectWith refused", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    while (true) {
      const request = await connection.readRequest();
      if (!request) return;
      if (request.target === "/slow") {
        // The body is not complete when the head arrives.
        await connection.write(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        );
        await sleep(30);
        await connection.write("6\r\n world\r\n0\r\n\r\n");
      } else if (request.target === "/missing") {
        await connection.write(httpResponse(404, "no such thing"));
      } else {
        await connection.write(httpResponse(200, "OK"));
      }
    }
  });
  const client = newClient(engine);
  try {
    // A plain value: the body came with the head.
    const text = await client.request(
      { method: "GET", target: "/ok" },
      (response) => response.textIfComplete(),
    );
    assert.equal(text, "OK");
    assert.equal(client.pool.idle, 1);

    // A promise: the body is read inside the call.
    const slow = await client.request(
      { method: "GET", target: "/slow" },
      (response) => response.text().then((body) => `${response.status} ${body}`),
    );
    assert.equal(slow, "200 hello world");
    assert.equal(client.pool.idle, 1);
    assert.equal(engine.connections, 1);

    // Throwing before the body is read: the call fails with that error,
    // and the connection is closed rather than pooled mid-body.
    const failure = new Error("not this one");
    await assert.rejects(
      client.request({ method: "GET", target: "/slow" }, () => {
        throw failure;
      }),
      (error: unknown) => error === failure,
    );
    assert.equal(client.pool.busy, 0);
    assert.equal(client.pool.idle, 0);
    assert.equal(await client.request({ method: "GET", target: "/ok" }, (r) => r.status), 200);
    assert.equal(engine.connections, 2);

    // rejectWith refuses: read never runs.
    let reads = 0;
    const refused = new Error("404 from the engine");
    await assert.rejects(
      client.request(
        {
          method: "GET",
          target: "/missing",
          rejectWith: (response) =>
            response.status === 404 ? response.discard().then(() => refused) : undefined,
        },
        () => reads++,
      ),
      (error: unknown) => error === refused,
    );
    assert.equal(reads, 0);
  } finally {
    client.close();
  }
});

/**
 * An in-memory connection that answers its first read with `wire` (and
 * then the end), counting connects and closes.
 */
function answeringConnector(wire: string, onRead?: () => void) {
  const counts = { connects: 0, closes: 0 };
  const bytes = new TextEncoder().encode(wire);
  const connect = () => {
    counts.connects++;
    let served = false;
    return Promise.resolve({
      read(into: Uint8Array) {
        if (served) return Promise.resolve(null);
        served = true;
        into.set(bytes);
        onRead?.();
        return Promise.resolve(bytes.length);
      },
      write: (chunk: Uint8Array) => Promise.resolve(chunk.length),
      close() {
        counts.closes++;
      },
    } as unknown as Deno.Conn);
  };
  return { connect, counts };
}

Deno.test("HttpClient rejects with the signal's reason when the abort lands as the head's read completes", async () => {
  const controller = new AbortController();
  const reason = new Error("caller gave up");
  // The abort comes after the read resolved, before the exchange resumes.
  const { connect, counts } = answeringConnector(
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    () => queueMicrotask(() => controller.abort(reason)),
  );
  const client = new HttpClient({ connect, host: "unix:///x", hostHeader: "docker" });
  try {
    const error = await rejection(
      client.request({ method: "GET", target: "/", signal: controller.signal }),
    );
    assert.equal(error, reason);
    assert.equal(counts.closes, 1);
    assert.equal(client.pool.idle, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient pools an HTTP/1.0 connection only when the server says keep-alive", async () => {
  for (
    const [connection, pooled] of [["", false], ["Connection: keep-alive\r\n", true]] as const
  ) {
    const { connect, counts } = answeringConnector(
      `HTTP/1.0 200 OK\r\n${connection}Content-Length: 2\r\n\r\nok`,
    );
    const client = new HttpClient({ connect, host: "unix:///x", hostHeader: "docker" });
    try {
      const response = await client.request({ method: "GET", target: "/" });
      assert.equal(await response.text(), "ok");
      assert.equal(client.pool.idle, pooled ? 1 : 0, connection);
      assert.equal(counts.closes, pooled ? 0 : 1, connection);
    } finally {
      client.close();
    }
  }
});
