/**
 * Seeded fuzz tests of serveHttp2, whose bytes all come from the engine in
 * a BuildKit session: random valid frame sequences cut at random offsets
 * must be answered in full; damaged copies of them with GOAWAY or
 * RST_STREAM and known codes, or a quiet end; the hostile frames of
 * `_hostile_frames.ts` as RFC 9113 says. `BERTH_FUZZ_SEED` and
 * `BERTH_FUZZ_CASES` (see `tests/_fuzz.ts`) replay a failure or run longer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import type {
  Http2Request,
  Http2ServerOptions,
  Http2StreamHandler,
} from "../../src/http2/server.ts";
import { withDeadline } from "../_fake_engine.ts";
import { fuzzCases, fuzzSource, hexCase, mutate, type Random, randomSplit } from "../_fuzz.ts";
import {
  ACK,
  CANCEL,
  COMPRESSION_ERROR,
  concat,
  connect,
  CONTINUATION,
  DATA,
  END_HEADERS,
  END_STREAM,
  type FakeClient,
  type Fields,
  FLOW_CONTROL_ERROR,
  frame,
  FRAME_SIZE_ERROR,
  GOAWAY,
  HEADERS,
  INTERNAL_ERROR,
  NO_ERROR,
  PADDED,
  PING,
  PREFACE,
  PRIORITY,
  PRIORITY_FLAG,
  PROTOCOL_ERROR,
  REFUSED_STREAM,
  requestFields,
  RST_STREAM,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_HEADER_TABLE_SIZE,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  SETTINGS_MAX_FRAME_SIZE,
  SETTINGS_MAX_HEADER_LIST_SIZE,
  settingsFrame,
  start,
  stop,
  STREAM_CLOSED,
  u32,
  utf8,
  windowUpdate,
} from "./_client.ts";
import { encode, HOSTILE, neverReads, open1 } from "./_hostile_frames.ts";
import { RandomEncoder, randomFields } from "./_hpack.ts";

/** A request the script sends, and what the server should hand its handler. */
interface PlannedStream {
  id: number;
  fields: Fields;
  body: Uint8Array;
  streamed: boolean;
  /** `mid`: reset before END_STREAM (never handled); `end`: reset after it (answer may be lost). */
  reset: "mid" | "end" | undefined;
}

/** A piece of the script: frames that go out together (a header block is never cut). */
type Unit = { stream: number; opens: boolean; build: () => Uint8Array[] };

/** The client's side of a random valid session. */
interface Script {
  bytes: Uint8Array;
  streams: PlannedStream[];
  pings: Uint8Array[];
  settings: number;
  options: Http2ServerOptions;
}

/**
 * A header block as HEADERS (maybe padded, maybe with priority fields)
 * and CONTINUATION frames, cut at random points (empty fragments too).
 */
function headerFrames(random: Random, id: number, block: Uint8Array, endStream: boolean) {
  const cuts = randomSplit(random, block, 4);
  const fragments = cuts.length === 0 ? [block] : cuts;
  if (random.int(4) === 0) {
    fragments.splice(random.int(fragments.length + 1), 0, block.subarray(0, 0));
  }
  const frames: Uint8Array[] = [];
  fragments.forEach((fragment, i) => {
    const last = i === fragments.length - 1 ? END_HEADERS : 0;
    if (i > 0) {
      frames.push(frame(CONTINUATION, last, id, fragment));
      return;
    }
    let flags = last | (endStream ? END_STREAM : 0);
    let payload = fragment;
    if (random.int(3) === 0) {
      // Exclusive bit, a dependency (never the stream itself), a weight: all ignored.
      flags |= PRIORITY_FLAG;
      payload = concat(
        u32(random.int(2) * 0x8000_0000 + id + 2 * random.int(5) + 2),
        Uint8Array.of(16),
        payload,
      );
    }
    if (random.int(3) === 0) {
      const pad = random.int(40);
      flags |= PADDED;
      payload = concat(Uint8Array.of(pad), payload, new Uint8Array(pad));
    }
    frames.push(frame(HEADERS, flags, id, payload));
  });
  return frames;
}

/**
 * Random fields a request or its trailers may carry (RFC 9113 §8.2): no
 * pseudo-header fields, no whitespace at either end of a value, `te` only
 * as `trailers`.
 */
function regularFields(random: Random, count: number): Fields {
  return randomFields(random, count)
    .filter(([name]) => !name.startsWith(":"))
    .map(([name, value]) => [name, name === "te" ? "trailers" : value.trim()]);
}

