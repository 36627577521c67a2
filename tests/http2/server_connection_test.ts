/**
 * Tests of serveHttp2's connection as a whole, against the in-memory client
 * of `_client.ts`: the server's SETTINGS, the client preface, SETTINGS and
 * PING acknowledgements, unknown frame types, a peer that never reads, and
 * how the connection ends (close(), the peer going away).
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { type Http2Response, serveHttp2 } from "../../src/http2/server.ts";
import {
  ACK,
  bytesOf,
  concat,
  connect,
  type FakeClient,
  frame,
  GOAWAY,
  HEADERS,
  NO_ERROR,
  parseSettings,
  PING,
  PREFACE,
  PROTOCOL_ERROR,
  request,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  settingsFrame,
  start,
  stop,
  text,
  utf8,
} from "./_client.ts";
import { assertBroken, recorder } from "./_server_helpers.ts";

Deno.test("serveHttp2 sends its SETTINGS before the client says anything", async (t) => {
  await t.step("the limits given", async () => {
    const { client, server } = start(() => ({}), {
      maxConcurrentStreams: 7,
      maxHeaderListSize: 1000,
    });
    const first = await client.frame(() => true, "the server preface");
    assert.equal(first.type, SETTINGS);
    assert.equal(first.flags, 0);
    assert.equal(first.streamId, 0);
    const settings = parseSettings(first.payload);
    assert.equal(settings.get(SETTINGS_ENABLE_PUSH), 0);
    assert.equal(settings.get(SETTINGS_MAX_CONCURRENT_STREAMS), 7);
    assert.equal(settings.get(SETTINGS_MAX_HEADER_LIST_SIZE), 1000);
    await stop(client, server);
  });

  await t.step("the defaults", async () => {
    const { client, server } = start();
    const first = await client.frame(() => true, "the server preface");
    assert.equal(first.type, SETTINGS);
    const settings = parseSettings(first.payload);
    assert.equal(settings.get(SETTINGS_MAX_CONCURRENT_STREAMS), 100);
    assert.equal(settings.get(SETTINGS_MAX_HEADER_LIST_SIZE), 64 * 1024);
    await stop(client, server);
  });
});

Deno.test("serveHttp2 answers a missing or garbled client preface with GOAWAY PROTOCOL_ERROR", async (t) => {
  const cases: [string, (client: FakeClient) => void][] = [
    [
      "an HTTP/1.1 request",
      (c) => c.send(utf8.encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")),
    ],
    [
      "frames without the preface",
      (c) => c.send(settingsFrame(), frame(PING, 0, 0, new Uint8Array(8))),
    ],
    [
      "a preface with its last byte changed",
      (c) => c.send(PREFACE.map((byte, i) => i === PREFACE.length - 1 ? 0x00 : byte)),
    ],
    [
      "a garbled preface one byte at a time",
      (c) => c.sendBytewise(utf8.encode("PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n")),
    ],
  ];
  for (const [name, send] of cases) {
    await t.step(name, async () => {
      const { requests, handler } = recorder();
      const { client, server } = start(handler);
      send(client);
      await assertBroken(client, server, PROTOCOL_ERROR);
      assert.equal(client.frames[0]?.type, SETTINGS);
      assert.equal(client.goaway()?.lastStreamId, 0);
      assert.equal(requests.length, 0);
    });
  }
});

Deno.test("serveHttp2 acknowledges SETTINGS and PING and does not answer their ACKs", async (t) => {
  const { client, server } = await connect(() => ({}), {}, [
    [SETTINGS_INITIAL_WINDOW_SIZE, 1000],
    [SETTINGS_MAX_FRAME_SIZE, 32_768],
    [0xff, 12345], // Unknown settings are ignored (RFC 9113 §6.5.2).
  ]);

  await t.step("SETTINGS → SETTINGS ACK with no payload", () => {
    const acks = client.frames.filter((f) => f.type === SETTINGS && f.flags & ACK);
    assert.equal(acks.length, 1);
    assert.equal(acks[0]!.streamId, 0);
    assert.equal(acks[0]!.payload.length, 0);
  });

  await t.step("PING → PING ACK with the same 8 bytes", async () => {
    const opaque = Uint8Array.of(1, 2, 3, 4, 250, 251, 252, 253);
    const from = client.frames.length;
    client.send(frame(PING, 0, 0, opaque));
    const pong = await client.frame((f) => f.type === PING, "the PING ACK", from);
    assert.equal(pong.flags, ACK);
    assert.equal(pong.streamId, 0);
    assert.deepEqual(pong.payload, opaque);
  });

  await t.step("PING ACK and SETTINGS ACK from the client get no answer", async () => {
    const from = client.frames.length;
    client.send(frame(PING, ACK, 0, Uint8Array.of(9, 9, 9, 9, 9, 9, 9, 9)));
    client.send(frame(SETTINGS, ACK, 0));
    await client.sync();
    // Only the ACK of the sync PING.
    assert.deepEqual(client.frames.slice(from).map((f) => [f.type, f.flags]), [[PING, ACK]]);
  });

  await stop(client, server);
});

Deno.test("serveHttp2 ignores unknown frame types", async () => {
  const { client, server } = await connect(() => ({ body: utf8.encode("ok") }));
  client.send(
    frame(0xfa, 0xff, 0, Uint8Array.of(1, 2, 3)),
    frame(0x20, 0, 1, new Uint8Array(16_384)), // The largest frame allowed.
    request(1),
  );
  const response = await client.response(1);
  assert.equal(text(response.body), "ok");
  await stop(client, server);
});

/**
 * A peer that reads nothing: no write of the server's ever completes. Its
 * reads give `pieces` in turn, then the end.
 */
