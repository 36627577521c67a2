/**
 * Tests of how serveHttp2 takes requests in and answers them, against the
 * in-memory client of `_client.ts`: headers, body and trailers both ways,
 * bodies in several DATA frames, header blocks with CONTINUATION, padding
 * and priority, failing handlers, concurrent streams, a stream the client
 * resets while its handler runs, and a client exchange split at every
 * offset.
 */

import assert from "node:assert/strict";
import { encodeHeaderBlock } from "../../src/http2/hpack.ts";
import type { Http2Response } from "../../src/http2/server.ts";
import {
  bytesOf,
  CANCEL,
  concat,
  connect,
  CONTINUATION,
  DATA,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  type FakeClient,
  frame,
  HEADERS,
  headersFrame,
  INTERNAL_ERROR,
  PADDED,
  paddedData,
  PREFACE,
  PRIORITY,
  PRIORITY_FLAG,
  request,
  requestFields,
  RST_STREAM,
  SETTINGS_INITIAL_WINDOW_SIZE,
  settingsFrame,
  start,
  stop,
  text,
  u32,
  utf8,
  windowUpdate,
} from "./_client.ts";
import { recorder } from "./_server_helpers.ts";

Deno.test("serveHttp2 hands a request to the handler and sends headers, body and trailers", async (t) => {
  const { requests, handler } = recorder((request) => {
    switch (request.path) {
      case "/full":
        return {
          status: 200,
          headers: [["content-type", "text/plain"], ["x-answer", "42"]],
          body: utf8.encode("hello"),
          trailers: [["x-checksum", "abc"]],
        };
      case "/empty":
        return { status: 204, headers: [["x-empty", "yes"]] };
      case "/body":
        return { body: utf8.encode("just a body") };
      default:
        return { status: 404, trailers: [["grpc-status", "5"]] };
    }
  });
  const { client, server } = await connect(handler);

  await t.step("the handler sees method, path, headers and an empty body", async () => {
    const fields = requestFields("/full", "GET", [["user-agent", "test/1.0"], ["x-b", ""]]);
    client.send(headersFrame(1, fields));
    const response = await client.response(1);
    assert.equal(requests.length, 1);
    const seen = requests[0]!;
    assert.equal(seen.streamId, 1);
    assert.equal(seen.method, "GET");
    assert.equal(seen.path, "/full");
    assert.deepEqual(seen.headers, fields);
    assert.deepEqual(seen.body, new Uint8Array(0));

    assert.deepEqual(response.frames.map((f) => [f.type, f.flags]), [
      [HEADERS, END_HEADERS],
      [DATA, 0],
      [HEADERS, END_HEADERS | END_STREAM],
    ]);
    assert.deepEqual(response.headers, [
      [":status", "200"],
      ["content-type", "text/plain"],
      ["x-answer", "42"],
    ]);
    assert.equal(text(response.body), "hello");
    assert.deepEqual(response.trailers, [["x-checksum", "abc"]]);
  });

  await t.step("no body and no trailers: one HEADERS frame with END_STREAM", async () => {
    client.send(request(3, "/empty"));
    const response = await client.response(3);
    assert.deepEqual(response.frames.map((f) => [f.type, f.flags]), [
      [HEADERS, END_HEADERS | END_STREAM],
    ]);
    assert.deepEqual(response.headers, [[":status", "204"], ["x-empty", "yes"]]);
  });

  await t.step("a body without trailers: the last DATA ends the stream, status 200", async () => {
    client.send(request(5, "/body"));
    const response = await client.response(5);
    assert.deepEqual(response.frames.map((f) => [f.type, f.flags]), [
      [HEADERS, END_HEADERS],
      [DATA, END_STREAM],
    ]);
    assert.deepEqual(response.headers, [[":status", "200"]]);
    assert.equal(text(response.body), "just a body");
  });

  await t.step("trailers without a body: HEADERS, then trailers with END_STREAM", async () => {
    client.send(request(7, "/other"));
    const response = await client.response(7);
    assert.deepEqual(response.frames.map((f) => [f.type, f.flags]), [
      [HEADERS, END_HEADERS],
      [HEADERS, END_HEADERS | END_STREAM],
    ]);
    assert.deepEqual(response.headers, [[":status", "404"]]);
    assert.deepEqual(response.trailers, [["grpc-status", "5"]]);
  });

  await stop(client, server);
});

