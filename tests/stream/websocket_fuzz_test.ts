/**
 * Seeded fuzz tests of `webSocketSession`. Random valid server frames,
 * split at random offsets (some reads in buffers larger than their bytes),
 * must read as the messages sent, pings and the close answered; damaged and hostile frames must fail as the RFC 6455
 * reference here says, with a `DockerError` subclass; random messages must
 * be written as masked frames of every length form.
 *
 * A failure names the seed, the case and its input: rerun with
 * `BERTH_FUZZ_SEED=<seed>` to reproduce it, `BERTH_FUZZ_CASES=<n>` for n
 * times the cases.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError, DockerStreamError } from "../../src/errors.ts";
import {
  type ByteDuplex,
  type WebSocketMessage,
  webSocketSession,
} from "../../src/stream/websocket.ts";
import {
  assertTyped,
  describeError,
  fuzz,
  fuzzCases,
  mutate,
  type Random,
  randomPieces,
  sameBytes,
  tiered,
} from "../_fuzz.ts";
import { randomString } from "./_fuzz_text.ts";
import { concat } from "./_tar.ts";

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Bytes WebSocket headers are made of, for {@linkcode mutate}. */
const WS_BYTES = [
  0x00,
  0x01,
  0x02,
  0x03,
  0x7e,
  0x7f,
  0x80,
  0x81,
  0x82,
  0x88,
  0x89,
  0x8a,
  0xe8,
  0xff,
];

/** One server frame (unmasked unless `key` is given), with the shortest length form unless told. */
function wsFrame(
  b0: number,
  payload: Uint8Array,
  options: { key?: Uint8Array; form?: 7 | 16 | 64 } = {},
): Uint8Array {
  const length = payload.length;
  const form = options.form ?? (length < 126 ? 7 : length < 65_536 ? 16 : 64);
  const extra = form === 16 ? 2 : form === 64 ? 8 : 0;
  const key = options.key;
  const out = new Uint8Array(2 + extra + (key ? 4 : 0) + length);
  const view = new DataView(out.buffer);
  out[0] = b0;
  out[1] = (key ? 0x80 : 0) | (form === 7 ? length : form === 16 ? 126 : 127);
  if (form === 16) view.setUint16(2, length);
  if (form === 64) view.setBigUint64(2, BigInt(length));
  let at = 2 + extra;
  if (key) {
    out.set(key, at);
    at += 4;
  }
  for (let i = 0; i < length; i++) out[at + i] = payload[i]! ^ (key ? key[i & 3]! : 0);
  return out;
}

function wsPayload(random: Random): Uint8Array {
  const size = tiered(random, [
    [0.2, () => 0],
    [0.6, () => random.int(126)],
    [0.97, () => 126 + random.int(3000)],
    [1, () => 65_536 + random.int(5000)],
  ]);
  return random.bytes(size);
}

interface WsPlan {
  bytes: Uint8Array;
  messages: WebSocketMessage[];
  /** Ping payloads, in order: each must be answered by a pong. */
  pings: Uint8Array[];
  /** The close code sent (null: an empty close frame), or "eof" for none. */
  close: number | null | "eof";
  /** Offsets where frames start, and the end. */
  boundaries: number[];
}

