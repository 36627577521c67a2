/**
 * Tests of serveHttp2's flow control and limits, against the in-memory
 * client of `_client.ts`: answers kept within the peer's stream and
 * connection windows and its MAX_FRAME_SIZE, request bodies held to
 * maxRequestBody (each, and all together), and streams held to
 * maxConcurrentStreams, reset ones included (rapid reset).
 */

import assert from "node:assert/strict";
import type { Http2Response } from "../../src/http2/server.ts";
import {
  bytesOf,
  CANCEL,
  connect,
  CONTINUATION,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  type Fields,
  frame,
  HEADERS,
  headersFrame,
  NO_ERROR,
  REFUSED_STREAM,
  request,
  requestFields,
  RST_STREAM,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_FRAME_SIZE,
  settingsFrame,
  stop,
  text,
  u32,
  utf8,
  windowUpdate,
} from "./_client.ts";
import { recorder } from "./_server_helpers.ts";

Deno.test("serveHttp2 keeps a response within the peer's stream window", async () => {
  const body = bytesOf(100);
  const { client, server } = await connect(() => ({ body }), {}, [
    [SETTINGS_INITIAL_WINDOW_SIZE, 10],
  ]);
  client.send(request(1, "/big"));

  await client.bodyLength(1, 10);
  await client.sync();
  assert.equal(client.stream(1).body.length, 10);
  assert.equal(client.stream(1).ended, false);

  client.send(windowUpdate(1, 30));
  await client.bodyLength(1, 40);
  await client.sync();
  assert.equal(client.stream(1).body.length, 40);

  // The connection window is not the limit here: opening it changes nothing.
  client.send(windowUpdate(0, 1000));
  await client.sync();
  assert.equal(client.stream(1).body.length, 40);

  // A larger SETTINGS_INITIAL_WINDOW_SIZE grows open streams' windows by the difference.
  client.send(settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 30]]));
  await client.bodyLength(1, 60);
  await client.sync();
  assert.equal(client.stream(1).body.length, 60);

  client.send(windowUpdate(1, 1000));
  const response = await client.response(1);
  assert.deepEqual(response.body, body);
  assert.equal(response.data.at(-1)!.flags, END_STREAM);
  assert.ok(response.data.slice(0, -1).every((f) => f.flags === 0));
  await stop(client, server);
});

Deno.test("serveHttp2 waits for a connection WINDOW_UPDATE once the connection window is spent", async () => {
  const body = bytesOf(70_000);
  const { client, server } = await connect(
    () => ({ body, trailers: [["x-done", "1"]] }),
    {},
    [[SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20]],
  );
  client.send(request(1));

  await client.bodyLength(1, 65_535);
  await client.sync();
  assert.equal(client.stream(1).body.length, 65_535);

  // The stream window is not the limit: opening it changes nothing.
  client.send(windowUpdate(1, 100_000));
  await client.sync();
  assert.equal(client.stream(1).body.length, 65_535);

  client.send(windowUpdate(0, 1000));
  await client.bodyLength(1, 66_535);
  await client.sync();
  assert.equal(client.stream(1).body.length, 66_535);

  client.send(windowUpdate(0, 10_000));
  const response = await client.response(1);
  assert.deepEqual(response.body, body);
  assert.deepEqual(response.trailers, [["x-done", "1"]]);
  assert.ok(response.data.every((f) => f.payload.length <= 16_384 && f.flags === 0));
  await stop(client, server);
});

Deno.test("serveHttp2 keeps frames within the peer's MAX_FRAME_SIZE", async (t) => {
  await t.step("the default 16384: a 40000-byte body in three DATA frames", async () => {
    const body = bytesOf(40_000);
    const { client, server } = await connect(() => ({ body }));
    client.send(request(1));
    const response = await client.response(1);
    assert.deepEqual(response.data.map((f) => f.payload.length), [16_384, 16_384, 7_232]);
    assert.deepEqual(response.body, body);
    await stop(client, server);
  });

  await t.step("a MAX_FRAME_SIZE of 20000 raises the frame size", async () => {
    const body = bytesOf(40_000);
    const { client, server } = await connect(() => ({ body }), {}, [
      [SETTINGS_MAX_FRAME_SIZE, 20_000],
      [SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20],
    ]);
    client.send(request(1));
    const response = await client.response(1);
    assert.deepEqual(response.data.map((f) => f.payload.length), [20_000, 20_000]);
    assert.deepEqual(response.body, body);
    await stop(client, server);
  });

  await t.step("a header block over 16384 bytes goes out as HEADERS + CONTINUATION", async () => {
    const headers: Fields = [["x-big", "b".repeat(20_000)]];
    const { client, server } = await connect(() => ({ headers }));
    client.send(request(1));
    const response = await client.response(1);
    assert.deepEqual(response.frames.map((f) => [f.type, f.flags]), [
      [HEADERS, END_STREAM],
      [CONTINUATION, END_HEADERS],
    ]);
    assert.ok(response.frames.every((f) => f.payload.length <= 16_384));
    assert.deepEqual(response.headers, [[":status", "200"], ...headers]);
    await stop(client, server);
  });
});