/**
 * A random valid client session: the preface, SETTINGS, then up to six
 * streams (unary and streamed, with bodies in padded DATA frames, some
 * with trailers, some reset) interleaved with one another and with PING,
 * PRIORITY, SETTINGS, WINDOW_UPDATE and unknown frames. Header blocks are
 * encoded in wire order with a dynamic table, so the server's decoder must
 * stay in step. Everything fits the server's windows without its updates.
 */
function randomScript(random: Random): Script {
  const options: Http2ServerOptions = {};
  const window = random.pick([undefined, 1000, 256 * 1024]);
  if (window !== undefined) options.initialWindowSize = window;
  const encoder = new RandomEncoder(4096);
  const pings: Uint8Array[] = [];
  let settings = 1;
  // The client's own windows: maybe tiny; each stream and the connection get 1 MiB on top.
  const clientWindow = random.pick([0, 1, 100, 65_535, 1 << 20]);
  const first: [number, number][] = [[SETTINGS_INITIAL_WINDOW_SIZE, clientWindow]];
  if (random.int(2)) first.push([SETTINGS_MAX_FRAME_SIZE, random.pick([16_384, 16_777_215])]);
  if (random.int(2)) first.push([SETTINGS_ENABLE_PUSH, random.int(2)]);
  if (random.int(2)) first.push([SETTINGS_HEADER_TABLE_SIZE, random.int(2 ** 32)]);
  if (random.int(2)) first.push([SETTINGS_MAX_CONCURRENT_STREAMS, random.int(2 ** 32)]);
  if (random.int(2)) first.push([0x99, random.int(2 ** 32)]); // Unknown: ignored.
  const head = [PREFACE, settingsFrame(first), windowUpdate(0, 1 << 20)];

  const streams: PlannedStream[] = [];
  const lanes: Unit[][] = [];
  let id = -1;
  let budget = 60_000; // DATA bytes, padding included, within the connection window.
  for (let n = 1 + random.int(6); n > 0; n--) {
    id += 2 * (1 + random.int(3));
    const streamed = random.int(3) === 0;
    const path = `${streamed ? "/s/" : "/u/"}${id}`;
    const extra = regularFields(random, random.int(5));
    const fields = requestFields(path, random.pick(["POST", "GET", "PUT"]), extra);
    const chunks: Uint8Array[] = [];
    for (let c = random.int(4); c > 0; c--) {
      const size = Math.min(random.pick([0, 1, 100, 3000]), budget);
      budget -= size;
      chunks.push(random.bytes(size));
    }
    const trailers = random.int(4) === 0;
    const noBody = chunks.length === 0 && !trailers;
    // Reset before END_STREAM, or after it; a request of one frame only after.
    const reset = random.int(8) === 0
      ? noBody ? "end" : random.pick(["mid", "end"] as const)
      : undefined;
    const plan: PlannedStream = { id, fields, body: concat(...chunks), streamed, reset };
    streams.push(plan);
    const lane: Unit[] = [];
    const streamId = id;
    lane.push({
      stream: streamId,
      opens: true,
      build: () => [
        ...headerFrames(random, streamId, Uint8Array.from(encoder.encode(random, fields)), noBody),
        windowUpdate(streamId, 1 << 20),
      ],
    });
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1 && !trailers;
      lane.push({
        stream: streamId,
        opens: false,
        build: () => {
          const pad = random.int(3) === 0 ? Math.min(random.int(64), budget) : -1;
          if (pad < 0) return [frame(DATA, last ? END_STREAM : 0, streamId, chunk)];
          budget -= pad + 1;
          const padded = concat(Uint8Array.of(pad), chunk, new Uint8Array(pad));
          return [frame(DATA, PADDED | (last ? END_STREAM : 0), streamId, padded)];
        },
      });
    });
    if (trailers) {
      const fields = regularFields(random, 1 + random.int(3));
      lane.push({
        stream: streamId,
        opens: false,
        build: () =>
          headerFrames(random, streamId, Uint8Array.from(encoder.encode(random, fields)), true),
      });
    }
    const rst = {
      stream: streamId,
      opens: false,
      build: () => [frame(RST_STREAM, 0, streamId, u32(CANCEL))],
    };
    if (reset === "mid") lane.splice(1 + random.int(lane.length - 1), lane.length, rst);
    else if (reset === "end") lane.push(rst);
    lanes.push(lane);
  }

  // Interleave: any lane's next unit, but streams open in id order.
  const out: Uint8Array[] = [...head];
  const opened = new Set<number>();
  const extras = (): Uint8Array[] => {
    switch (random.int(12)) {
      case 0: {
        const payload = random.bytes(8);
        pings.push(payload);
        return [frame(PING, 0, 0, payload)];
      }
      case 1:
        return [frame(PING, ACK, 0, random.bytes(8))]; // An ACK: not answered.
      case 2:
        return [
          // On any stream, open or idle, depending on stream 0.
          frame(PRIORITY, 0, 1 + 2 * random.int(20), concat(u32(0), Uint8Array.of(7))),
        ];
      case 3:
        settings++;
        return [
          settingsFrame(random.int(2) ? [] : [[SETTINGS_MAX_HEADER_LIST_SIZE, random.int(1e6)]]),
        ];
      case 4:
        return [frame(SETTINGS, ACK, 0)];
      case 5:
        return [windowUpdate(0, 1 + random.int(1000))];
      case 6:
        return [
          frame(
            0xa + random.int(200),
            random.int(256),
            random.int(9),
            random.bytes(random.int(20)),
          ),
        ];
      default:
        return [];
    }
  };
  for (;;) {
    const ready = lanes.filter((lane) =>
      lane.length > 0 &&
      (!lane[0]!.opens || lanes.every((other) =>
        other === lane || other.length === 0 || !other[0]!.opens ||
        other[0]!.stream > lane[0]!.stream
      ))
    );
    if (ready.length === 0) break;
    const unit = random.pick(ready).shift()!;
    if (unit.opens) opened.add(unit.stream);
    out.push(...unit.build(), ...extras());
  }
  out.push(frame(GOAWAY, 0, 0, u32(0, NO_ERROR)));
  return { bytes: concat(...out), streams, pings, settings, options };
}