/** Random server output: fragmented messages with control frames between, then a close frame or EOF. */
function randomWebSocket(random: Random): WsPlan {
  const frames: Uint8Array[] = [];
  const messages: WebSocketMessage[] = [];
  const pings: Uint8Array[] = [];
  const controls = () => {
    for (let n = random.int(4) === 0 ? 1 + random.int(2) : 0; n > 0; n--) {
      const payload = random.bytes(random.int(126));
      if (random.next() < 0.6) {
        pings.push(payload);
        frames.push(wsFrame(0x89, payload));
      } else {
        frames.push(wsFrame(0x8a, payload));
      }
    }
  };
  for (let n = random.int(6); n > 0; n--) {
    const type = random.next() < 0.5 ? "text" : "binary";
    const data = wsPayload(random);
    messages.push({ type, data });
    const cuts = Array.from({ length: random.int(4) }, () => random.int(data.length + 1));
    const bounds = [0, ...cuts.sort((a, b) => a - b), data.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const opcode = i === 0 ? (type === "text" ? 1 : 2) : 0;
      const fin = i + 2 === bounds.length ? 0x80 : 0;
      controls();
      frames.push(wsFrame(fin | opcode, data.subarray(bounds[i], bounds[i + 1])));
    }
  }
  controls();
  const close = random.next() < 0.15
    ? "eof"
    : random.pick([null, 1000, 1000, 1001, 1011, 3000, 4999] as const);
  if (close === null) frames.push(wsFrame(0x88, EMPTY));
  else if (close !== "eof") {
    const reason = random.next() < 0.5 ? encoder.encode(random.pick(["bye", "done ✓"])) : EMPTY;
    frames.push(wsFrame(0x88, concat([Uint8Array.of(close >> 8, close & 0xff), reason])));
  }
  const boundaries = [0];
  for (const frame of frames) boundaries.push(boundaries.at(-1)! + frame.length);
  return { bytes: concat(frames), messages, pings, close, boundaries };
}

interface ClientFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Uint8Array;
}

/** Parses (and unmasks) the frames the client wrote. */
function parseClientFrames(bytes: Uint8Array): ClientFrame[] {
  const frames: ClientFrame[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    let length = b1 & 0x7f;
    i += 2;
    if (length === 126) {
      length = view.getUint16(i);
      i += 2;
    } else if (length === 127) {
      length = Number(view.getBigUint64(i));
      i += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    const key = masked ? bytes.subarray(i, i + 4) : new Uint8Array(4);
    if (masked) i += 4;
    const payload = bytes.slice(i, i + length);
    for (let j = 0; j < payload.length; j++) payload[j] = payload[j]! ^ key[j & 3]!;
    assert.equal(payload.length, length, "a client frame is cut short");
    frames.push({ fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, masked, payload });
    i += length;
  }
  return frames;
}

/** Runs a session over `parts`; what it read, how it ended, what it wrote. */
async function runWebSocket(parts: Uint8Array[], maxMessageSize?: number): Promise<{
  messages: WebSocketMessage[];
  error: unknown;
  written: ClientFrame[];
  closed: boolean;
}> {
  let next = 0;
  let closed = false;
  const written: Uint8Array[] = [];
  const duplex: ByteDuplex = {
    read: () => Promise.resolve(closed ? null : parts[next++] ?? null),
    write: (bytes) => {
      if (closed) return Promise.reject(new Error("write after close"));
      written.push(bytes.slice());
      return Promise.resolve();
    },
    close: () => {
      closed = true;
    },
  };
  const session = webSocketSession(duplex, maxMessageSize ? { maxMessageSize } : {});
  const messages: WebSocketMessage[] = [];
  let error: unknown;
  try {
    for await (const message of session.readable) {
      messages.push({ type: message.type, data: message.data.slice() });
    }
  } catch (caught) {
    error = caught;
  }
  const wasClosed = closed;
  await session.close();
  return { messages, error, written: parseClientFrames(concat(written)), closed: wasClosed };
}

type WsOutcome = { kind: "end" } | { kind: "protocol"; code: string } | {
  kind: "stream";
  code: number;
};

/** What a whole-buffer reader makes of server bytes, following RFC 6455 as documented. */
function referenceWebSocket(
  bytes: Uint8Array,
  maxMessageSize: number,
): { messages: WebSocketMessage[]; outcome: WsOutcome } {
  const messages: WebSocketMessage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail = (code: string) => ({ messages, outcome: { kind: "protocol", code } as const });
  let i = 0;
  let type: "text" | "binary" | null = null;
  let parts: Uint8Array[] = [];
  let total = 0;
  while (true) {
    if (bytes.length - i < 2) return fail("PREMATURE_CLOSE");
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1]!;
    i += 2;
    if (b0 & 0x70 || b1 & 0x80) return fail("INVALID_WEBSOCKET_FRAME");
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let length = b1 & 0x7f;
    if (length === 126) {
      if (bytes.length - i < 2) return fail("PREMATURE_CLOSE");
      length = view.getUint16(i);
      i += 2;
    } else if (length === 127) {
      if (bytes.length - i < 8) return fail("PREMATURE_CLOSE");
      if (bytes[i]! & 0x80) return fail("INVALID_WEBSOCKET_FRAME");
      length = Number(view.getBigUint64(i));
      i += 8;
    }
    if (opcode >= 8) {
      if (opcode > 10 || !fin || length > 125) return fail("INVALID_WEBSOCKET_FRAME");
      if (bytes.length - i < length) return fail("PREMATURE_CLOSE");
      const payload = bytes.subarray(i, i + length);
      i += length;
      if (opcode !== 8) continue;
      if (payload.length === 1) return fail("INVALID_WEBSOCKET_FRAME");
      if (payload.length === 0) return { messages, outcome: { kind: "end" } };
      const code = (payload[0]! << 8) | payload[1]!;
      const valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
        (code >= 3000 && code <= 4999);
      if (!valid) return fail("INVALID_WEBSOCKET_FRAME");
      if (code === 1000 || code === 1001) return { messages, outcome: { kind: "end" } };
      return { messages, outcome: { kind: "stream", code } };
    }
    if (opcode > 2) return fail("INVALID_WEBSOCKET_FRAME");
    if (opcode === 0 && type === null) return fail("INVALID_WEBSOCKET_FRAME");
    if (opcode !== 0 && type !== null) return fail("INVALID_WEBSOCKET_FRAME");
    if (opcode !== 0) type = opcode === 1 ? "text" : "binary";
    if (total + length > maxMessageSize) return fail("WEBSOCKET_MESSAGE_TOO_LARGE");
    if (bytes.length - i < length) return fail("PREMATURE_CLOSE");
    parts.push(bytes.subarray(i, i + length));
    total += length;
    i += length;
    if (fin) {
      messages.push({ type: type!, data: concat(parts) });
      type = null;
      parts = [];
      total = 0;
    }
  }
}