Deno.test("serveHttp2 resets a stream whose request body exceeds maxRequestBody", async () => {
  const { requests, handler } = recorder(() => ({ status: 204 }));
  const { client, server } = await connect(handler, { maxRequestBody: 10 });
  client.send(
    headersFrame(1, requestFields("/upload"), END_HEADERS),
    dataFrame(1, "123456"),
    dataFrame(1, "789012", END_STREAM),
  );
  const refused = await client.response(1);
  assert.equal(refused.headers, undefined);
  assert.equal(typeof refused.reset, "number");
  assert.notEqual(refused.reset, NO_ERROR);
  assert.equal(requests.length, 0);

  // The connection goes on; a body of exactly the limit is fine.
  client.send(
    headersFrame(3, requestFields("/upload"), END_HEADERS),
    dataFrame(3, "1234567890", END_STREAM),
  );
  const accepted = await client.response(3);
  assert.equal(accepted.reset, undefined);
  assert.equal(text(requests[0]!.body), "1234567890");
  await stop(client, server);
});

Deno.test("serveHttp2 holds the unary bodies still arriving to four times maxRequestBody in all", async () => {
  // Else a peer could hold maxRequestBody in each of maxConcurrentStreams.
  const { requests, handler } = recorder((request) => ({ body: request.body }));
  const { client, server } = await connect(handler, { maxRequestBody: 10 });
  for (const id of [1, 3, 5, 7]) {
    client.send(
      headersFrame(id, requestFields(`/${id}`), END_HEADERS),
      dataFrame(id, "0123456789"),
    );
  }
  client.send(headersFrame(9, requestFields("/9"), END_HEADERS), dataFrame(9, "x", END_STREAM));
  const refused = await client.response(9);
  assert.equal(refused.reset, REFUSED_STREAM);
  // A body that ends, and one the peer resets, give their share back.
  client.send(dataFrame(1, "", END_STREAM), frame(RST_STREAM, 0, 3, u32(CANCEL)));
  assert.equal(text((await client.response(1)).body), "0123456789");
  for (const id of [11, 13]) {
    client.send(
      headersFrame(id, requestFields(`/${id}`), END_HEADERS),
      dataFrame(id, "abcdefghij", END_STREAM),
    );
    assert.equal(text((await client.response(id)).body), "abcdefghij");
  }
  assert.deepEqual(requests.map((r) => r.path), ["/1", "/11", "/13"]);
  await stop(client, server);
});

/**
 * A server allowing one stream at a time, with `/slow` open on stream 1:
 * its handler answers when `slow` is resolved, any other path at once.
 */
async function oneSlowStream() {
  const slow = Promise.withResolvers<Http2Response>();
  const { requests, handler } = recorder((request) =>
    request.path === "/slow" ? slow.promise : { body: utf8.encode(request.path) }
  );
  const { client, server } = await connect(handler, { maxConcurrentStreams: 1 });
  client.send(request(1, "/slow"));
  await client.sync();
  return { slow, requests, client, server };
}

Deno.test("serveHttp2 refuses a stream beyond maxConcurrentStreams", async () => {
  const { slow, requests, client, server } = await oneSlowStream();
  client.send(request(3, "/fast"));
  const refused = await client.response(3);
  assert.equal(refused.reset, REFUSED_STREAM);
  assert.deepEqual(requests.map((r) => r.path), ["/slow"]);

  slow.resolve({ body: utf8.encode("done") });
  assert.equal(text((await client.response(1)).body), "done");

  // With the first stream answered there is room again.
  client.send(request(5, "/again"));
  assert.equal(text((await client.response(5)).body), "/again");
  await stop(client, server);
});

Deno.test("serveHttp2 counts a reset stream against maxConcurrentStreams until its handler ends (rapid reset)", async () => {
  const { slow, requests, client, server } = await oneSlowStream();
  client.send(frame(RST_STREAM, 0, 1, u32(CANCEL)));
  await client.sync();
  // The reset stream's handler still runs: no room for another yet.
  client.send(request(3, "/fast"));
  assert.equal((await client.response(3)).reset, REFUSED_STREAM);
  assert.deepEqual(requests.map((r) => r.path), ["/slow"]);

  slow.resolve({ body: utf8.encode("late") });
  await client.sync();
  client.send(request(5, "/again"));
  assert.equal(text((await client.response(5)).body), "/again");
  assert.deepEqual(client.stream(1).frames, []);
  await stop(client, server);
});