/**
 * A streamed request's handler: reads the body, records the request,
 * writes the body back and ends with a trailer.
 *
 * @param requests Where to record it.
 * @returns The handler.
 */
function echoStreamed(requests: Http2Request[]): Http2StreamHandler {
  return async (exchange) => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of exchange.body) chunks.push(chunk);
    const { streamId, method, path, headers } = exchange;
    requests.push({ streamId, method, path, headers, body: concat(...chunks) });
    await exchange.write(concat(...chunks));
    await exchange.end([["x-t", "1"]]);
  };
}

/** Known RST_STREAM and GOAWAY codes, for answers to damaged input. */
const CODES = new Set([
  NO_ERROR,
  PROTOCOL_ERROR,
  INTERNAL_ERROR,
  FLOW_CONTROL_ERROR,
  STREAM_CLOSED,
  FRAME_SIZE_ERROR,
  REFUSED_STREAM,
  CANCEL,
  COMPRESSION_ERROR,
]);

/**
 * Runs a script against a fresh server, the bytes cut at random offsets.
 * Paths under `/s/` are streamed (echoed by {@linkcode echoStreamed} unless
 * `options` says otherwise), the others unary (echoed too).
 *
 * @returns The client, the server and the requests its handlers saw.
 */
function run(random: Random, bytes: Uint8Array, options: Http2ServerOptions) {
  const requests: Http2Request[] = [];
  const echo = echoStreamed(requests);
  options = { streaming: (path) => path.startsWith("/s/") ? echo : undefined, ...options };
  const { client, server } = start((request) => {
    requests.push(request);
    return {
      headers: [["x-n", String(request.body.length)]],
      body: request.body,
      trailers: [["x-t", "1"]],
    };
  }, options);
  for (const piece of randomSplit(random, bytes, 16)) client.send(piece);
  return { client, server, requests };
}

/** The RST_STREAM codes the server sent. */
function resets(client: FakeClient): number[] {
  return client.frames.filter((f) => f.type === RST_STREAM).map((f) =>
    new DataView(f.payload.buffer).getUint32(0)
  );
}

