// HttpClient timeouts (head, body, long-lived exemption) and aborts (before
// the call, queued, connecting, waiting for the head, mid-body).
import assert from "node:assert/strict";
import { DockerTimeoutError } from "../../src/errors.ts";
import { HttpClient } from "../../src/http/client.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import {
  type FakeConnection,
  type FakeEngine,
  httpResponse,
  newClient,
  respondEach,
  sleep,
  startFakeEngine,
  waitFor,
  withDeadline,
} from "../_fake_engine.ts";
import { rejection } from "../_helpers.ts";

const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------

/** An engine that reads a request, writes `answer` (if any), then waits for the client to hang up. */
async function stallingEngine(
  answer?: (connection: FakeConnection) => Promise<void>,
): Promise<{ engine: FakeEngine; closedByClient: () => boolean; arrived: () => boolean }> {
  let closed = false;
  let arrived = false;
  const engine = await startFakeEngine(async (connection) => {
    await connection.readRequest();
    arrived = true;
    await answer?.(connection);
    closed = await connection.waitForClientClose();
  });
  return { engine, closedByClient: () => closed, arrived: () => arrived };
}

Deno.test("HttpClient fails with DockerTimeoutError phase headers when no head arrives in time", async () => {
  const { engine, closedByClient } = await stallingEngine();
  await using _ = engine;
  const records: ExchangeRecord[] = [];
  const client = newClient(engine, { headersTimeout: 50, onRecord: (r) => records.push(r) });
  try {
    const started = performance.now();
    const error = await rejection(client.request({ method: "GET", target: "/slow" }));
    assert.ok(error instanceof DockerTimeoutError, String(error));
    assert.equal(error.phase, "headers");
    assert.equal(error.timeout, 50);
    assert.match(error.message, /GET \/slow/);
    assert.ok(performance.now() - started >= 45);
    await waitFor(closedByClient);
    assert.equal(records[0]!.error, error);
    assert.equal(records[0]!.status, undefined);
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient applies a per-call headersTimeout over the client default", async () => {
  const { engine, closedByClient } = await stallingEngine();
  await using _ = engine;
  const client = newClient(engine);
  try {
    const error = await rejection(
      client.request({ method: "GET", target: "/slow", headersTimeout: 20 }),
    );
    assert.ok(error instanceof DockerTimeoutError);
    assert.equal(error.phase, "headers");
    assert.equal(error.timeout, 20);
    await waitFor(closedByClient);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient starts the headers timeout only once a slow upload is sent", async () => {
  await using engine = await startFakeEngine(
    respondEach((request) => httpResponse(200, String(request.body.length))),
  );
  const client = newClient(engine, { headersTimeout: 50 });
  try {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (pulls++ === 5) return controller.close();
        await sleep(30);
        controller.enqueue(new Uint8Array(1000));
      },
    });
    // About 150 ms of upload against a 50 ms headers timeout.
    const response = await client.request({ method: "POST", target: "/images/load", body });
    assert.equal(await response.text(), "5000");
  } finally {
    client.close();
  }
});

