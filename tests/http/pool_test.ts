import assert from "node:assert/strict";
import { DockerConnectionError, DockerError } from "../../src/errors.ts";
import { HttpClient } from "../../src/http/client.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import { ConnectionPool } from "../../src/http/pool.ts";
import { createConnector, parseHost } from "../../src/http/transport.ts";
import {
  chunked,
  httpResponse,
  newClient,
  respondEach,
  sleep,
  startFakeEngine,
  waitFor,
} from "../_fake_engine.ts";

const encoder = new TextEncoder();

Deno.test("HttpClient sends sequential requests over one kept-alive connection", async () => {
  await using engine = await startFakeEngine(
    respondEach((request) => httpResponse(200, request.target)),
  );
  const records: ExchangeRecord[] = [];
  const client = newClient(engine, { onRecord: (record) => records.push(record) });
  try {
    for (const target of ["/a", "/b", "/c"]) {
      const response = await client.request({ method: "GET", target });
      assert.equal(await response.text(), target);
    }
    assert.equal(engine.connections, 1);
    assert.deepEqual(records.map((r) => r.reusedConnection), [false, true, true]);
    assert.equal(client.pool.idle, 1);
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient does not reuse a connection whose body was cancelled unread", async () => {
  const big = new Uint8Array(1_000_000);
  let firstClosedByClient = false;
  await using engine = await startFakeEngine(async (connection, index) => {
    if (index > 0) return await respondEach(() => httpResponse(200, "small"))(connection, index);
    await connection.readRequest();
    await connection.write(httpResponse(200, big)).catch(() => {});
    firstClosedByClient = await connection.waitForClientClose();
  });
  const client = newClient(engine);
  try {
    const response = await client.request({ method: "GET", target: "/big" });
    const batch = await response.readBatch();
    assert.ok(batch && batch.length > 0);
    const reason = new Error("stop");
    response.cancel(reason);
    assert.equal(response.finished, true);
    // A read after cancel is not a clean end of the body.
    await assert.rejects(response.readBatch(), (error) => error === reason);
    const next = await client.request({ method: "GET", target: "/next" });
    assert.equal(await next.text(), "small");
    assert.equal(engine.connections, 2);
    await waitFor(() => firstClosedByClient);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient does not reuse a connection whose body stream was cancelled", async () => {
  const body = encoder.encode("x".repeat(200_000));
  let firstClosedByClient = false;
  await using engine = await startFakeEngine(async (connection, index) => {
    if (index > 0) return await respondEach(() => httpResponse(200, "small"))(connection, index);
    await connection.readRequest();
    await connection.write(
      new Uint8Array([
        ...encoder.encode("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
        ...chunked(body, [1000]),
      ]),
    ).catch(() => {});
    firstClosedByClient = await connection.waitForClientClose();
  });
  const client = newClient(engine);
  try {
    const response = await client.request({ method: "GET", target: "/logs" });
    const reader = response.stream().getReader();
    const first = await reader.read();
    assert.equal(first.done, false);
    await reader.cancel(new Error("consumer stopped"));
    const next = await client.request({ method: "GET", target: "/next" });
    assert.equal(await next.text(), "small");
    assert.equal(engine.connections, 2);
    await waitFor(() => firstClosedByClient);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient with maxConnections 2 runs 10 concurrent requests on at most 2 connections, FIFO", async () => {
  const arrived: string[] = [];
  const gates = new Map<string, () => void>();
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      const { promise, resolve } = Promise.withResolvers<void>();
      gates.set(request.target, resolve);
      arrived.push(request.target);
      await promise;
      await connection.write(httpResponse(200, request.target));
    }
  });
  const client = newClient(engine, { maxConnections: 2 });
  try {
    const order: string[] = [];
    const calls = Array.from(
      { length: 10 },
      (_, i) =>
        client.request({ method: "GET", target: `/r/${i}` }).then(async (response) => {
          const text = await response.text();
          order.push(text);
          return text;
        }),
    );
    await waitFor(() => arrived.length === 2);
    assert.deepEqual([...arrived].sort(), ["/r/0", "/r/1"]);
    assert.equal(client.pool.queued, 8);
    // Release one request at a time: the next queued request must be the
    // next one in call order, and the engine never sees a third connection.
    for (let next = 2; next < 10; next++) {
      gates.get(arrived[next - 2]!)!();
      await waitFor(() => arrived.length === next + 1);
      assert.equal(arrived[next], `/r/${next}`);
      assert.ok(engine.open <= 2, `open connections: ${engine.open}`);
    }
    gates.get(arrived[8]!)!();
    gates.get(arrived[9]!)!();
    const results = await Promise.all(calls);
    assert.deepEqual(results, Array.from({ length: 10 }, (_, i) => `/r/${i}`));
    assert.equal(order.length, 10);
    assert.ok(engine.maxOpen <= 2, `max open: ${engine.maxOpen}`);
    assert.equal(engine.connections, 2);
    assert.equal(client.pool.busy, 0);
    assert.equal(client.pool.queued, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient with maxConnections 2 settles 10 concurrent requests with delayed answers", async () => {
  let concurrent = 0;
  let peak = 0;
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      concurrent++;
      peak = Math.max(peak, concurrent);
      await sleep(5);
      concurrent--;
      await connection.write(httpResponse(200, request.target));
    }
  });
  const client = newClient(engine, { maxConnections: 2 });
  try {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, async (_, i) => {
        const response = await client.request({ method: "GET", target: `/r/${i}` });
        return await response.text();
      }),
    );
    assert.deepEqual(
      results.map((r) => r.status === "fulfilled" ? r.value : r.reason),
      Array.from({ length: 10 }, (_, i) => `/r/${i}`),
    );
    assert.ok(peak <= 2, `peak concurrent requests: ${peak}`);
    assert.ok(engine.maxOpen <= 2, `max open: ${engine.maxOpen}`);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient gives the connection back at once for an empty Content-Length body", async () => {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "")));
  const client = newClient(engine, { maxConnections: 1 });
  try {
    for (let i = 0; i < 3; i++) {
      // Only the status is looked at; the empty body is never read.
      const response = await client.request({
        method: "POST",
        target: "/containers/x/kill",
        signal: AbortSignal.timeout(2000),
      });
      assert.equal(response.status, 200);
      assert.equal(response.finished, true);
      assert.equal(client.pool.busy, 0);
    }
    assert.equal(engine.connections, 1);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient does not count long-lived requests against maxConnections", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    let request;
    while ((request = await connection.readRequest())) {
      if (request.target.startsWith("/events")) {
        // A stream that stays open until the client goes away.
        await connection.write(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        );
        await connection.waitForClientClose();
        return;
      }
      await connection.write(httpResponse(200, "quick"));
    }
  });
  const client = newClient(engine, { maxConnections: 1 });
  try {
    const events = [];
    for (let i = 0; i < 3; i++) {
      const response = await client.request({
        method: "GET",
        target: `/events/${i}`,
        longLived: true,
      });
      events.push(response);
    }
    assert.equal(client.pool.busy, 0);
    // The one counted slot is still free.
    const quick = await client.request({
      method: "GET",
      target: "/quick",
      signal: AbortSignal.timeout(2000),
    });
    assert.equal(await quick.text(), "quick");
    for (const response of events) {
      const reader = response.stream().getReader();
      assert.equal(new TextDecoder().decode((await reader.read()).value), "hello");
      await reader.cancel();
    }
    assert.equal(engine.connections, 4);
  } finally {
    client.close();
  }
});