/**
 * Asserts that a session read the messages `want`, in order.
 *
 * @param got What it read.
 * @param want What it should have read.
 * @param error How the reading ended, for the message.
 */
function checkMessages(got: WebSocketMessage[], want: WebSocketMessage[], error: unknown): void {
  assert.equal(got.length, want.length, `messages (${describeError(error)})`);
  got.forEach((message, index) => {
    const expected = want[index]!;
    assert.equal(message.type, expected.type, `message ${index} type`);
    assert.ok(sameBytes(message.data, expected.data), `message ${index} bytes`);
  });
}

/**
 * Asserts that a session read and ended as the reference says, and sent the
 * close frame a protocol error calls for.
 *
 * @param run What {@linkcode runWebSocket} saw.
 * @param expected What {@linkcode referenceWebSocket} made of the same bytes.
 */
function checkAsReference(
  run: Awaited<ReturnType<typeof runWebSocket>>,
  expected: ReturnType<typeof referenceWebSocket>,
): void {
  assertTyped(run.error, "webSocketSession");
  checkMessages(run.messages, expected.messages, run.error);
  const outcome = expected.outcome;
  if (outcome.kind === "end") assert.equal(run.error, undefined, describeError(run.error));
  else if (outcome.kind === "stream") {
    assert.ok(
      run.error instanceof DockerStreamError,
      `expected close ${outcome.code}, got ${run.error}`,
    );
    assert.equal(run.error.detail?.code, outcome.code);
  } else {
    assert.ok(
      run.error instanceof DockerProtocolError,
      `expected ${outcome.code}, got ${run.error}`,
    );
    assert.equal(run.error.code, outcome.code, run.error.message);
    const last = run.written.at(-1);
    if (outcome.code === "PREMATURE_CLOSE") {
      assert.notEqual(last?.opcode, 0x8, "no close frame after an EOF");
    } else {
      const code = outcome.code === "WEBSOCKET_MESSAGE_TOO_LARGE" ? 1009 : 1002;
      assert.equal(last?.opcode, 0x8, "a close frame is sent on a protocol error");
      assert.ok(sameBytes(last.payload, Uint8Array.of(code >> 8, code & 0xff)), `close ${code}`);
    }
  }
  assert.ok(run.closed, "the connection is closed");
}

