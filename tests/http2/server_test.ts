/**
 * Tests of serveHttp2 against an in-memory client that writes raw frames
 * and parses the server's, as the engine's HTTP/2 side of a BuildKit
 * session would: prefaces, SETTINGS and PING, requests with CONTINUATION,
 * padding and priority, flow control both ways, stream and connection
 * errors, shutdown, and a client exchange split at every offset.
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { encodeHeaderBlock } from "../../src/http2/hpack.ts";
import {
  type Http2Handler,
  type Http2Request,
  type Http2Response,
  type Http2Server,
  serveHttp2,
} from "../../src/http2/server.ts";
import {
  ACK,
  bytesOf,
  CANCEL,
  COMPRESSION_ERROR,
  concat,
  connect,
  CONTINUATION,
  DATA,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  type FakeClient,
  type Fields,
  FLOW_CONTROL_ERROR,
  frame,
  FRAME_SIZE_ERROR,
  GOAWAY,
  HEADERS,
  headersFrame,
  INTERNAL_ERROR,
  NO_ERROR,
  PADDED,
  paddedData,
  parseSettings,
  PING,
  PREFACE,
  PRIORITY,
  PRIORITY_FLAG,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  REFUSED_STREAM,
  request,
  requestFields,
  RST_STREAM,
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
  u32,
  utf8,
  windowUpdate,
} from "./_client.ts";

/**
 * Asserts that the server sent GOAWAY with `code`, closed, and `done` rejected.
 * A PING goes after what the test sent: should the server answer it instead,
 * the connection is closed and the assertion fails rather than waiting forever.
 */
async function assertBroken(client: FakeClient, server: Http2Server, code: number): Promise<void> {
  const probe = utf8.encode("probe!!!");
  client.send(frame(PING, 0, 0, probe));
  const outcome = await client.until(() => {
    if (client.goaway() !== undefined) return "goaway";
    const answered = client.frames.some((f) =>
      f.type === PING && f.flags === ACK && text(f.payload) === text(probe)
    );
    return answered ? "ping" : undefined;
  }, "a GOAWAY");
  if (outcome === "ping") {
    await stop(client, server);
    assert.fail(`the connection went on; expected GOAWAY with error code ${code}`);
  }
  await assert.rejects(server.done, (error: unknown) => {
    assert.ok(error instanceof DockerProtocolError, `expected DockerProtocolError, got ${error}`);
    assert.equal(error.code, "INVALID_HTTP2");
    return true;
  });
  assert.equal(client.goaway()?.code, code);
  assert.equal(client.closed, true);
}

/** A handler that records its requests and answers with `respond`. */
function recorder(
  respond: (request: Http2Request) => Http2Response | Promise<Http2Response> = () => ({}),
): { requests: Http2Request[]; handler: Http2Handler } {
  const requests: Http2Request[] = [];
  return {
    requests,
    handler: (request) => {
      requests.push(request);
      return respond(request);
    },
  };
}

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

Deno.test("serveHttp2 breaks the connection on any frame but CONTINUATION inside a header block", async (t) => {
  const block = encodeHeaderBlock(requestFields("/interrupted"));
  const opening = frame(HEADERS, END_STREAM, 1, block.subarray(0, 5));
  const cases: [string, Uint8Array][] = [
    ["PING", frame(PING, 0, 0, new Uint8Array(8))],
    ["DATA on the same stream", dataFrame(1, "x")],
    ["HEADERS of another stream", request(3)],
    ["SETTINGS", settingsFrame()],
    ["an unknown frame type", frame(0xfa, 0, 0, Uint8Array.of(1))],
    ["CONTINUATION of another stream", frame(CONTINUATION, END_HEADERS, 3, block.subarray(5))],
  ];
  for (const [name, interruption] of cases) {
    await t.step(name, async () => {
      const { requests, handler } = recorder();
      const { client, server } = await connect(handler);
      client.send(opening, interruption);
      await assertBroken(client, server, PROTOCOL_ERROR);
      assert.equal(requests.length, 0);
    });
  }

  await t.step("CONTINUATION without HEADERS", async () => {
    const { client, server } = await connect();
    client.send(frame(CONTINUATION, END_HEADERS, 1, block));
    await assertBroken(client, server, PROTOCOL_ERROR);
  });
});

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

