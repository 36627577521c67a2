/**
 * Memory of `webSocketSession` while a message arrives: it follows the
 * bytes received, not the length a frame declares, and a payload is copied
 * no more than needed. Held memory is read with `webSocketHeldBytes` while
 * the session waits for its next read, so every check is deterministic.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerProtocolError } from "../../src/errors.ts";
import { concat } from "../_fake_engine.ts";
import {
  type ByteDuplex,
  webSocketHeldBytes,
  type WebSocketMessage,
  webSocketSession,
} from "../../src/stream/websocket.ts";

const MiB = 1024 * 1024;
/** The bound `webSocketHeldBytes` documents: twice the bytes received plus this. */
const SLACK = 64 * 1024;

/** A duplex fed one read at a time; it tells when the session asks for the next read. */
class StepDuplex implements ByteDuplex {
  #asked = Promise.withResolvers<void>();
  #answer: ((bytes: Uint8Array | null) => void) | null = null;
  closed = false;
  readonly written: Uint8Array[] = [];

  read(): Promise<Uint8Array | null> {
    if (this.closed) return Promise.resolve(null);
    const { promise, resolve } = Promise.withResolvers<Uint8Array | null>();
    this.#answer = resolve;
    this.#asked.resolve();
    return promise;
  }

  write(bytes: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(new Error("write after close"));
    this.written.push(bytes.slice());
    return Promise.resolve();
  }

  close(): void {
    this.closed = true;
    this.#answer?.(null);
    this.#answer = null;
  }

  /** Resolves once the session waits for a read: it has taken in all bytes fed before. */
  async waiting(): Promise<void> {
    await this.#asked.promise;
  }

  /** Waits for the session's next read and answers it (`null`: end of stream). */
  async feed(bytes: Uint8Array | null): Promise<void> {
    await this.#asked.promise;
    this.#asked = Promise.withResolvers<void>();
    const answer = this.#answer!;
    this.#answer = null;
    answer(bytes);
  }
}

/** A server frame header (FIN set unless told) declaring `length` bytes in the 64-bit form. */
function header64(opcode: number, length: number, fin = true): Uint8Array {
  const out = new Uint8Array(10);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = 127;
  new DataView(out.buffer).setBigUint64(2, BigInt(length));
  return out;
}

/** A whole, unmasked server frame with the shortest length form. */
function frame(b0: number, payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const extra = length < 126 ? 0 : length < 65_536 ? 2 : 8;
  const out = new Uint8Array(2 + extra + length);
  out[0] = b0;
  out[1] = extra === 0 ? length : extra === 2 ? 126 : 127;
  if (extra === 2) new DataView(out.buffer).setUint16(2, length);
  if (extra === 8) new DataView(out.buffer).setBigUint64(2, BigInt(length));
  out.set(payload, 2 + extra);
  return out;
}

/** Bytes 0, 1, …, 255, 0, … shifted by `seed`, so a misplaced byte shows. */
function pattern(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** How a read hands its bytes over. */
type Hosting = "views of one buffer" | "copies" | "views into 80 KiB buffers";

/** `bytes` as a read returns it: itself, a copy, or a view into a larger fresh buffer. */
function host(bytes: Uint8Array, hosting: Hosting): Uint8Array {
  if (hosting === "views of one buffer") return bytes;
  if (hosting === "copies") return bytes.slice();
  const out = new Uint8Array(80 * 1024).subarray(100, 100 + bytes.length);
  out.set(bytes);
  return out;
}

const DECLARED = 16 * MiB;
const STEP = 10;
const STEPS = 1000;

Deno.test("webSocketSession holds memory in proportion to the bytes received of a frame declaring 16 MiB", async (t) => {
  const cases: {
    name: string;
    /** Frames before the large one, fed in the first read with its header. */
    before: Uint8Array[];
    opcode: number;
    /** Bytes of the message before the large frame. */
    prefix: Uint8Array;
    /** Each 10-byte read: a fresh array, or a view into a fresh 16 KiB buffer (a worker's reads). */
    hosting: "copies" | "views into 16 KiB buffers";
  }[] = [
    {
      name: "one frame, fresh 10-byte reads",
      before: [],
      opcode: 0x2,
      prefix: new Uint8Array(0),
      hosting: "copies",
    },
    {
      name: "one frame, 10-byte views into 16 KiB read buffers",
      before: [],
      opcode: 0x2,
      prefix: new Uint8Array(0),
      hosting: "views into 16 KiB buffers",
    },
    {
      name: "the last fragment, after a first fragment and a ping",
      before: [frame(0x01, pattern(300, 7)), frame(0x89, pattern(5))],
      opcode: 0x0,
      prefix: pattern(300, 7),
      hosting: "views into 16 KiB buffers",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const duplex = new StepDuplex();
      const session = webSocketSession(duplex);
      const reader = session.readable.getReader();
      const next = reader.read();
      const length = DECLARED - c.prefix.length;
      const payload = pattern(length, 3);
      const first = concat([...c.before, header64(c.opcode, length), payload.subarray(0, STEP)]);
      await duplex.feed(first);
      let received = STEP;
      await duplex.waiting();
      for (let step = 1; step < STEPS; step++) {
        const held = webSocketHeldBytes(session);
        const bytes = c.prefix.length + received;
        assert.ok(
          held <= 2 * bytes + SLACK + first.buffer.byteLength,
          `${held} bytes held after ${bytes} received`,
        );
        const piece = payload.subarray(received, received + STEP);
        if (c.hosting === "copies") await duplex.feed(piece.slice());
        else {
          const buffer = new Uint8Array(16 * 1024);
          buffer.set(piece);
          await duplex.feed(buffer.subarray(0, STEP));
        }
        received += STEP;
        await duplex.waiting();
      }
      const held = webSocketHeldBytes(session);
      assert.ok(held < 128 * 1024, `${held} bytes held after ${received} of ${length} received`);
      // The rest in large reads: the message comes out whole, in a buffer of its exact size.
      for (let offset = received; offset < length; offset += MiB) {
        await duplex.feed(payload.slice(offset, offset + MiB));
      }
      const { value } = await next;
      assert.ok(value);
      assert.equal(value.type, c.opcode === 0x2 ? "binary" : "text");
      assert.equal(value.data.length, DECLARED);
      assert.equal(value.data.buffer.byteLength, DECLARED, "no slack past the declared end");
      assert.ok(sameBytes(value.data.subarray(0, c.prefix.length), c.prefix), "prefix bytes");
      assert.ok(sameBytes(value.data.subarray(c.prefix.length), payload), "payload bytes");
      assert.equal(webSocketHeldBytes(session), 0, "nothing held between messages");
      reader.releaseLock();
      await session.close();
      assert.ok(duplex.closed);
    });
  }
});

