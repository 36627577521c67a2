// HttpClient on stale pooled connections: which requests are replayed on a
// new connection, and which fail with DockerConnectionError.
import assert from "node:assert/strict";
import { DockerConnectionError } from "../../src/errors.ts";
import { HttpClient } from "../../src/http/client.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import {
  type FakeEngine,
  httpResponse,
  newClient,
  respondEach,
  sleep,
  startFakeEngine,
} from "../_fake_engine.ts";
import { rejection } from "../_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Stale pooled connections
// ---------------------------------------------------------------------------

/**
 * An engine whose first connection answers one request and then closes
 * while idle (as an engine restart or an idle timeout would); later
 * connections answer everything with "<METHOD> <target>".
 */
async function idleClosingEngine(): Promise<{ engine: FakeEngine; idleClosed: Promise<void> }> {
  const { promise: idleClosed, resolve } = Promise.withResolvers<void>();
  const engine = await startFakeEngine(async (connection, index) => {
    if (index > 0) {
      return await respondEach((r) =>
        r.method === "HEAD"
          ? "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"
          : httpResponse(200, `${r.method} ${r.target}`)
      )(connection, index);
    }
    await connection.readRequest();
    await connection.write(httpResponse(200, "first"));
    connection.close();
    resolve();
  });
  return { engine, idleClosed };
}

for (const method of ["GET", "HEAD", "PUT", "DELETE"]) {
  Deno.test(`HttpClient retries an idempotent ${method} once on a fresh connection after the pooled one went stale`, async () => {
    const { engine, idleClosed } = await idleClosingEngine();
    await using _ = engine;
    const records: ExchangeRecord[] = [];
    const client = newClient(engine, { onRecord: (record) => records.push(record) });
    try {
      assert.equal(
        await (await client.request({ method: "GET", target: "/first" })).text(),
        "first",
      );
      await idleClosed;
      const body = method === "PUT" ? "replayable" : undefined;
      const response = await client.request({
        method,
        target: "/second",
        body,
        signal: AbortSignal.timeout(2000),
      });
      assert.equal(response.status, 200);
      assert.equal(await response.text(), method === "HEAD" ? "" : `${method} /second`);
      assert.equal(engine.connections, 2);
      // One record per call, the retry included, and it reports success.
      assert.equal(records.length, 2);
      assert.equal(records[1]!.error, undefined);
      assert.equal(records[1]!.status, 200);
      assert.equal(client.pool.busy, 0);
    } finally {
      client.close();
    }
  });
}

/**
 * An engine whose first connection answers one request, then reads the
 * next one whole and hangs up without a byte of answer (the request may
 * have been applied); later connections answer as in `idleClosingEngine`.
 */
async function hangingUpEngine(): Promise<{ engine: FakeEngine; seen: string[] }> {
  const seen: string[] = [];
  const engine = await startFakeEngine(async (connection, index) => {
    if (index > 0) {
      return await respondEach((r) => httpResponse(200, `${r.method} ${r.target}`))(
        connection,
        index,
      );
    }
    await connection.readRequest();
    await connection.write(httpResponse(200, "first"));
    const second = await connection.readRequest();
    if (second) seen.push(`${second.method} ${second.target} ${decoder.decode(second.body)}`);
    connection.close();
  });
  return { engine, seen };
}