Deno.test("ConnectionPool keeps at most maxConnections idle and closes them once older than keepAliveTimeout", async () => {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "ok")));
  const connect = createConnector(parseHost(engine.host), 1000);
  const pool = new ConnectionPool(connect, { maxConnections: 2, keepAliveTimeout: 30 });
  try {
    const leases = await Promise.all([1, 2, 3].map(() => pool.acquire(false, undefined)));
    assert.equal(leases.every((lease) => !lease.reused), true);
    for (const lease of leases) pool.release(lease.connection, true, false);
    // The oldest of three was dropped: the idle list holds two.
    assert.equal(pool.idle, 2);
    assert.equal(leases[0]!.connection.closed, true);
    const again = await pool.acquire(true, undefined);
    assert.equal(again.reused, true);
    assert.equal(again.connection, leases[2]!.connection, "most recently used first");
    pool.release(again.connection, true, true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    // Expiry is lazy (no timer per idle connection): the next acquire closes
    // both expired connections and opens a fresh one instead of reusing.
    const fresh = await pool.acquire(true, undefined);
    assert.equal(fresh.reused, false);
    assert.equal(leases[1]!.connection.closed, true);
    assert.equal(leases[2]!.connection.closed, true);
    pool.release(fresh.connection, false, true);
  } finally {
    pool.close();
  }
});