Deno.test("webSocketSession fails a frame declaring 16 MiB that ends early, having held little", async () => {
  const duplex = new StepDuplex();
  const session = webSocketSession(duplex);
  const reader = session.readable.getReader();
  const next = reader.read();
  await duplex.feed(concat([header64(0x2, DECLARED), pattern(STEP)]));
  for (let step = 1; step < 100; step++) await duplex.feed(pattern(STEP, step));
  await duplex.waiting();
  assert.ok(webSocketHeldBytes(session) <= 2 * 100 * STEP + SLACK);
  await duplex.feed(null);
  await assert.rejects(next, (error: unknown) => {
    assert.ok(error instanceof DockerProtocolError);
    assert.equal(error.code, "PREMATURE_CLOSE");
    assert.match(error.message, /payload \(1000 of 16777216 bytes\)/);
    return true;
  });
  assert.equal(webSocketHeldBytes(session), 0, "the partial message is let go");
  assert.ok(duplex.closed);
  assert.throws(
    () => webSocketHeldBytes({ ...session }),
    TypeError,
    "only sessions from webSocketSession",
  );
});

Deno.test("webSocketSession returns a frame as a view of the read buffer when it lies in one buffer", async (t) => {
  const payload = pattern(70_000);
  const wire = concat([frame(0x82, payload), frame(0x88, Uint8Array.of(0x03, 0xe8))]);
  const headerLength = 10;
  const run = async (parts: Uint8Array[]): Promise<WebSocketMessage> => {
    const duplex = new StepDuplex();
    const session = webSocketSession(duplex);
    const reader = session.readable.getReader();
    const next = reader.read();
    for (const part of parts) await duplex.feed(part);
    const { value } = await next;
    assert.ok(value);
    assert.ok(sameBytes(value.data, payload));
    reader.releaseLock();
    await session.close();
    return value;
  };
  await t.step("in one read", async () => {
    const data = (await run([wire])).data;
    assert.equal(data.buffer, wire.buffer);
    assert.equal(data.byteOffset, headerLength);
  });
  await t.step("in 1000-byte reads that follow each other in one buffer", async () => {
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < wire.length; offset += 1000) {
      parts.push(wire.subarray(offset, offset + 1000));
    }
    const data = (await run(parts)).data;
    assert.equal(data.buffer, wire.buffer, "no copy");
    assert.equal(data.byteOffset, headerLength);
  });
  await t.step("in 1000-byte reads of buffers of their own: joined once", async () => {
    const parts: Uint8Array[] = [];
    for (let offset = 0; offset < wire.length; offset += 1000) {
      parts.push(wire.slice(offset, offset + 1000));
    }
    const data = (await run(parts)).data;
    assert.equal(data.buffer.byteLength, payload.length, "one buffer of the message's size");
  });
});

Deno.test("webSocketSession reads a fragmented message byte for byte wherever reads split it, whatever the read buffers", async (t) => {
  const messages: { type: "text" | "binary"; data: Uint8Array }[] = [
    { type: "text", data: concat([pattern(300, 1), pattern(200, 2), pattern(400, 3)]) },
    { type: "binary", data: pattern(600, 4) },
  ];
  const wire = concat([
    frame(0x01, pattern(300, 1)),
    frame(0x89, pattern(4, 9)),
    frame(0x00, pattern(200, 2)),
    frame(0x8a, new Uint8Array(0)),
    frame(0x80, pattern(400, 3)),
    frame(0x82, pattern(600, 4)),
    frame(0x88, Uint8Array.of(0x03, 0xe8)),
  ]);
  const hostings: Hosting[] = ["views of one buffer", "copies", "views into 80 KiB buffers"];
  for (const hosting of hostings) {
    await t.step(hosting, async () => {
      for (let offset = 0; offset < wire.length; offset++) {
        const parts = [
          wire.subarray(0, offset),
          wire.subarray(offset, offset + 1),
          wire.subarray(offset + 1),
        ].filter((part) => part.length > 0).map((part) => host(part, hosting));
        let index = 0;
        const written: Uint8Array[] = [];
        const session = webSocketSession({
          read: () => Promise.resolve(parts[index++] ?? null),
          write: (bytes) => Promise.resolve(void written.push(bytes.slice())),
          close: () => {},
        });
        const got: WebSocketMessage[] = [];
        for await (const message of session.readable) got.push(message);
        assert.equal(got.length, messages.length, `split at ${offset}`);
        got.forEach((message, i) => {
          assert.equal(message.type, messages[i]!.type);
          assert.ok(sameBytes(message.data, messages[i]!.data), `message ${i}, split at ${offset}`);
        });
        assert.deepEqual(written.map((bytes) => bytes[0]), [0x8a, 0x88], "a pong, then the close");
      }
    });
  }
});
