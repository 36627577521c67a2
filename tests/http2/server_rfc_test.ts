/**
 * Tests of serveHttp2 against two rules of RFC 9113: HEADERS on a stream
 * the server reset are decoded and dropped, not a connection error (§5.1,
 * "closed"); and a request whose fields break §8.2 or §8.3 is malformed,
 * reset with PROTOCOL_ERROR while the connection goes on (§8.1.1).
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import type {
  Http2Handler,
  Http2Request,
  Http2Server,
  Http2StreamHandler,
} from "../../src/http2/server.ts";
import {
  ACK,
  CANCEL,
  COMPRESSION_ERROR,
  concat,
  connect,
  CONTINUATION,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  type FakeClient,
  type Fields,
  frame,
  HEADERS,
  NO_ERROR,
  PING,
  PROTOCOL_ERROR,
  REFUSED_STREAM,
  request,
  requestFields,
  RST_STREAM,
  stop,
  STREAM_CLOSED,
  text,
  u32,
  utf8,
} from "./_client.ts";
import { hpackString } from "./_hpack.ts";

/**
 * A header block of literal fields with new names, whatever their bytes
 * (the server's own encoder refuses uppercase names); with `index`, each
 * field is also added to the peer's dynamic table (RFC 7541 §6.2.1).
 */
function literal(fields: Fields, index = false): Uint8Array {
  const kind = index ? 0x40 : 0x00;
  return Uint8Array.from(
    fields.flatMap(([name, value]) => [kind, ...hpackString(name), ...hpackString(value)]),
  );
}

/** HEADERS with a literal block; by default it ends headers and stream. */
function literalHeaders(streamId: number, fields: Fields, flags = END_HEADERS | END_STREAM) {
  return frame(HEADERS, flags, streamId, literal(fields));
}

/** A handler that records its requests and answers with the path. */
function recorder(): { requests: Http2Request[]; handler: Http2Handler } {
  const requests: Http2Request[] = [];
  return {
    requests,
    handler: (request) => {
      requests.push(request);
      return { body: utf8.encode(request.path) };
    },
  };
}

/** The codes of the RST_STREAM frames the server sent on the stream. */
function resets(client: FakeClient, streamId: number): number[] {
  return client.stream(streamId).frames.filter((f) => f.type === RST_STREAM).map((f) =>
    new DataView(f.payload.buffer).getUint32(0)
  );
}

/**
 * Asserts that the connection goes on: a request on `streamId` is
 * answered, and no GOAWAY was sent.
 */
async function assertGoesOn(client: FakeClient, streamId: number): Promise<void> {
  client.send(request(streamId, "/next"));
  const view = await client.response(streamId);
  assert.equal(view.reset, undefined);
  assert.equal(text(view.body), "/next");
  assert.equal(client.goaway(), undefined);
}

/**
 * Asserts that the server sent GOAWAY with `code`, closed, and `done`
 * rejected. A PING follows what the test sent: should the server answer it
 * instead, the connection went on and the assertion fails at once.
 */
async function assertBroken(client: FakeClient, server: Http2Server, code: number): Promise<void> {
  const probe = utf8.encode("probe!!!");
  client.send(frame(PING, 0, 0, probe));
  const answered = () =>
    client.frames.some((f) => f.type === PING && f.flags === ACK && text(f.payload) === "probe!!!");
  await client.until(() => client.goaway() ?? (answered() ? null : undefined), "a GOAWAY");
  if (client.goaway() === undefined) {
    await stop(client, server);
    assert.fail(`the connection went on; expected GOAWAY with error code ${code}`);
  }
  await assert.rejects(server.done, DockerProtocolError);
  assert.equal(client.goaway()?.code, code);
  assert.equal(client.closed, true);
}

/**
 * Trailers that add `x-kept: yes` to the HPACK dynamic table, then a
 * request on `next` that names that entry by its index (62, the first
 * dynamic one): it is answered only if the server decoded the trailers.
 */
function tableProbe(trailersOn: number, next: number): Uint8Array[] {
  return [
    frame(HEADERS, END_HEADERS | END_STREAM, trailersOn, literal([["x-kept", "yes"]], true)),
    frame(
      HEADERS,
      END_HEADERS | END_STREAM,
      next,
      concat(literal(requestFields("/next")), Uint8Array.of(0x80 | 62)),
    ),
  ];
}