Deno.test("ConnectionPool with keepAliveTimeout 0 never reuses", async () => {
  await using engine = await startFakeEngine(respondEach(() => httpResponse(200, "ok")));
  const client = newClient(engine, { keepAliveTimeout: 0 });
  try {
    for (let i = 0; i < 3; i++) {
      await (await client.request({ method: "GET", target: "/" })).discard();
    }
    assert.equal(engine.connections, 3);
    assert.equal(client.pool.idle, 0);
  } finally {
    client.close();
  }
});

Deno.test("ConnectionPool close rejects queued requests and closes busy connections", async () => {
  await using engine = await startFakeEngine(async (connection) => {
    await connection.readRequest();
    await connection.waitForClientClose();
  });
  const client = newClient(engine, { maxConnections: 1 });
  const first = client.request({ method: "GET", target: "/hang" });
  const queued = client.request({ method: "GET", target: "/queued" });
  await waitFor(() => engine.connections === 1 && client.pool.queued === 1);
  client.close();
  // Both calls were made before close(): both fail alike, queued or not.
  for (const cut of [queued, first]) {
    await assert.rejects(cut, (error) => {
      assert.ok(error instanceof DockerConnectionError, String(error));
      assert.match(error.message, /the client was closed/);
      return true;
    });
  }
  // A call made after close() is the caller's mistake, not the connection's.
  await assert.rejects(client.request({ method: "GET", target: "/later" }), (error) => {
    assert.ok(error instanceof DockerError && !(error instanceof DockerConnectionError));
    assert.match(error.message, /client is closed/);
    return true;
  });
  assert.equal(engine.connections, 1);
});

Deno.test("HttpClient close does not wait for a connect in flight, and closes its socket when it comes", async () => {
  const connected = Promise.withResolvers<Deno.Conn>();
  let lateClosed = false;
  const client = new HttpClient({
    connect: () => connected.promise,
    host: "tcp://slow:2375",
    hostHeader: "docker",
  });
  const call = client.request({ method: "GET", target: "/_ping" });
  await sleep(10);
  const closedAt = performance.now();
  client.close();
  await assert.rejects(call, (error) => {
    assert.ok(error instanceof DockerConnectionError, String(error));
    assert.match(error.message, /the client was closed/);
    return true;
  });
  assert.ok(performance.now() - closedAt < 1000, "rejected without waiting for the connect");
  connected.resolve({ close: () => lateClosed = true } as unknown as Deno.Conn);
  await waitFor(() => lateClosed);
  assert.equal(client.pool.busy, 0);
});

Deno.test("HttpClient opens no connection for a stale-connection retry once closed", async () => {
  // Found while writing tests/http/chaos_test.ts: close() landing as the
  // pooled connection's end is read made the GET's retry connect anew
  // (a socket, or an ssh process, only to close it again).
  const wire = encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  let connects = 0;
  let reads = 0;
  const client: HttpClient = new HttpClient({
    connect: () => {
      connects++;
      return Promise.resolve({
        read(into: Uint8Array) {
          if (reads++ === 0) {
            into.set(wire);
            return Promise.resolve(wire.length);
          }
          // The engine's end and the client's close, in one step.
          client.close();
          return Promise.resolve(null);
        },
        write: (bytes: Uint8Array) => Promise.resolve(bytes.length),
        close() {},
      } as unknown as Deno.Conn);
    },
    host: "unix:///x",
    hostHeader: "docker",
  });
  assert.equal(await (await client.request({ method: "GET", target: "/a" })).text(), "ok");
  await assert.rejects(client.request({ method: "GET", target: "/b" }), DockerError);
  assert.equal(connects, 1, "no connect after close()");
  assert.equal(client.pool.busy, 0);
});