/**
 * Reads as a worker's connection or another duplex with large buffers makes
 * them: some of `pieces` moved into fresh buffers with room around them, so
 * that a view of one keeps far more than its bytes alive and the session
 * copies the message into a buffer of its own instead.
 *
 * @param random The case's random source.
 * @param pieces The reads.
 * @returns The same bytes, some in larger buffers.
 */
function inLargeBuffers(random: Random, pieces: Uint8Array[]): Uint8Array[] {
  // At most about 200 large buffers a case, however small the pieces.
  const share = Math.min(0.5, 200 / pieces.length);
  return pieces.map((piece) => {
    if (random.next() >= share) return piece;
    const before = random.int(64);
    const buffer = new Uint8Array(before + piece.length + random.pick([0, 4096, 80 * 1024]));
    buffer.set(piece, before);
    return buffer.subarray(before, before + piece.length);
  });
}

/** Hostile frames a broken or malicious server might send. */
function hostileWebSocketFrame(random: Random): Uint8Array {
  const some = random.bytes(random.int(40));
  switch (random.int(12)) {
    case 0:
      return wsFrame(0x81, some, { key: random.bytes(4) }); // masked
    case 1:
      return wsFrame(random.pick([0xc1, 0xa2, 0x91, 0xf8]), some); // reserved bits
    case 2:
      return wsFrame(0x80 | random.pick([3, 4, 7, 0xb, 0xf]), some); // reserved opcodes
    case 3:
      return wsFrame(random.pick([0x08, 0x09, 0x0a]), some); // fragmented control
    case 4:
      return wsFrame(0x89, random.bytes(random.pick([126, 127 + random.int(200)]))); // control over 125 bytes
    case 5: // 64-bit length with the top bit set
      return concat([Uint8Array.of(0x82, 127, 0x80 | random.int(128), 0, 0, 0, 0, 0, 0, 1), some]);
    case 6: { // declares 2^48 bytes or more, sends a few
      const header = Uint8Array.of(
        0x82,
        127,
        random.int(64),
        1 + random.int(255),
        0,
        0,
        0,
        0,
        0,
        0,
      );
      return concat([header, some]);
    }
    case 7:
      return wsFrame(0x80, some); // continuation without a message
    case 8:
      return concat([wsFrame(0x01, some), wsFrame(0x81, some)]); // data inside a fragmented message
    case 9:
      return wsFrame(0x88, Uint8Array.of(random.int(256))); // 1-byte close payload
    case 10: {
      const code = random.pick([0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535]);
      return wsFrame(0x88, Uint8Array.of(code >> 8, code & 0xff));
    }
    default:
      return wsFrame(0x82, random.bytes(random.int(300)), { form: random.pick([16, 64]) });
  }
}

Deno.test("webSocketSession reads random valid frames split anywhere as the messages sent, answering pings and the close", async () => {
  await fuzz(fuzzCases(250), async (random, note) => {
    const plan = randomWebSocket(random);
    note(plan.bytes);
    const run = await runWebSocket(randomPieces(random, plan.bytes));
    checkMessages(run.messages, plan.messages, run.error);
    if (plan.close === "eof") {
      assert.ok(
        run.error instanceof DockerProtocolError,
        `expected PREMATURE_CLOSE, got ${run.error}`,
      );
      assert.equal(run.error.code, "PREMATURE_CLOSE");
    } else if (plan.close === null || plan.close === 1000 || plan.close === 1001) {
      assert.equal(run.error, undefined, describeError(run.error));
    } else {
      assert.ok(
        run.error instanceof DockerStreamError,
        `expected DockerStreamError, got ${run.error}`,
      );
      assert.equal(run.error.detail?.code, plan.close);
    }
    assert.ok(run.closed, "the connection is closed");
    for (const frame of run.written) {
      assert.ok(frame.masked && frame.fin, "client frames are masked, whole");
    }
    const pongs = run.written.filter((frame) => frame.opcode === 0xa);
    assert.equal(pongs.length, plan.pings.length, "one pong per ping");
    pongs.forEach((pong, index) =>
      assert.ok(sameBytes(pong.payload, plan.pings[index]!), `pong ${index}`)
    );
    const closes = run.written.filter((frame) => frame.opcode === 0x8);
    if (plan.close === "eof") assert.equal(closes.length, 0);
    else {
      assert.equal(closes.length, 1, "one close reply");
      const echo = plan.close === null ? EMPTY : Uint8Array.of(plan.close >> 8, plan.close & 0xff);
      assert.ok(sameBytes(closes[0]!.payload, echo), "the close reply echoes the code");
      assert.equal(run.written.at(-1)!.opcode, 0x8, "nothing is written after the close reply");
    }
  });
});