Deno.test("HttpClient fails with DockerTimeoutError phase body when the body stalls", async () => {
  const { engine, closedByClient } = await stallingEngine(async (connection) => {
    await connection.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345");
  });
  await using _ = engine;
  const client = newClient(engine, { bodyTimeout: 50 });
  try {
    const response = await client.request({ method: "GET", target: "/body" });
    assert.equal(response.status, 200);
    const error = await rejection(response.bytes());
    assert.ok(error instanceof DockerTimeoutError, String(error));
    assert.equal(error.phase, "body");
    assert.equal(error.timeout, 50);
    await waitFor(closedByClient);
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient exempts long-lived requests from the body timeout", async () => {
  const slowStream = async (connection: FakeConnection) => {
    await connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    await sleep(150);
    await connection.write("5\r\nworld\r\n0\r\n\r\n").catch(() => {});
  };
  {
    const { engine } = await stallingEngine(slowStream);
    await using _ = engine;
    const client = newClient(engine, { bodyTimeout: 30 });
    try {
      const response = await client.request({ method: "GET", target: "/logs", longLived: true });
      assert.equal(await response.text(), "helloworld");
    } finally {
      client.close();
    }
  }
  {
    // The same stream without longLived times out: the exemption is real.
    const { engine } = await stallingEngine(slowStream);
    await using _ = engine;
    const client = newClient(engine, { bodyTimeout: 30 });
    try {
      const response = await client.request({ method: "GET", target: "/logs" });
      const error = await rejection(response.text());
      assert.ok(error instanceof DockerTimeoutError);
      assert.equal(error.phase, "body");
    } finally {
      client.close();
    }
  }
});

// ---------------------------------------------------------------------------
// Abort
// ---------------------------------------------------------------------------

Deno.test("HttpClient rejects with the signal's reason when aborted before the call, opening nothing", async () => {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "ok")));
  const client = newClient(engine);
  try {
    const reason = new Error("caller gave up");
    const error = await rejection(
      client.request({ method: "GET", target: "/x", signal: AbortSignal.abort(reason) }),
    );
    assert.equal(error, reason);
    const controller = new AbortController();
    controller.abort();
    const defaultReason = await rejection(
      client.request({ method: "GET", target: "/x", signal: controller.signal }),
    );
    assert.equal(defaultReason, controller.signal.reason);
    assert.equal(engine.connections, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient rejects with the signal's reason when aborted while waiting for the head", async () => {
  const { engine, closedByClient, arrived } = await stallingEngine();
  await using _ = engine;
  const records: ExchangeRecord[] = [];
  const client = newClient(engine, { onRecord: (r) => records.push(r) });
  try {
    const controller = new AbortController();
    const reason = { why: "not an Error at all" };
    const pending = client.request({ method: "GET", target: "/wait", signal: controller.signal });
    await waitFor(arrived);
    controller.abort(reason);
    assert.equal(await rejection(pending), reason);
    await waitFor(closedByClient);
    assert.equal(records.length, 1);
    assert.equal(records[0]!.error, reason);
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient rejects a body stream with the signal's reason when aborted mid-body", async () => {
  const answer = async (connection: FakeConnection) => {
    await connection.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst!\r\n");
  };
  // Aborted between reads.
  {
    const { engine, closedByClient } = await stallingEngine(answer);
    await using _ = engine;
    const client = newClient(engine);
    try {
      const controller = new AbortController();
      const response = await client.request({
        method: "GET",
        target: "/logs",
        signal: controller.signal,
      });
      const reader = response.stream().getReader();
      assert.equal(decoder.decode((await reader.read()).value), "first!");
      const reason = new Error("between reads");
      controller.abort(reason);
      assert.equal(await rejection(reader.read()), reason);
      await waitFor(closedByClient);
      assert.equal(client.pool.busy, 0);
    } finally {
      client.close();
    }
  }
  // Aborted while a read is waiting on the socket.
  {
    const { engine, closedByClient } = await stallingEngine(answer);
    await using _ = engine;
    const client = newClient(engine);
    try {
      const controller = new AbortController();
      const response = await client.request({
        method: "GET",
        target: "/logs",
        signal: controller.signal,
      });
      const reader = response.stream().getReader();
      assert.equal(decoder.decode((await reader.read()).value), "first!");
      const reading = reader.read();
      await sleep(10);
      const reason = new Error("during a read");
      controller.abort(reason);
      assert.equal(await rejection(reading), reason);
      await waitFor(closedByClient);
    } finally {
      client.close();
    }
  }
});

Deno.test("HttpClient rejects with the signal's reason when aborted while queued for a connection", async () => {
  const { promise: release, resolve } = Promise.withResolvers<void>();
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      if (request.target === "/hold") await release;
      await connection.write(httpResponse(200, request.target));
    }
  });
  const client = newClient(engine, { maxConnections: 1 });
  try {
    const holding = client.request({ method: "GET", target: "/hold" });
    await waitFor(() => client.pool.busy === 1);
    const controller = new AbortController();
    const queued = client.request({ method: "GET", target: "/queued", signal: controller.signal });
    await waitFor(() => client.pool.queued === 1);
    const reason = new Error("tired of waiting");
    controller.abort(reason);
    assert.equal(await rejection(queued), reason);
    assert.equal(client.pool.queued, 0);
    resolve();
    assert.equal(await (await holding).text(), "/hold");
    assert.equal(
      await (await client.request({ method: "GET", target: "/after" })).text(),
      "/after",
    );
    assert.equal(engine.connections, 1, "the aborted request never opened a connection");
  } finally {
    client.close();
  }
});

Deno.test("HttpClient rejects with the signal's reason when aborted while connecting, closing the late socket", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    await connection.waitForClientClose();
  });
  const real = createConnector(parseHost(engine.host), 1000);
  const { promise: gate, resolve: openGate } = Promise.withResolvers<void>();
  let connecting = 0;
  const client = new HttpClient({
    connect: async () => {
      connecting++;
      await gate;
      return await real();
    },
    host: engine.host,
    hostHeader: "docker",
    maxConnections: 1,
  });
  try {
    const controller = new AbortController();
    const pending = client.request({ method: "GET", target: "/x", signal: controller.signal });
    await waitFor(() => connecting === 1);
    const reason = new Error("connect took too long");
    controller.abort(reason);
    // The deadline makes an abort that waits for the connect fail, not hang.
    assert.equal(await rejection(withDeadline(pending, 1000, "abort while connecting")), reason);
    // The slot is free again although the connect is still under way.
    assert.equal(client.pool.busy, 0);
    openGate();
    // The socket that arrives late is closed, not leaked or pooled.
    await waitFor(() => engine.connections === 1 && engine.open === 0);
    assert.equal(client.pool.idle, 0);
  } finally {
    client.close();
  }
});