function deafPeer(pieces: Uint8Array[]) {
  const stuck = Promise.withResolvers<void>();
  stuck.promise.catch(() => {});
  const peer = {
    reads: 0,
    closed: false,
    read: () => Promise.resolve(pieces[peer.reads++] ?? null),
    write: () => stuck.promise,
    close() {
      peer.closed = true;
      stuck.reject(new Error("closed"));
    },
  };
  return peer;
}

Deno.test("serveHttp2 closes a connection whose peer floods PINGs and never reads the answers", async () => {
  const pings = concat(
    ...Array.from({ length: 1000 }, () => frame(PING, 0, 0, utf8.encode("flooding"))),
  );
  const peer = deafPeer([concat(PREFACE, settingsFrame([])), ...Array(20).fill(pings)]);
  const server = serveHttp2(peer, () => ({}));
  await assert.rejects(server.done, (error: unknown) => {
    assert.ok(error instanceof DockerProtocolError, String(error));
    assert.match(error.message, /control frames wait to be written/);
    return true;
  });
  assert.equal(peer.closed, true);
  assert.equal(peer.reads, 11); // 10,000 answers queued: the next PING is one too many
});

Deno.test("serveHttp2 ends on a connection error or close() even when the peer never reads the GOAWAY", async (t) => {
  await t.step("a connection error", async () => {
    const peer = deafPeer([concat(PREFACE, frame(PING, 0, 1, utf8.encode("onstream")))]);
    const started = performance.now();
    await assert.rejects(serveHttp2(peer, () => ({})).done, DockerProtocolError);
    assert.equal(peer.closed, true);
    assert.ok(performance.now() - started < 5000);
  });
  await t.step("close()", async () => {
    const peer = deafPeer([PREFACE]);
    const server = serveHttp2(peer, () => ({}));
    server.close();
    await server.done;
    assert.equal(peer.closed, true);
  });
});

Deno.test("serveHttp2 close sends GOAWAY NO_ERROR and resolves done", async (t) => {
  await t.step("after a request", async () => {
    const { client, server } = await connect(() => ({ status: 204 }));
    client.send(request(1), request(3));
    await client.response(3);
    server.close();
    server.close(); // Idempotent.
    await server.done;
    assert.deepEqual(client.goaway(), { lastStreamId: 3, code: NO_ERROR });
    assert.equal(client.frames.filter((f) => f.type === GOAWAY).length, 1);
    assert.equal(client.frames.at(-1)!.type, GOAWAY);
    assert.equal(client.closed, true);
  });

  await t.step("before the client sent anything", async () => {
    const { client, server } = start();
    server.close();
    await server.done;
    assert.deepEqual(client.frames.map((f) => f.type), [SETTINGS, GOAWAY]);
    assert.deepEqual(client.goaway(), { lastStreamId: 0, code: NO_ERROR });
  });

  await t.step("with a handler pending: its answer is dropped", async () => {
    const slow = Promise.withResolvers<Http2Response>();
    const { client, server } = await connect(() => slow.promise);
    client.send(request(1));
    await client.sync();
    server.close();
    await server.done;
    slow.resolve({ body: utf8.encode("late") });
    await slow.promise;
    assert.deepEqual(client.stream(1).frames, []);
    assert.equal(client.frames.at(-1)!.type, GOAWAY);
  });

  await t.step("with a response waiting for window space", async () => {
    const { client, server } = await connect(() => ({ body: bytesOf(100) }), {}, [
      [SETTINGS_INITIAL_WINDOW_SIZE, 0],
    ]);
    client.send(request(1));
    await client.frame((f) => f.type === HEADERS && f.streamId === 1, "the response HEADERS");
    await stop(client, server);
    assert.equal(client.stream(1).body.length, 0);
    assert.deepEqual(client.goaway(), { lastStreamId: 1, code: NO_ERROR });
  });
});

Deno.test("serveHttp2 resolves done when the peer goes away", async (t) => {
  await t.step("the peer closes (read returns null)", async () => {
    const { client, server } = await connect();
    client.end();
    await server.done;
    assert.equal(client.closed, true);
    assert.equal(client.goaway(), undefined);
  });

  await t.step("the peer closes in the middle of the preface", async () => {
    const { client, server } = start();
    client.send(PREFACE.subarray(0, 10));
    client.end();
    await server.done;
    assert.equal(client.closed, true);
  });

  await t.step("a read throws", async () => {
    const { client, server } = await connect();
    client.fail(new Error("connection reset by peer"));
    await server.done;
    assert.equal(client.closed, true);
  });

  await t.step("the peer closes while a response waits for window space", async () => {
    const { client, server } = await connect(() => ({ body: bytesOf(100) }), {}, [
      [SETTINGS_INITIAL_WINDOW_SIZE, 0],
    ]);
    client.send(request(1));
    await client.frame((f) => f.type === HEADERS && f.streamId === 1, "the response HEADERS");
    client.end();
    await server.done;
    assert.equal(client.closed, true);
  });
});