Deno.test("HttpClient retries a POST on a stale connection when not a byte of it was sent", async () => {
  // A write to a Unix socket the engine closed fails at once (EPIPE): the
  // engine never saw the request, so even POST /containers/create may go
  // again (RFC 9112 §9.3.1: "some means to detect that the original request
  // was never applied").
  const { engine, idleClosed } = await idleClosingEngine();
  await using _ = engine;
  const records: ExchangeRecord[] = [];
  const client = newClient(engine, { onRecord: (record) => records.push(record) });
  try {
    await (await client.request({ method: "GET", target: "/first" })).discard();
    await idleClosed;
    await sleep(20);
    const response = await client.request({
      method: "POST",
      target: "/containers/create",
      body: "{}",
    });
    assert.equal(await response.text(), "POST /containers/create");
    assert.equal(engine.connections, 2);
    assert.equal(records.length, 2);
    assert.equal(records[1]!.error, undefined);
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient does not retry a POST the engine received before hanging up: DockerConnectionError", async () => {
  const { engine, seen } = await hangingUpEngine();
  await using _ = engine;
  const records: ExchangeRecord[] = [];
  const client = newClient(engine, { onRecord: (record) => records.push(record) });
  try {
    await (await client.request({ method: "GET", target: "/first" })).discard();
    const error = await rejection(
      client.request({ method: "POST", target: "/containers/create", body: "{}" }),
    );
    assert.ok(error instanceof DockerConnectionError, String(error));
    assert.equal(error.host, engine.host);
    assert.match(error.message, /closed the connection before answering POST \/containers\/create/);
    assert.deepEqual(seen, ["POST /containers/create {}"]);
    assert.equal(engine.connections, 1, "no second connection: not retried");
    assert.equal(records.length, 2);
    assert.equal(records[1]!.error, error);
    assert.equal(records[1]!.reusedConnection, true);
    assert.equal(client.pool.busy, 0);
    // The client still works afterwards, on a new connection.
    assert.equal(await (await client.request({ method: "GET", target: "/x" })).text(), "GET /x");
    assert.equal(engine.connections, 2);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient replays an idempotent request the engine received, but never a streamed body", async () => {
  {
    const { engine, seen } = await hangingUpEngine();
    await using _ = engine;
    const client = newClient(engine);
    try {
      await (await client.request({ method: "GET", target: "/first" })).discard();
      const response = await client.request({ method: "POST", target: "/p", idempotent: true });
      assert.equal(await response.text(), "POST /p");
      assert.deepEqual(seen, ["POST /p "]);
    } finally {
      client.close();
    }
  }
  {
    const { engine, seen } = await hangingUpEngine();
    await using _ = engine;
    const client = newClient(engine);
    try {
      await (await client.request({ method: "GET", target: "/first" })).discard();
      const body = ReadableStream.from([encoder.encode("once")]);
      const error = await rejection(client.request({ method: "PUT", target: "/archive", body }));
      assert.ok(error instanceof DockerConnectionError, String(error));
      assert.equal(seen.length, 1);
      assert.equal(engine.connections, 1);
    } finally {
      client.close();
    }
  }
});

Deno.test("HttpClient replays a streamed body on a stale connection when not a byte was sent", async () => {
  const { engine, idleClosed } = await idleClosingEngine();
  await using _ = engine;
  const client = newClient(engine);
  try {
    await (await client.request({ method: "GET", target: "/first" })).discard();
    await idleClosed;
    await sleep(20);
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(encoder.encode("once"));
        controller.close();
      },
    }, { highWaterMark: 0 });
    const response = await client.request({ method: "PUT", target: "/archive", body });
    assert.equal(await response.text(), "PUT /archive");
    assert.equal(pulls, 1, "the body was read once, on the new connection");
    assert.equal(engine.connections, 2);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient never assumes a failed TLS write sent nothing: a stale POST is not retried", async () => {
  // TLS sends a write as records and can fail after the first went out:
  // the engine may hold a part of the request (see failedWritesMaySend).
  for (const tls of [false, true]) {
    const answer = encoder.encode("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let connects = 0;
    const client = new HttpClient({
      connect: () => {
        const index = connects++;
        let reads = 0;
        let writes = 0;
        const conn = {
          read(into: Uint8Array) {
            if (reads++ > 0 && index === 0) return Promise.resolve(null);
            into.set(answer);
            return Promise.resolve(answer.length);
          },
          write(bytes: Uint8Array) {
            // The first connection's second request meets an engine gone.
            if (index === 0 && writes++ > 0) {
              return Promise.reject(new Deno.errors.BrokenPipe("Broken pipe (os error 32)"));
            }
            return Promise.resolve(bytes.length);
          },
          close() {},
          ...(tls ? { handshake: () => Promise.resolve({}) } : {}),
        };
        return Promise.resolve(conn as unknown as Deno.Conn);
      },
      host: tls ? "https://engine:2376" : "unix:///x",
      hostHeader: "docker",
    });
    try {
      assert.equal(await (await client.request({ method: "GET", target: "/a" })).text(), "ok");
      const post = client.request({ method: "POST", target: "/containers/create", body: "{}" });
      if (tls) {
        assert.ok((await rejection(post)) instanceof DockerConnectionError);
        assert.equal(connects, 1, "not retried over TLS");
      } else {
        assert.equal(await (await post).text(), "ok");
        assert.equal(connects, 2, "retried on a plain socket");
      }
    } finally {
      client.close();
    }
  }
});