Deno.test("serveHttp2 sends GOAWAY and rejects done on a connection error", async (t) => {
  await t.step("a frame over 16384 bytes → FRAME_SIZE_ERROR", async () => {
    const { client, server } = await connect();
    // Only the header: the length alone breaks the connection.
    client.send(frame(DATA, 0, 1, new Uint8Array(16_385)).subarray(0, 9));
    await assertBroken(client, server, FRAME_SIZE_ERROR);
  });

  await t.step("PUSH_PROMISE from the client → PROTOCOL_ERROR", async () => {
    const { client, server } = await connect();
    client.send(
      frame(PUSH_PROMISE, END_HEADERS, 1, concat(u32(2), encodeHeaderBlock(requestFields("/")))),
    );
    await assertBroken(client, server, PROTOCOL_ERROR);
  });

  await t.step("WINDOW_UPDATE of 0 on stream 0 → PROTOCOL_ERROR", async () => {
    const { client, server } = await connect();
    client.send(windowUpdate(0, 0));
    await assertBroken(client, server, PROTOCOL_ERROR);
  });

  await t.step("a connection window over 2^31 - 1 → FLOW_CONTROL_ERROR", async () => {
    const { client, server } = await connect();
    client.send(windowUpdate(0, 2 ** 31 - 1));
    await assertBroken(client, server, FLOW_CONTROL_ERROR);
  });

  const malformed: [string, number[]][] = [
    ["index 0", [0x80]],
    ["a truncated string", [0x00, 0x05, 0x61]],
  ];
  for (const [name, block] of malformed) {
    await t.step(`a malformed HPACK block (${name}) → COMPRESSION_ERROR`, async () => {
      const { requests, handler } = recorder();
      const { client, server } = await connect(handler);
      client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, Uint8Array.from(block)));
      await assertBroken(client, server, COMPRESSION_ERROR);
      assert.equal(requests.length, 0);
    });
  }

  await t.step("DATA on an idle stream → PROTOCOL_ERROR", async () => {
    const { client, server } = await connect();
    client.send(dataFrame(5, "x", END_STREAM));
    await assertBroken(client, server, PROTOCOL_ERROR);
  });

  await t.step("HEADERS on stream 0 or an even stream → PROTOCOL_ERROR", async () => {
    for (const streamId of [0, 2]) {
      const { client, server } = await connect();
      client.send(request(streamId));
      await assertBroken(client, server, PROTOCOL_ERROR);
    }
  });

  await t.step("padding longer than the HEADERS payload → PROTOCOL_ERROR", async () => {
    const { client, server } = await connect();
    client.send(frame(HEADERS, END_HEADERS | END_STREAM | PADDED, 1, Uint8Array.of(200, 0x82)));
    await assertBroken(client, server, PROTOCOL_ERROR);
  });

  await t.step("a SETTINGS frame with a partial entry → FRAME_SIZE_ERROR", async () => {
    const { client, server } = await connect();
    client.send(frame(SETTINGS, 0, 0, new Uint8Array(5)));
    await assertBroken(client, server, FRAME_SIZE_ERROR);
  });

  await t.step("the GOAWAY names the last stream the server saw", async () => {
    const { client, server } = await connect();
    client.send(request(1), request(7), windowUpdate(0, 0));
    await assertBroken(client, server, PROTOCOL_ERROR);
    assert.equal(client.goaway()?.lastStreamId, 7);
  });
});

// RFC 9113 §6.3, §6.4, §6.7: these lengths are FRAME_SIZE_ERRORs, not PROTOCOL_ERRORs.
Deno.test("serveHttp2 treats a PING, RST_STREAM or PRIORITY of the wrong length as FRAME_SIZE_ERROR", async (t) => {
  await t.step("a 7-byte PING → GOAWAY FRAME_SIZE_ERROR (§6.7)", async () => {
    const { client, server } = await connect();
    client.send(frame(PING, 0, 0, new Uint8Array(7)));
    await assertBroken(client, server, FRAME_SIZE_ERROR);
  });

  await t.step("a 5-byte RST_STREAM → GOAWAY FRAME_SIZE_ERROR (§6.4)", async () => {
    const slow = Promise.withResolvers<Http2Response>();
    const { client, server } = await connect(() => slow.promise);
    client.send(request(1), frame(RST_STREAM, 0, 1, new Uint8Array(5)));
    await assertBroken(client, server, FRAME_SIZE_ERROR);
    slow.resolve({});
  });

  await t.step(
    "a 4-byte PRIORITY → RST_STREAM FRAME_SIZE_ERROR, the connection goes on (§6.3)",
    async () => {
      const { client, server } = await connect(() => ({ body: utf8.encode("ok") }));
      client.send(frame(PRIORITY, 0, 1, new Uint8Array(4)));
      client.send(request(3));
      const response = await client.response(3);
      assert.equal(text(response.body), "ok");
      assert.equal(client.stream(1).reset, FRAME_SIZE_ERROR);
      await stop(client, server);
    },
  );
});