Deno.test("serveHttp2 joins a request body sent in several DATA frames and gives the windows back", async (t) => {
  const { requests, handler } = recorder(() => ({ status: 204 }));
  const { client, server } = await connect(handler);

  await t.step("plain and padded DATA frames, joined", async () => {
    client.send(headersFrame(1, requestFields("/upload"), END_HEADERS));
    client.send(dataFrame(1, "hello "));
    client.send(paddedData(1, "padded ", 4)); // 1 + 7 + 4 = 12 octets of payload
    client.send(dataFrame(1, "world", END_STREAM));
    await client.response(1);
    assert.equal(requests.length, 1);
    assert.equal(text(requests[0]!.body), "hello padded world");
    // Small frames are given back in batches of at least 16 KiB: none yet.
    assert.deepEqual(client.windowUpdates(0), []);
    assert.deepEqual(client.windowUpdates(1), []);
  });

  await t.step("an empty DATA frame with END_STREAM ends the body", async () => {
    client.send(headersFrame(3, requestFields("/upload"), END_HEADERS));
    client.send(paddedData(3, "abc", 0), dataFrame(3, "", END_STREAM));
    await client.response(3);
    assert.equal(text(requests[1]!.body), "abc");
    assert.deepEqual(client.windowUpdates(3), []);
  });

  await t.step("trailers after the body end the request", async () => {
    const fields = requestFields("/upload", "POST", [["te", "trailers"]]);
    client.send(headersFrame(5, fields, END_HEADERS));
    client.send(dataFrame(5, "x"));
    client.send(headersFrame(5, [["x-trailer", "1"]]));
    await client.response(5);
    assert.deepEqual(requests[2]!.headers, fields);
    assert.equal(text(requests[2]!.body), "x");
  });

  await t.step("a 40000-byte body in one read", async () => {
    const body = bytesOf(40_000);
    client.send(
      headersFrame(7, requestFields("/upload"), END_HEADERS),
      dataFrame(7, body.subarray(0, 16_384)),
      dataFrame(7, body.subarray(16_384, 32_768)),
      dataFrame(7, body.subarray(32_768), END_STREAM),
    );
    await client.response(7);
    assert.deepEqual(requests[3]!.body, body);
    // Every DATA payload, padding included, goes back to the connection
    // window once 16 KiB are owed (the 18 + 12 + 5 + 4 + 1 bytes of the
    // steps before, then these frames); the stream's only while it is open.
    assert.deepEqual(client.windowUpdates(0), [6 + 12 + 5 + 4 + 1 + 16_384, 16_384]);
    assert.deepEqual(client.windowUpdates(7), [16_384, 16_384]);
  });

  await stop(client, server);
});

