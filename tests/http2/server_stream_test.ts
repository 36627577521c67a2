/**
 * Tests of serveHttp2's streamed requests (`streaming` option): the body
 * read as DATA arrives with flow control following the reader, answers
 * written piece by piece, and every way such a stream can end.
 */

import assert from "node:assert/strict";
import type { Http2Exchange, Http2StreamHandler } from "../../src/http2/server.ts";
import {
  bytesOf,
  CANCEL,
  connect,
  DATA,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  type FakeClient,
  headersFrame,
  INTERNAL_ERROR,
  NO_ERROR,
  parseSettings,
  request,
  requestFields,
  RST_STREAM,
  SETTINGS,
  SETTINGS_INITIAL_WINDOW_SIZE,
  start,
  stop,
  text,
  utf8,
  windowUpdate,
} from "./_client.ts";

/** Serves `/stream` with a handler the test drives; other paths go to a unary handler. */
async function streamingServer(handler: Http2StreamHandler, settings: [number, number][] = []) {
  return await connect(
    () => ({ body: utf8.encode("unary") }),
    { streaming: (path) => path === "/stream" ? handler : undefined },
    settings,
  );
}

/** Opens a streamed request on `id` without ending it. */
function open(client: FakeClient, id: number): void {
  client.send(headersFrame(id, requestFields("/stream"), END_HEADERS));
}

/** The exchange a handler was given, once it was. */
function handOff(): {
  handler: Http2StreamHandler;
  exchange: Promise<Http2Exchange>;
  finish: () => void;
} {
  const exchange = Promise.withResolvers<Http2Exchange>();
  const finished = Promise.withResolvers<void>();
  return {
    handler: (given) => {
      exchange.resolve(given);
      return finished.promise;
    },
    exchange: exchange.promise,
    finish: () => finished.resolve(),
  };
}

Deno.test("serveHttp2 streams a request body and gives its window back as it is read", async (t) => {
  const { handler, exchange, finish } = handOff();
  const { client, server } = await streamingServer(handler);
  open(client, 1);
  const { body, path, method } = await exchange;
  assert.equal(path, "/stream");
  assert.equal(method, "POST");
  const reader = body.getReader();

  const first = bytesOf(10_000);
  const second = bytesOf(9_000);

  await t.step("nothing of the stream window comes back before a read", async () => {
    client.send(dataFrame(1, first), dataFrame(1, second));
    await client.sync();
    // The connection's comes back on arrival, once 16 KiB are owed.
    assert.deepEqual(client.windowUpdates(0), [19_000]);
    assert.deepEqual(client.windowUpdates(1), []);
  });

  await t.step("reads give the stream window back, once 16 KiB are owed", async () => {
    assert.deepEqual((await reader.read()).value, first);
    await client.sync();
    assert.deepEqual(client.windowUpdates(1), [], "10,000 bytes owed: not yet");
    assert.deepEqual((await reader.read()).value, second);
    await client.sync();
    assert.deepEqual(client.windowUpdates(1), [19_000]);
  });

  await t.step("END_STREAM closes the body; nothing more comes back to the window", async () => {
    const pending = reader.read();
    client.send(dataFrame(1, "h", END_STREAM));
    assert.equal(text((await pending).value!), "h");
    assert.equal((await reader.read()).done, true);
    await client.sync();
    assert.deepEqual(client.windowUpdates(1), [19_000]);
  });

  finish();
  const view = await client.response(1);
  assert.equal(view.reset, CANCEL, "a handler that ends without answering cancels its stream");
  await stop(client, server);
});

Deno.test("serveHttp2 sends a streamed answer: head, DATA as written, trailers", async (t) => {
  await t.step("write, write, end with trailers", async () => {
    const { client, server } = await streamingServer(async (exchange) => {
      exchange.respond(200, [["content-type", "application/grpc"]]);
      await exchange.write(utf8.encode("one"));
      await exchange.write(utf8.encode("two"));
      for await (const _ of exchange.body) { /* read to the end */ }
      await exchange.end([["grpc-status", "0"]]);
    });
    client.send(headersFrame(1, requestFields("/stream"), END_HEADERS | END_STREAM));
    const view = await client.response(1);
    assert.deepEqual(view.frames.map((f) => [f.type, f.flags & END_STREAM]), [
      [1, 0],
      [DATA, 0],
      [DATA, 0],
      [1, END_STREAM],
    ]);
    assert.deepEqual(view.headers, [[":status", "200"], ["content-type", "application/grpc"]]);
    assert.equal(text(view.body), "onetwo");
    assert.deepEqual(view.trailers, [["grpc-status", "0"]]);
    assert.equal(view.reset, undefined);
    await stop(client, server);
  });

  await t.step(
    "end without trailers sends a 200 head and an empty DATA with END_STREAM",
    async () => {
      const { client, server } = await streamingServer(async (exchange) => {
        await exchange.body.cancel();
        await exchange.end();
      });
      client.send(headersFrame(1, requestFields("/stream"), END_HEADERS | END_STREAM));
      const view = await client.response(1);
      assert.deepEqual(view.headers, [[":status", "200"]]);
      assert.equal(view.data.length, 1);
      assert.equal(view.data[0]!.payload.length, 0);
      assert.equal(view.data[0]!.flags, END_STREAM);
      await stop(client, server);
    },
  );

  await t.step("writes are sent in order even when not awaited", async () => {
    const { client, server } = await streamingServer(async (exchange) => {
      const writes = ["a", "b", "c"].map((part) => exchange.write(utf8.encode(part)));
      const ended = exchange.end([["grpc-status", "0"]]);
      await Promise.all([...writes, ended]);
      await assert.rejects(exchange.write(utf8.encode("late")), /ended/);
    });
    client.send(headersFrame(1, requestFields("/stream"), END_HEADERS | END_STREAM));
    const view = await client.response(1);
    assert.equal(text(view.body), "abc");
    assert.deepEqual(view.trailers, [["grpc-status", "0"]]);
    await stop(client, server);
  });
});