// RFC 9113 §5.1, "closed": "An endpoint that sends a RST_STREAM frame on a stream that is in the
// 'open' or 'half-closed (local)' state could receive any type of frame. [...] An endpoint MUST
// minimally process and then discard any frames it receives in this state. This means updating
// header compression state for HEADERS [...] frames."
Deno.test("serveHttp2 decodes and drops HEADERS on a stream it reset", async (t) => {
  await t.step("trailers after a reset for a body over maxRequestBody", async () => {
    const { requests, handler } = recorder();
    const { client, server } = await connect(handler, { maxRequestBody: 10 });
    // All sent before the client could see the reset.
    client.send(
      literalHeaders(1, requestFields("/upload"), END_HEADERS),
      dataFrame(1, "123456"),
      dataFrame(1, "789012"),
      ...tableProbe(1, 3),
    );
    const view = await client.response(3);
    assert.equal(text(view.body), "/next");
    assert.deepEqual(requests.map((r) => r.headers.at(-1)), [["x-kept", "yes"]]);
    assert.deepEqual(resets(client, 1), [CANCEL]);
    assert.deepEqual(client.stream(1).frames.map((f) => f.type), [RST_STREAM]);
    assert.equal(client.goaway(), undefined);
    await stop(client, server);
  });

  await t.step("HEADERS + CONTINUATION after REFUSED_STREAM", async () => {
    const slow = Promise.withResolvers<{ body: Uint8Array }>();
    const { client, server } = await connect(
      (request) => request.path === "/slow" ? slow.promise : { body: utf8.encode(request.path) },
      { maxConcurrentStreams: 1 },
    );
    client.send(request(1, "/slow"));
    await client.sync();
    const trailers = literal([["grpc-status", "0"], ["x-kept", "yes"]], true);
    client.send(
      literalHeaders(3, requestFields("/refused"), END_HEADERS),
      dataFrame(3, "body"),
      frame(HEADERS, END_STREAM, 3, trailers.subarray(0, 5)),
      frame(CONTINUATION, END_HEADERS, 3, trailers.subarray(5)),
    );
    await client.sync();
    assert.deepEqual(resets(client, 3), [REFUSED_STREAM]);
    assert.equal(client.goaway(), undefined);
    slow.resolve({ body: utf8.encode("slow") });
    await client.response(1);
    await assertGoesOn(client, 5);
    await stop(client, server);
  });

  await t.step("trailers after a streamed answer ended early (RST_STREAM NO_ERROR)", async () => {
    const { client, server } = await connect(() => ({ body: utf8.encode("/next") }), {
      streaming: (path) =>
        path === "/early" ? (exchange) => exchange.end([["grpc-status", "0"]]) : undefined,
    });
    client.send(literalHeaders(1, requestFields("/early"), END_HEADERS));
    await client.response(1);
    await client.sync();
    assert.deepEqual(resets(client, 1), [NO_ERROR]);
    client.send(dataFrame(1, "in flight"), ...tableProbe(1, 3));
    assert.equal(text((await client.response(3)).body), "/next");
    assert.equal(client.goaway(), undefined);
    await stop(client, server);
  });

  await t.step("DATA and trailers after a malformed request's reset", async () => {
    const { requests, handler } = recorder();
    const { client, server } = await connect(handler);
    client.send(
      literalHeaders(1, requestFields("/bad", "POST", [["X-Upper", "1"]]), END_HEADERS),
      dataFrame(1, "body"),
      ...tableProbe(1, 3),
    );
    assert.equal(text((await client.response(3)).body), "/next");
    assert.deepEqual(resets(client, 1), [PROTOCOL_ERROR]);
    assert.deepEqual(requests.map((r) => r.path), ["/next"]);
    assert.equal(client.goaway(), undefined);
    await stop(client, server);
  });

  // RFC 9113 §4.3: a header block that cannot be decoded is a connection error.
  await t.step("a broken HPACK block on a reset stream is still COMPRESSION_ERROR", async () => {
    const { client, server } = await connect();
    client.send(
      literalHeaders(1, requestFields("/bad", "POST", [["X-Upper", "1"]]), END_HEADERS),
      frame(HEADERS, END_HEADERS | END_STREAM, 1, Uint8Array.of(0x80)), // Index 0.
    );
    await assertBroken(client, server, COMPRESSION_ERROR);
  });
});