Deno.test("webSocketSession fails damaged and hostile frames with DockerError subclasses only, as the reference does", async () => {
  await fuzz(fuzzCases(500), async (random, note) => {
    const plan = randomWebSocket(random);
    let bytes: Uint8Array;
    const roll = random.next();
    if (roll < 0.4) bytes = mutate(random, plan.bytes, WS_BYTES);
    else if (roll < 0.9) {
      const cut = random.next() < 0.8
        ? random.pick(plan.boundaries)
        : random.int(plan.bytes.length + 1);
      bytes = concat([
        plan.bytes.subarray(0, cut),
        hostileWebSocketFrame(random),
        plan.bytes.subarray(cut),
      ]);
    } else bytes = random.bytes(random.int(200));
    note(bytes);
    let maxMessageSize = random.next() < 0.3 ? 1 + random.int(500) : 16 * 1024 * 1024;
    if (plan.messages.length > 0 && random.next() < 0.2) {
      // On the boundary: the size of a message, or one off.
      const size = random.pick(plan.messages).data.length + random.pick([-1, 0, 1]);
      maxMessageSize = Math.max(1, size);
    }
    const run = await runWebSocket(randomPieces(random, bytes), maxMessageSize);
    checkAsReference(run, referenceWebSocket(bytes, maxMessageSize));
  });
});

Deno.test("webSocketSession reads random frames split anywhere into reads with room around them as the reference does", async () => {
  await fuzz(fuzzCases(250), async (random, note) => {
    const plan = randomWebSocket(random);
    note(plan.bytes);
    let maxMessageSize = 16 * 1024 * 1024;
    if (plan.messages.length > 0 && random.next() < 0.3) {
      const size = random.pick(plan.messages).data.length + random.pick([-1, 0, 1]);
      maxMessageSize = Math.max(1, size);
    }
    const parts = inLargeBuffers(random, randomPieces(random, plan.bytes));
    const run = await runWebSocket(parts, maxMessageSize);
    checkAsReference(run, referenceWebSocket(plan.bytes, maxMessageSize));
  });
});

Deno.test("webSocketSession writes random messages as masked frames with 7-, 16- and 64-bit lengths", async () => {
  await fuzz(fuzzCases(60), async (random, note) => {
    const sent: (string | Uint8Array)[] = [];
    for (let n = 1 + random.int(5); n > 0; n--) {
      sent.push(random.next() < 0.3 ? randomString(random) : wsPayload(random));
    }
    note(concat(sent.map((item) => typeof item === "string" ? encoder.encode(item) : item)));
    const written: Uint8Array[] = [];
    const session = webSocketSession({
      read: () => new Promise<null>(() => {}),
      write: (bytes) => Promise.resolve(void written.push(bytes.slice())),
      close: () => {},
    });
    const writer = session.writable.getWriter();
    for (const item of sent) await writer.write(item);
    await writer.close();
    await session.readable.cancel();
    const frames = parseClientFrames(concat(written));
    assert.equal(frames.length, sent.length + 1);
    sent.forEach((item, index) => {
      const frame = frames[index]!;
      assert.ok(frame.masked && frame.fin);
      assert.equal(frame.opcode, typeof item === "string" ? 1 : 2);
      const bytes = typeof item === "string" ? encoder.encode(item) : item;
      assert.ok(sameBytes(frame.payload, bytes), `message ${index} (${bytes.length} bytes)`);
    });
    assert.equal(frames.at(-1)!.opcode, 0x8);
  });
});
