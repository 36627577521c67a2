/**
 * Tests of serveHttp2's answers to a peer that breaks RFC 9113, against the
 * in-memory client of `_client.ts`: connection errors (GOAWAY, then done
 * rejects), stream errors (RST_STREAM, then the connection goes on), and a
 * rejected header block still decoded so the HPACK table stays in step.
 */

import assert from "node:assert/strict";
import { encodeHeaderBlock } from "../../src/http2/hpack.ts";
import type { Http2Response } from "../../src/http2/server.ts";
import {
  CANCEL,
  COMPRESSION_ERROR,
  concat,
  connect,
  CONTINUATION,
  DATA,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  type Fields,
  FLOW_CONTROL_ERROR,
  frame,
  FRAME_SIZE_ERROR,
  HEADERS,
  headersFrame,
  PADDED,
  PING,
  PRIORITY,
  PROTOCOL_ERROR,
  PUSH_PROMISE,
  request,
  requestFields,
  RST_STREAM,
  SETTINGS,
  SETTINGS_INITIAL_WINDOW_SIZE,
  settingsFrame,
  stop,
  text,
  u32,
  utf8,
  windowUpdate,
} from "./_client.ts";
import { assertBroken, recorder } from "./_server_helpers.ts";

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