// RFC 9113 §5.1: on an idle stream only HEADERS and PRIORITY may arrive; §6.4 says the same
// of RST_STREAM in particular.
Deno.test("serveHttp2 treats RST_STREAM or WINDOW_UPDATE on an idle stream as PROTOCOL_ERROR", async (t) => {
  await t.step("RST_STREAM", async () => {
    const { client, server } = await connect();
    client.send(frame(RST_STREAM, 0, 5, u32(CANCEL)));
    await assertBroken(client, server, PROTOCOL_ERROR);
  });

  await t.step("WINDOW_UPDATE", async () => {
    const { client, server } = await connect();
    client.send(windowUpdate(5, 100));
    await assertBroken(client, server, PROTOCOL_ERROR);
  });
});

// RFC 9113 §6.9.2: a SETTINGS_INITIAL_WINDOW_SIZE change that makes a window exceed 2^31 - 1
// is a connection error of type FLOW_CONTROL_ERROR.
Deno.test("serveHttp2 treats a SETTINGS_INITIAL_WINDOW_SIZE that overflows a stream window as FLOW_CONTROL_ERROR", async () => {
  const slow = Promise.withResolvers<Http2Response>();
  const { client, server } = await connect(() => slow.promise);
  client.send(request(1), windowUpdate(1, 2 ** 31 - 1 - 65_535));
  await client.sync();
  assert.equal(client.stream(1).reset, undefined); // Exactly 2^31 - 1 is allowed.
  client.send(settingsFrame([[SETTINGS_INITIAL_WINDOW_SIZE, 65_536]]));
  await assertBroken(client, server, FLOW_CONTROL_ERROR);
  slow.resolve({});
});

Deno.test("serveHttp2 handles stream-level errors with RST_STREAM and goes on", async (t) => {
  const { client, server } = await connect((request) => ({ body: utf8.encode(request.path) }));

  await t.step("WINDOW_UPDATE of 0 on a stream → RST_STREAM PROTOCOL_ERROR", async () => {
    client.send(headersFrame(1, requestFields("/a"), END_HEADERS), windowUpdate(1, 0));
    assert.equal((await client.response(1)).reset, PROTOCOL_ERROR);
  });

  await t.step("a request without :path → RST_STREAM PROTOCOL_ERROR", async () => {
    client.send(headersFrame(3, [[":method", "GET"], [":scheme", "http"]]));
    assert.equal((await client.response(3)).reset, PROTOCOL_ERROR);
  });

  await t.step("the next stream is answered", async () => {
    client.send(request(5, "/b"));
    assert.equal(text((await client.response(5)).body), "/b");
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

Deno.test("serveHttp2 decodes a header block it rejects, so the HPACK table stays in step", async () => {
  const seen: Fields[] = [];
  const held = Promise.withResolvers<Http2Response>();
  const { client, server } = await connect((request) => {
    seen.push([...request.headers]);
    return request.path === "/held" ? held.promise : { body: utf8.encode("ok") };
  });
  client.send(request(1, "/held"));
  await client.sync();
  // More HEADERS on stream 1, half-closed (remote) while its handler runs,
  // whose block adds `x-kept: yes` to the table (literal with incremental
  // indexing, new name).
  const name = utf8.encode("x-kept");
  const value = utf8.encode("yes");
  const indexed = concat(
    new Uint8Array([0x40, name.length]),
    name,
    new Uint8Array([value.length]),
    value,
  );
  client.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, indexed));
  assert.equal((await client.frame((f) => f.type === RST_STREAM, "RST_STREAM")).streamId, 1);
  // Stream 3 names the new entry by its index (62, the first dynamic one).
  const block = concat(encodeHeaderBlock(requestFields("/next")), new Uint8Array([0x80 | 62]));
  client.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, block));
  assert.equal(text((await client.response(3)).body), "ok");
  assert.deepEqual(seen[1]!.at(-1), ["x-kept", "yes"]);
  held.resolve({});
  await stop(client, server);
});