Deno.test("serveHttp2 keeps a streamed answer within the peer's windows", async () => {
  const written = Promise.withResolvers<void>();
  const { client, server } = await streamingServer(async (exchange) => {
    await exchange.write(new Uint8Array(10).fill(7));
    written.resolve();
    await exchange.end();
  }, [[SETTINGS_INITIAL_WINDOW_SIZE, 4]]);
  client.send(headersFrame(1, requestFields("/stream"), END_HEADERS | END_STREAM));
  await client.bodyLength(1, 4);
  await client.sync();
  assert.equal(client.stream(1).body.length, 4, "no more than the window before an update");
  client.send(windowUpdate(1, 3));
  await client.bodyLength(1, 7);
  client.send(windowUpdate(1, 100));
  await written.promise;
  const view = await client.response(1);
  assert.deepEqual(view.data.map((f) => f.payload.length), [4, 3, 3, 0]);
  await stop(client, server);
});

Deno.test("serveHttp2 ends a streamed request early with RST_STREAM NO_ERROR", async () => {
  const { client, server } = await streamingServer(async (exchange) => {
    await exchange.end([["grpc-status", "0"]]);
  });
  open(client, 1);
  const view = await client.response(1);
  assert.deepEqual(view.trailers, [["grpc-status", "0"]]);
  await client.sync();
  assert.deepEqual(
    client.stream(1).frames.filter((f) => f.type === RST_STREAM).map((f) =>
      new DataView(f.payload.buffer).getUint32(0)
    ),
    [NO_ERROR],
  );
  // DATA the client had in flight is dropped, and the connection goes on.
  client.send(dataFrame(1, "in flight", END_STREAM), request(3, "/other"));
  assert.equal(text((await client.response(3)).body), "unary");
  await stop(client, server);
});

Deno.test("serveHttp2 tells a streamed request's handler that the client reset it", async () => {
  const { handler, exchange, finish } = handOff();
  const { client, server } = await streamingServer(handler);
  open(client, 1);
  const { body, signal, write } = await exchange;
  const reader = body.getReader();
  const pending = reader.read();
  client.send(new Uint8Array([0, 0, 4, RST_STREAM, 0, 0, 0, 0, 1, 0, 0, 0, CANCEL]));
  await assert.rejects(pending, /reset/);
  assert.equal(signal.aborted, true);
  await assert.rejects(write(utf8.encode("x")), /reset/);
  finish();
  await client.sync();
  assert.deepEqual(
    client.stream(1).frames.map((f) => f.type),
    [],
    "nothing is sent on a stream the client reset",
  );
  await stop(client, server);
});

Deno.test("serveHttp2 resets a streamed request whose handler fails or gives up", async (t) => {
  await t.step("a throw resets with INTERNAL_ERROR, after what was written", async () => {
    const { client, server } = await streamingServer(async (exchange) => {
      await exchange.write(utf8.encode("partial"));
      throw new Error("boom");
    });
    open(client, 1);
    const view = await client.response(1);
    assert.equal(text(view.body), "partial");
    assert.equal(view.reset, INTERNAL_ERROR);
    await stop(client, server);
  });

  await t.step("resolving without an end resets with CANCEL", async () => {
    const { client, server } = await streamingServer(() => Promise.resolve());
    open(client, 1);
    assert.equal((await client.response(1)).reset, CANCEL);
    await stop(client, server);
  });
});

Deno.test("serveHttp2 fails a streamed body when the connection ends", async () => {
  const { handler, exchange, finish } = handOff();
  const { client, server } = await streamingServer(handler);
  open(client, 1);
  const { body, signal } = await exchange;
  const reader = body.getReader();
  client.send(dataFrame(1, "some"));
  assert.equal(text((await reader.read()).value!), "some");
  client.end();
  await server.done;
  await assert.rejects(reader.read(), /session ended/);
  assert.equal(signal.aborted, true);
  finish();
});

Deno.test("serveHttp2 serves unary and streamed requests side by side", async () => {
  const { client, server } = await streamingServer(async (exchange) => {
    const parts: string[] = [];
    for await (const piece of exchange.body) parts.push(text(piece));
    await exchange.write(utf8.encode(parts.join("+")));
    await exchange.end();
  });
  open(client, 1);
  client.send(request(3, "/unary"), dataFrame(1, "x"), dataFrame(1, "y", END_STREAM));
  const [streamed, unary] = await Promise.all([client.response(1), client.response(3)]);
  assert.equal(text(streamed.body), "x+y");
  assert.equal(text(unary.body), "unary");
  await stop(client, server);
});

Deno.test("serveHttp2 advertises a larger initialWindowSize and widens the connection window", async () => {
  const { client, server } = await connect(() => ({}), { initialWindowSize: 256 * 1024 });
  const settings = parseSettings(
    client.frames.find((f) => f.type === SETTINGS && !f.flags)!.payload,
  );
  assert.equal(settings.get(SETTINGS_INITIAL_WINDOW_SIZE), 256 * 1024);
  assert.deepEqual(client.windowUpdates(0), [4 * 256 * 1024 - 65_535]);
  await stop(client, server);
  for (const bad of [0, -1, 1.5, 2 ** 30]) {
    assert.throws(() => start(() => ({}), { initialWindowSize: bad }), RangeError, String(bad));
  }
});