Deno.test("serveHttp2 answers random valid frame sequences cut at random offsets", async () => {
  const { seed, random } = fuzzSource(0x5e55);
  const cases = fuzzCases(300);
  for (let index = 0; index < cases; index++) {
    const script = randomScript(random);
    const what = hexCase(seed, index, script.bytes);
    const { client, server, requests } = run(random, script.bytes, script.options);
    try {
      for (const plan of script.streams) {
        if (plan.reset !== undefined) continue;
        const view = await withDeadline(
          client.response(plan.id),
          2000,
          `stream ${plan.id}: ${what}`,
        );
        assert.equal(view.reset, undefined, `stream ${plan.id} reset: ${what}`);
        assert.deepEqual(
          view.headers,
          plan.streamed
            ? [[":status", "200"]]
            : [[":status", "200"], ["x-n", String(plan.body.length)]],
          what,
        );
        assert.deepEqual(view.body, plan.body, `stream ${plan.id} body: ${what}`);
        assert.deepEqual(view.trailers, [["x-t", "1"]], what);
      }
      await withDeadline(client.sync(), 2000, what);
      for (const plan of script.streams) {
        const seen = requests.filter((r) => r.streamId === plan.id);
        if (plan.reset === "mid") {
          if (!plan.streamed) assert.equal(seen.length, 0, `stream ${plan.id} handled: ${what}`);
          continue;
        }
        assert.equal(seen.length, 1, `stream ${plan.id} handled ${seen.length} times: ${what}`);
        const request = seen[0]!;
        assert.deepEqual(request.headers, plan.fields, `stream ${plan.id} headers: ${what}`);
        assert.equal(request.method, plan.fields[0]![1], what);
        assert.equal(request.path, plan.fields[2]![1], what);
        assert.deepEqual(request.body, plan.body, `stream ${plan.id} request body: ${what}`);
      }
      const acks = client.frames.filter((f) => f.type === PING && f.flags === ACK);
      assert.deepEqual(
        acks.slice(0, script.pings.length).map((f) => f.payload),
        script.pings,
        what,
      );
      const settingsAcks = client.frames.filter((f) => f.type === SETTINGS && f.flags === ACK);
      assert.equal(settingsAcks.length, script.settings, what);
      assert.equal(client.goaway(), undefined, what);
      assert.ok(resets(client).every((code) => code === CANCEL || code === NO_ERROR), what);
    } finally {
      await stop(client, server);
    }
  }
});

Deno.test("serveHttp2 answers damaged frame sequences with GOAWAY or RST_STREAM, or ends quietly", async () => {
  const { seed, random } = fuzzSource(0xbad);
  const cases = fuzzCases(400);
  const outcomes = new Map<string, number>();
  for (let index = 0; index < cases; index++) {
    const script = randomScript(random);
    // Damage after the preface now and then, so more gets past it.
    const keep = random.int(2) === 0 ? PREFACE.length : 0;
    const damaged = concat(
      script.bytes.subarray(0, keep),
      mutate(random, script.bytes.subarray(keep), [0x00, 0x01, 0x04, 0x08, 0x09, 0x40, 0xff]),
    );
    const what = hexCase(seed, index, damaged);
    const { client, server } = run(random, damaged, script.options);
    client.end();
    let failure: unknown;
    try {
      await withDeadline(server.done, 2000, what);
    } catch (error) {
      failure = error;
    }
    assert.ok(client.closed, `the connection is still open: ${what}`);
    const goaways = client.frames.filter((f) => f.type === GOAWAY);
    assert.ok(goaways.length <= 1, `${goaways.length} GOAWAY frames: ${what}`);
    if (failure !== undefined) {
      assert.ok(failure instanceof DockerProtocolError, `done rejected with ${failure}: ${what}`);
      assert.equal(failure.code, "INVALID_HTTP2", what);
      const goaway = client.goaway();
      assert.ok(goaway !== undefined && goaway.code !== NO_ERROR, `no GOAWAY error: ${what}`);
      assert.ok(CODES.has(goaway.code), `GOAWAY code ${goaway.code}: ${what}`);
      outcomes.set(`goaway ${goaway.code}`, (outcomes.get(`goaway ${goaway.code}`) ?? 0) + 1);
    } else {
      assert.equal(client.goaway(), undefined, `GOAWAY but done resolved: ${what}`);
      outcomes.set("ended", (outcomes.get("ended") ?? 0) + 1);
    }
    for (const code of resets(client)) assert.ok(CODES.has(code), `RST code ${code}: ${what}`);
  }
  // The damage reached more than the preface.
  assert.ok(outcomes.size >= 4, `outcomes: ${[...outcomes]}`);
});

Deno.test("serveHttp2 answers hostile frames as RFC 9113 says, wherever the reads cut them", async () => {
  const { seed, random } = fuzzSource(0x7075);
  const rounds = fuzzCases(3);
  for (let round = 0; round < rounds; round++) {
    for (const [index, hostile] of HOSTILE.entries()) {
      const bytes = concat(PREFACE, settingsFrame(), ...hostile.frames());
      const what = `${hostile.name}, round ${round}: ${hexCase(seed, index, bytes)}`;
      const { client, server } = run(random, bytes, hostile.options ?? {});
      if ("goaway" in hostile.expect) {
        client.end();
        const error = await withDeadline(server.done.then(() => undefined, (e) => e), 2000, what);
        assert.ok(error instanceof DockerProtocolError, `done settled with ${error}: ${what}`);
        assert.equal(client.goaway()?.code, hostile.expect.goaway, what);
        assert.ok(client.closed, what);
        continue;
      }
      const { rst, stream } = hostile.expect;
      const view = await withDeadline(
        client.until(() => client.stream(stream).reset, `the reset of stream ${stream}`),
        2000,
        what,
      );
      assert.equal(view, rst, what);
      // A stream error leaves the connection working.
      client.send(
        ...hostile.then?.() ?? [],
        frame(HEADERS, END_HEADERS | END_STREAM, 21, encode(requestFields("/u/21"))),
      );
      const answer = await withDeadline(client.response(21), 2000, what);
      assert.equal(answer.reset, undefined, what);
      assert.deepEqual(answer.trailers, [["x-t", "1"]], what);
      assert.equal(client.goaway(), undefined, what);
      await stop(client, server);
    }
  }
});