Deno.test("serveHttp2 joins HEADERS and CONTINUATION frames and skips padding and priority", async (t) => {
  const { requests, handler } = recorder(() => ({ status: 204 }));
  const { client, server } = await connect(handler);
  let streamId = -1;
  const fields = requestFields("/headers", "POST", [["x-long", "v".repeat(300)]]);
  const block = encodeHeaderBlock(fields);

  async function check(...parts: Uint8Array[]): Promise<void> {
    client.send(...parts);
    await client.response(streamId);
    assert.equal(requests.length, (streamId + 1) / 2);
    const seen = requests.at(-1)!;
    assert.equal(seen.streamId, streamId);
    assert.deepEqual(seen.headers, fields);
  }

  await t.step("HEADERS + two CONTINUATION frames", async () => {
    streamId += 2;
    await check(
      frame(HEADERS, END_STREAM, streamId, block.subarray(0, 10)),
      frame(CONTINUATION, 0, streamId, block.subarray(10, 200)),
      frame(CONTINUATION, END_HEADERS, streamId, block.subarray(200)),
    );
  });

  await t.step("HEADERS + CONTINUATION in separate reads, one of them empty", async () => {
    streamId += 2;
    client.send(frame(HEADERS, END_STREAM, streamId, block.subarray(0, 100)));
    client.send(frame(CONTINUATION, 0, streamId));
    await check(frame(CONTINUATION, END_HEADERS, streamId, block.subarray(100)));
  });

  await t.step("HEADERS with the PRIORITY flag", async () => {
    streamId += 2;
    const priority = concat(u32(0x8000_0000), Uint8Array.of(255)); // exclusive on 0, weight 256
    await check(
      frame(HEADERS, END_HEADERS | END_STREAM | PRIORITY_FLAG, streamId, concat(priority, block)),
    );
  });

  await t.step("HEADERS with the PADDED flag", async () => {
    streamId += 2;
    await check(
      frame(
        HEADERS,
        END_HEADERS | END_STREAM | PADDED,
        streamId,
        concat(Uint8Array.of(5), block, Uint8Array.of(1, 2, 3, 4, 5)),
      ),
    );
  });

  await t.step("HEADERS with PADDED and PRIORITY, then CONTINUATION", async () => {
    streamId += 2;
    const priority = concat(u32(0), Uint8Array.of(15));
    await check(
      frame(
        HEADERS,
        END_STREAM | PADDED | PRIORITY_FLAG,
        streamId,
        concat(Uint8Array.of(3), priority, block.subarray(0, 50), new Uint8Array(3)),
      ),
      frame(CONTINUATION, END_HEADERS, streamId, block.subarray(50)),
    );
  });

  await t.step("a PRIORITY frame is ignored", async () => {
    streamId += 2;
    await check(
      frame(PRIORITY, 0, streamId, concat(u32(0), Uint8Array.of(200))),
      frame(HEADERS, END_HEADERS | END_STREAM, streamId, block),
    );
  });

  await stop(client, server);
});

Deno.test("serveHttp2 resets a stream whose handler throws and serves the next one", async () => {
  const { client, server } = await connect((request) => {
    if (request.path === "/throw") throw new Error("boom");
    if (request.path === "/reject") return Promise.reject(new Error("boom"));
    return { body: utf8.encode("fine") };
  });
  client.send(request(1, "/throw"));
  const thrown = await client.response(1);
  assert.equal(thrown.reset, INTERNAL_ERROR);
  assert.deepEqual(thrown.frames.map((f) => f.type), [RST_STREAM]);

  client.send(request(3, "/reject"));
  assert.equal((await client.response(3)).reset, INTERNAL_ERROR);

  client.send(request(5, "/ok"));
  const fine = await client.response(5);
  assert.equal(fine.reset, undefined);
  assert.equal(text(fine.body), "fine");
  await stop(client, server);
});

Deno.test("serveHttp2 answers concurrent streams independently", async () => {
  const pending = new Map<string, PromiseWithResolvers<Http2Response>>();
  const { client, server } = await connect((request) => {
    const answer = Promise.withResolvers<Http2Response>();
    pending.set(request.path, answer);
    return answer.promise;
  });
  client.send(request(1, "/first"), request(3, "/second"));
  await client.sync();
  assert.deepEqual([...pending.keys()], ["/first", "/second"]);

  pending.get("/second")!.resolve({ body: utf8.encode("two"), trailers: [["n", "2"]] });
  const second = await client.response(3);
  assert.equal(text(second.body), "two");
  assert.deepEqual(second.trailers, [["n", "2"]]);
  await client.sync();
  assert.deepEqual(client.stream(1).frames, []);

  pending.get("/first")!.resolve({ body: utf8.encode("one") });
  const first = await client.response(1);
  assert.equal(text(first.body), "one");
  assert.deepEqual(first.headers, [[":status", "200"]]);
  await stop(client, server);
});