// RFC 9113 §5.1, "closed": "An endpoint MAY treat receipt of any other type of frame on a closed
// stream as a connection error of type STREAM_CLOSED." Here the peer closed its side itself.
Deno.test("serveHttp2 answers HEADERS on a stream the peer knew closed with GOAWAY STREAM_CLOSED", async (t) => {
  await t.step("closed with END_STREAM both ways", async () => {
    const { client, server } = await connect(() => ({ body: utf8.encode("done") }));
    client.send(request(1));
    await client.response(1);
    client.send(literalHeaders(1, [["x-late", "1"]]));
    await assertBroken(client, server, STREAM_CLOSED);
  });

  await t.step("reset by the peer", async () => {
    const { client, server } = await connect();
    client.send(literalHeaders(1, requestFields("/"), END_HEADERS));
    client.send(frame(RST_STREAM, 0, 1, u32(CANCEL)));
    client.send(literalHeaders(1, [["x-late", "1"]]));
    await assertBroken(client, server, STREAM_CLOSED);
  });
});

Deno.test("serveHttp2 remembers the last 1000 streams it reset and forgets older ones", async () => {
  // Every stream is refused, so every one is reset here.
  const { client, server } = await connect(() => ({}), { maxConcurrentStreams: 0 });
  const ids = Array.from({ length: 1001 }, (_, i) => 1 + 2 * i);
  client.send(...ids.map((id) => literalHeaders(id, requestFields("/"), END_HEADERS)));
  assert.equal((await client.response(ids.at(-1)!)).reset, REFUSED_STREAM);
  // Stream 3 is among the last 1000: dropped.
  client.send(literalHeaders(3, [["grpc-status", "0"]]));
  await client.sync();
  assert.equal(client.goaway(), undefined);
  // Stream 1 is not any more: a closed stream like any other.
  client.send(literalHeaders(1, [["grpc-status", "0"]]));
  await assertBroken(client, server, STREAM_CLOSED);
});

/** Request heads RFC 9113 calls malformed, each named by the rule it breaks. */
const MALFORMED_REQUESTS: [string, Fields][] = [
  // §8.2.1: no 0x00-0x20, 0x41-0x5a or 0x7f-0xff in a name.
  ["an uppercase name", requestFields("/", "POST", [["X-Upper", "1"]])],
  ["a space in a name", requestFields("/", "POST", [["x bad", "1"]])],
  ["a control character in a name", requestFields("/", "POST", [["x\x01", "1"]])],
  ["DEL in a name", requestFields("/", "POST", [["x\x7f", "1"]])],
  ["a non-ASCII name", requestFields("/", "POST", [["é", "1"]])],
  ["an empty name", requestFields("/", "POST", [["", "1"]])],
  // §8.2.1: no colon but a pseudo-header's first; RFC 9110 §5.6.2: names are tokens.
  ["a colon inside a name", requestFields("/", "POST", [["x:y", "1"]])],
  ...[...'"(),/;<=>?@[\\]{}'].map((separator): [string, Fields] => [
    `the separator ${separator} in a name`,
    requestFields("/", "POST", [[`x${separator}y`, "1"]]),
  ]),
  // §8.2.1: no NUL, CR or LF in a value, no SP or HTAB at either end.
  ["NUL in a value", requestFields("/", "POST", [["x", "a\0b"]])],
  ["CR in a value", requestFields("/", "POST", [["x", "a\rb"]])],
  ["LF in a value", requestFields("/", "POST", [["x", "a\nb"]])],
  ["CR LF in :path", requestFields("/a\r\nx-injected: 1", "POST")],
  ["a value starting with SP", requestFields("/", "POST", [["x", " a"]])],
  ["a value ending with SP", requestFields("/", "POST", [["x", "a "]])],
  ["a value starting with HTAB", requestFields("/", "POST", [["x", "\ta"]])],
  ["a value ending with HTAB", requestFields("/", "POST", [["x", "a\t"]])],
  // §8.2.2: connection-specific fields; TE only as "trailers".
  ...["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"].map(
    (name): [string, Fields] => [`the field ${name}`, requestFields("/", "POST", [[name, "x"]])],
  ),
  ["te: gzip", requestFields("/", "POST", [["te", "gzip"]])],
  ["te: trailers, deflate", requestFields("/", "POST", [["te", "trailers, deflate"]])],
  // §8.3: only the request pseudo-header fields, once each, before the regular fields.
  ["the response pseudo-header :status", [...requestFields("/"), [":status", "200"]]],
  ["an undefined pseudo-header", [...requestFields("/"), [":protocol", "websocket"]]],
  ["a pseudo-header after a regular field", [
    [":method", "POST"],
    [":scheme", "http"],
    ["x", "1"],
    [":path", "/"],
  ]],
  ["two :path fields", [...requestFields("/"), [":path", "/other"]]],
  ["two :method fields", [[":method", "GET"], ...requestFields("/")]],
  // §8.3.1: :method, :scheme and :path are required, and :path is not empty.
  ["no :method", [[":scheme", "http"], [":path", "/"]]],
  ["no :scheme", [[":method", "POST"], [":path", "/"]]],
  ["no :path", [[":method", "POST"], [":scheme", "http"]]],
  ["an empty :path", requestFields("", "POST")],
];