// Regressions the fuzzing found.

Deno.test("serveHttp2 resets a streamed request whose DATA overruns its window instead of queueing it", async () => {
  let body: ReadableStream<Uint8Array> | undefined;
  const { client, server } = await connect(() => ({}), {
    streaming: () => (exchange) => {
      body = exchange.body;
      return neverReads(exchange);
    },
  });
  client.send(open1());
  // 80 KiB to a handler that reads nothing: the window is 64 KiB.
  for (let i = 0; i < 5; i++) client.send(frame(DATA, 0, 1, new Uint8Array(16_384)));
  const reset = await withDeadline(
    client.until(() => client.stream(1).reset, "a reset"),
    2000,
    "reset",
  );
  assert.equal(reset, FLOW_CONTROL_ERROR);
  // What arrived within the window is still there to read; then the body fails.
  const reader = body!.getReader();
  let read = 0;
  const error = await (async () => {
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        read += next.value.length;
      }
    } catch (error) {
      return error;
    }
  })();
  assert.equal(read, 3 * 16_384);
  assert.ok(error instanceof DockerProtocolError);
  assert.equal(client.goaway(), undefined);
  await stop(client, server);
});

Deno.test("serveHttp2 gives a window smaller than 16 KiB back once half of it is read", async (t) => {
  for (const streamed of [false, true]) {
    await t.step(streamed ? "a streamed request" : "a unary request", async () => {
      const requests: Http2Request[] = [];
      const { client, server } = await connect((request) => ({ body: request.body }), {
        initialWindowSize: 1000,
        streaming: (path) =>
          streamed && path.startsWith("/s/") ? echoStreamed(requests) : undefined,
      }, [[SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20]]);
      client.send(frame(HEADERS, END_HEADERS, 1, encode(requestFields("/s/1"))));
      // A client that keeps to the window the server announced (1000), as it is given back.
      const body = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
      let window = 1000;
      let sent = 0;
      let seen = 0;
      while (sent < body.length) {
        if (window === 0) {
          const updates = await withDeadline(
            client.until(() => {
              const all = client.windowUpdates(1);
              return all.length > seen ? all.slice(seen) : undefined;
            }, "a WINDOW_UPDATE"),
            2000,
            `a WINDOW_UPDATE after ${sent} bytes`,
          );
          seen += updates.length;
          window += updates.reduce((sum, n) => sum + n, 0);
          continue;
        }
        const size = Math.min(window, 300, body.length - sent);
        const last = sent + size === body.length;
        client.send(frame(DATA, last ? END_STREAM : 0, 1, body.subarray(sent, sent + size)));
        sent += size;
        window -= size;
      }
      const view = await withDeadline(client.response(1), 2000, "the response");
      assert.deepEqual(view.body, body);
      await stop(client, server);
    });
  }
});

Deno.test("serveHttp2 keeps memory flat under endless empty CONTINUATION frames", async () => {
  const { client, server } = await connect((request) => ({ body: utf8.encode(request.path) }));
  client.send(frame(HEADERS, END_STREAM, 1, encode(requestFields("/flood"))));
  const empty = new Uint8Array(9 * 10_000);
  for (let at = 0; at < empty.length; at += 9) empty.set(frame(CONTINUATION, 0, 1), at);
  const before = Deno.memoryUsage().heapUsed;
  // 200,000 frames of no bytes: a list of fragments grew by ~40 MB here.
  for (let i = 0; i < 20; i++) client.send(empty);
  await new Promise((resolve) => setTimeout(resolve, 0));
  const growth = Deno.memoryUsage().heapUsed - before;
  assert.ok(growth < 20e6, `the heap grew by ${growth} bytes`);
  client.send(frame(CONTINUATION, END_HEADERS, 1));
  const view = await withDeadline(client.response(1), 2000, "the response");
  assert.deepEqual(view.body, utf8.encode("/flood"));
  await stop(client, server);
});