Deno.test("serveHttp2 drops a stream the client reset while its handler runs", async (t) => {
  const pending = new Map<string, PromiseWithResolvers<Http2Response>>();
  const { client, server } = await connect((request) => {
    if (request.path === "/now") return { body: utf8.encode("now") };
    const answer = Promise.withResolvers<Http2Response>();
    pending.set(request.path, answer);
    return answer.promise;
  });

  async function cancelled(streamId: number, path: string, settle: () => void): Promise<void> {
    client.send(request(streamId, path));
    await client.sync();
    client.send(frame(RST_STREAM, 0, streamId, u32(CANCEL)));
    await client.sync();
    settle();
    await pending.get(path)!.promise.catch(() => {});
    // Another stream answered and a PING round trip: the cancelled one had every chance.
    const next = streamId + 2;
    client.send(request(next, "/now"));
    assert.equal(text((await client.response(next)).body), "now");
    await client.sync();
    assert.deepEqual(client.stream(streamId).frames, []);
  }

  await t.step("the handler answers after the reset: nothing is sent", async () => {
    await cancelled(1, "/answers", () => {
      pending.get("/answers")!.resolve({ body: utf8.encode("late"), trailers: [["a", "b"]] });
    });
  });

  // RFC 9113 §5.1: no frames but PRIORITY on a closed stream, and §5.4.2: no RST_STREAM
  // in response to a RST_STREAM.
  await t.step("the handler fails after the reset: no RST_STREAM either", async () => {
    await cancelled(5, "/fails", () => pending.get("/fails")!.reject(new Error("cancelled")));
  });

  await t.step("a response waiting for window space stops", async () => {
    const { client, server } = await connect(() => ({ body: bytesOf(100) }), {}, [
      [SETTINGS_INITIAL_WINDOW_SIZE, 10],
    ]);
    client.send(request(1));
    await client.bodyLength(1, 10);
    client.send(frame(RST_STREAM, 0, 1, u32(CANCEL)), windowUpdate(1, 1000));
    await client.sync();
    assert.equal(client.stream(1).body.length, 10);
    assert.equal(client.stream(1).ended, false);
    await stop(client, server);
  });

  await stop(client, server);
});

Deno.test("serveHttp2 gives the same answer to a client exchange split at every offset", async (t) => {
  const block = encodeHeaderBlock(requestFields("/split", "POST", [["x-split", "yes"]]));
  const exchange = concat(
    PREFACE,
    settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 1000]]),
    frame(HEADERS, PADDED, 1, concat(Uint8Array.of(2), block.subarray(0, 20), new Uint8Array(2))),
    frame(CONTINUATION, END_HEADERS, 1, block.subarray(20)),
    paddedData(1, "hello ", 3),
    dataFrame(1, "world", END_STREAM),
  );

  async function run(
    feed: (client: FakeClient) => void,
  ): Promise<{ requests: unknown[]; frames: unknown[] }> {
    const { requests, handler } = recorder((request) => ({
      headers: [["x-path", request.path]],
      body: request.body,
      trailers: [["x-length", String(request.body.length)]],
    }));
    const { client, server } = start(handler);
    feed(client);
    await client.response(1);
    await stop(client, server);
    return {
      requests: requests.map((r) => ({ ...r, body: text(r.body) })),
      frames: client.frames.map((f) => ({ ...f, payload: [...f.payload] })),
    };
  }

  const whole = await run((client) => client.send(exchange));
  assert.deepEqual(whole.requests, [{
    streamId: 1,
    method: "POST",
    path: "/split",
    headers: requestFields("/split", "POST", [["x-split", "yes"]]),
    body: "hello world",
  }]);

  await t.step("one byte at a time", async () => {
    assert.deepEqual(await run((client) => client.sendBytewise(exchange)), whole);
  });

  await t.step("two reads, split at every offset", async () => {
    for (let at = 1; at < exchange.length; at++) {
      const result = await run((client) => {
        client.send(exchange.subarray(0, at));
        client.send(exchange.subarray(at));
      });
      assert.deepEqual(result, whole, `split at ${at}`);
    }
  });
});