// RFC 9113 §8.1.1: "Malformed requests or responses that are detected MUST be treated as a stream
// error (Section 5.4.2) of type PROTOCOL_ERROR."
Deno.test("serveHttp2 resets a malformed request with PROTOCOL_ERROR and goes on", async (t) => {
  for (const [name, fields] of MALFORMED_REQUESTS) {
    await t.step(name, async () => {
      const { requests, handler } = recorder();
      const { client, server } = await connect(handler);
      client.send(literalHeaders(1, fields));
      assert.equal((await client.response(1)).reset, PROTOCOL_ERROR);
      await assertGoesOn(client, 3);
      assert.deepEqual(requests.map((r) => r.streamId), [3]);
      await stop(client, server);
    });
  }

  await t.step("a streamed request: its handler never runs", async () => {
    let started = 0;
    const handler: Http2StreamHandler = (exchange) => {
      started++;
      return exchange.end();
    };
    const { client, server } = await connect(() => ({ body: utf8.encode("/next") }), {
      streaming: (path) => path === "/stream" ? handler : undefined,
    });
    client.send(
      literalHeaders(1, requestFields("/stream", "POST", [["X-Upper", "1"]]), END_HEADERS),
    );
    assert.equal((await client.response(1)).reset, PROTOCOL_ERROR);
    await assertGoesOn(client, 3);
    assert.equal(started, 0);
    await stop(client, server);
  });
});

// RFC 9113 §8.1: "Trailers MUST NOT include pseudo-header fields"; §8.2 applies to every field.
Deno.test("serveHttp2 resets a request whose trailers are malformed", async (t) => {
  const cases: [string, Fields][] = [
    ["a request pseudo-header", [[":path", "/other"]]],
    ["a response pseudo-header", [[":status", "200"]]],
    ["a pseudo-header after a regular field", [["grpc-status", "0"], [":method", "GET"]]],
    ["an uppercase name", [["Grpc-Status", "0"]]],
    ["a connection-specific field", [["transfer-encoding", "chunked"]]],
    ["LF in a value", [["grpc-message", "a\nb"]]],
  ];
  for (const [name, trailers] of cases) {
    await t.step(name, async () => {
      const { requests, handler } = recorder();
      const { client, server } = await connect(handler);
      client.send(
        literalHeaders(1, requestFields("/upload"), END_HEADERS),
        dataFrame(1, "body"),
        literalHeaders(1, trailers),
      );
      assert.equal((await client.response(1)).reset, PROTOCOL_ERROR);
      await assertGoesOn(client, 3);
      assert.deepEqual(requests.map((r) => r.streamId), [3]);
      await stop(client, server);
    });
  }
});

Deno.test("serveHttp2 accepts the fields RFC 9113 allows at the edges of its rules", async () => {
  const { requests, handler } = recorder();
  const { client, server } = await connect(handler);
  const fields: Fields = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "*"], // No :authority: it is optional (§8.3.1).
    ["te", "trailers"], // §8.2.2.
    ["!#$%&'*+-.^_`|~09az", "every token character"], // RFC 9110 §5.6.2.
    ["x-inner", "a \t b"], // Whitespace inside a value (§8.2.1).
    ["x-empty", ""],
    ["x-obs", "é"], // Bytes above 0x7f in a value.
    ["x-twice", "1"],
    ["x-twice", "2"],
  ];
  client.send(
    literalHeaders(1, fields, END_HEADERS),
    dataFrame(1, "body"),
    literalHeaders(1, [["grpc-status", "0"], ["te", "trailers"]]),
  );
  const view = await client.response(1);
  assert.equal(view.reset, undefined);
  assert.deepEqual(requests.map((r) => r.headers), [fields]);
  assert.equal(text(requests[0]!.body), "body");
  await stop(client, server);
});
