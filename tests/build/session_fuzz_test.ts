/**
 * Seeded fuzz tests of what a BuildKit session reads from the engine
 * besides progress records: gRPC message framing of unary calls
 * (`sessionHandler`) and streaming calls (`startSession`), fsutil packets
 * (`sendDirectory`) and SSH agent messages (`relayAgent`). Valid input must
 * be taken exactly; damaged input must fail with the documented error, in
 * time linear in the input.
 * `BERTH_FUZZ_SEED` and `BERTH_FUZZ_CASES` (see `tests/_fuzz.ts`) replay a
 * failure or run longer.
 *
 * @module
 */

import assert from "node:assert/strict";
import { sendDirectory, SyncError } from "../../src/build/filesync.ts";
import { AgentRelayError, relayAgent } from "../../src/build/_ssh_agent.ts";
import { Writer } from "../../src/build/_protobuf.ts";
import { grpcFrame } from "../../src/build/_grpc.ts";
import { type BuildSessionSources, sessionHandler, startSession } from "../../src/build/session.ts";
import type { Connection } from "../../src/http/connection.ts";
import { withDeadline } from "../_fake_engine.ts";
import {
  fuzzCases,
  fuzzSource,
  hexCase,
  mutate,
  type Random,
  randomSplit,
  shuffle,
} from "../_fuzz.ts";
import {
  concat,
  dataFrame,
  END_HEADERS,
  END_STREAM,
  FakeClient,
  headersFrame,
  PREFACE,
  requestFields,
  settingsFrame,
} from "../http2/_client.ts";
import { guard, Malformed, randomText, referenceFields, varint } from "./_protobuf_reference.ts";

/** What a promise settled with. */
type Outcome<T> = { value: T } | { error: unknown };

/**
 * Waits for `promise` and reports how it settled.
 *
 * @param promise The call.
 * @returns Its value or its rejection.
 */
async function settle<T>(promise: Promise<T>): Promise<Outcome<T>> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

// ---------------------------------------------------------------------------
// gRPC framing: unary calls (sessionHandler) and streaming calls (startSession)

const SECRET = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
const HEALTH = "/grpc.health.v1.Health/Check";
const OUTPUT = "/moby.filesync.v1.FileSend/DiffCopy";
/** Largest message of a streaming call the session takes. */
const MAX_STREAM_MESSAGE = 4 * 1024 * 1024;

/**
 * What the session must answer to a unary call's body, worked out here:
 * the gRPC status, and for a secret request, the id it asks for.
 *
 * @param body The call's body.
 * @param secret Whether the call reads its message (a secret request) or
 *   only its framing (a health check).
 */
function expectedUnary(body: Uint8Array, secret: boolean): { status: string; id?: string } {
  if (body.length < 5) return { status: "3" };
  if (body[0] !== 0) return { status: "12" };
  if (new DataView(body.buffer, body.byteOffset, 5).getUint32(1) !== body.length - 5) {
    return { status: "3" };
  }
  if (!secret) return { status: "0" };
  let id = "";
  try {
    for (const [field, wire, value] of referenceFields(body.subarray(5))) {
      if (field !== 1) continue;
      if (wire !== 2) return { status: "3" };
      id = new TextDecoder().decode(value as Uint8Array);
    }
  } catch (error) {
    if (error instanceof Malformed) return { status: "3" };
    throw error;
  }
  return { status: "0", id };
}

Deno.test("sessionHandler answers every unary call body with the right gRPC status", async () => {
  const { seed, random } = fuzzSource(0x69c);
  const cases = fuzzCases(1000);
  const statuses = new Map<string, number>();
  for (let index = 0; index < cases; index++) {
    const id = randomText(random, 12) || "id";
    const secret = random.bytes(random.int(100));
    const secrets: Record<string, Uint8Array> = { [id]: secret };
    const handler = sessionHandler({ secrets });
    const valid = grpcFrame(new Writer().bytes(1, id).finish());
    const shape = random.int(6);
    const body = shape === 0 ? valid : shape === 1
      ? Uint8Array.of(0, 0xff, 0xff, 0xff, 0xff, 0x0a) // A declared length of 4 GiB.
      : mutate(random, valid, [0x00, 0x01, 0x0a, 0x80, 0xff]);
    const what = hexCase(seed, index, body);
    const path = random.int(8) === 0 ? HEALTH : SECRET;
    const response = await handler({
      streamId: 1,
      method: "POST",
      path,
      headers: requestFields(path),
      body,
    });
    const trailers = new Map(response.trailers);
    guard(body.subarray(5), what);
    const expected = expectedUnary(body, path === SECRET);
    const status = expected.status === "0" && path === SECRET && expected.id !== id
      ? "5"
      : expected.status;
    assert.equal(trailers.get("grpc-status"), status, what);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status !== "0") continue;
    const answer = path === HEALTH
      ? Uint8Array.of(0x08, 0x01)
      : new Writer().bytes(1, secret).finish();
    assert.deepEqual(response.body, grpcFrame(answer), what);
  }
  assert.deepEqual([...statuses.keys()].sort(), ["0", "12", "3", "5"], `${[...statuses]}`);
});

/**
 * What the session must make of a streaming call's body, worked out here:
 * the BytesMessage data it hands on (empty ones left out) and the gRPC
 * status it ends with.
 */
function expectedStream(body: Uint8Array): { pieces: Uint8Array[]; status: string } {
  const pieces: Uint8Array[] = [];
  let at = 0;
  while (body.length - at >= 5) {
    if (body[at] !== 0) return { pieces, status: "12" };
    const length = new DataView(body.buffer, body.byteOffset + at, 5).getUint32(1);
    if (length > MAX_STREAM_MESSAGE) return { pieces, status: "3" };
    if (body.length - at - 5 < length) break;
    let data: Uint8Array = new Uint8Array(0);
    try {
      for (const [field, wire, value] of referenceFields(body.subarray(at + 5, at + 5 + length))) {
        if (field !== 1) continue;
        if (wire !== 2) return { pieces, status: "3" };
        data = value as Uint8Array;
      }
    } catch (error) {
      if (error instanceof Malformed) return { pieces, status: "3" };
      throw error;
    }
    if (data.length > 0) pieces.push(data);
    at += 5 + length;
  }
  return { pieces, status: at === body.length ? "0" : "3" };
}

/**
 * Sends a streaming call's body to a fresh session, cut into DATA frames at
 * random offsets, and waits for the answer.
 *
 * @returns The gRPC status and what reached the output source.
 */
async function streamCall(
  random: Random,
  body: Uint8Array,
  what: string,
): Promise<{ status: string | undefined; received: Uint8Array[] }> {
  const received: Uint8Array[] = [];
  const sources: BuildSessionSources = {
    output: async (archive) => {
      for await (const piece of archive) received.push(piece.slice());
    },
  };
  const client = new FakeClient();
  const session = startSession("fuzz", client as unknown as Connection, sources);
  try {
    client.send(PREFACE, settingsFrame());
    client.send(
      headersFrame(
        1,
        requestFields(OUTPUT, "POST", [["content-type", "application/grpc"]]),
        END_HEADERS,
      ),
    );
    const pieces = randomSplit(random, body, 12).flatMap((piece) => {
      const out: Uint8Array[] = [];
      for (let at = 0; at < piece.length; at += 16_384) out.push(piece.subarray(at, at + 16_384));
      return out;
    });
    pieces.forEach((piece, i) =>
      client.send(dataFrame(1, piece, i === pieces.length - 1 ? END_STREAM : 0))
    );
    if (pieces.length === 0) client.send(dataFrame(1, new Uint8Array(0), END_STREAM));
    const view = await withDeadline(client.response(1), 2000, what);
    const trailers = new Map(view.trailers ?? view.headers);
    return { status: trailers.get("grpc-status"), received };
  } finally {
    session.close();
  }
}

Deno.test("a session's streaming call takes random gRPC framing exactly and refuses damaged framing", async () => {
  const { seed, random } = fuzzSource(0x57e);
  const cases = fuzzCases(200);
  const statuses = new Map<string, number>();
  for (let index = 0; index < cases; index++) {
    const messages: Uint8Array[] = [];
    for (let n = random.int(6); n > 0; n--) {
      // Empty data is an empty message: proto3 leaves the field out.
      const data = random.bytes(random.pick([0, 1, 100, 5000]));
      messages.push(grpcFrame(new Writer().bytes(1, data).finish()));
    }
    let body = concat(...messages);
    switch (random.int(8)) {
      case 0:
      case 1:
      case 2:
        break; // Valid.
      case 3: // A declared length past the limit, or of 4 GiB.
        body = concat(body, Uint8Array.of(0, 0xff, 0xff, 0xff, random.pick([0xff, 0x00])));
        break;
      case 4: // A negative length inside a BytesMessage (the Reader looped on it).
        body = concat(
          body,
          grpcFrame(Uint8Array.from([0x0a, ...varint(-(5n + BigInt(random.int(10))))])),
        );
        break;
      default:
        body = mutate(random, body, [0x00, 0x01, 0x0a, 0x80, 0xff]);
    }
    const what = hexCase(seed, index, body);
    for (let at = 0; at + 5 <= body.length;) {
      const length = new DataView(body.buffer, body.byteOffset + at, 5).getUint32(1);
      guard(body.subarray(at + 5, at + 5 + length), what);
      at += 5 + length;
    }
    const expected = expectedStream(body);
    const { status, received } = await streamCall(random, body, what);
    assert.equal(status, expected.status, what);
    assert.deepEqual(received, expected.pieces, what);
    statuses.set(expected.status, (statuses.get(expected.status) ?? 0) + 1);
  }
  assert.deepEqual([...statuses.keys()].sort(), ["0", "12", "3"], `${[...statuses]}`);
});

// ---------------------------------------------------------------------------
// fsutil packets (sendDirectory)

const STAT = 0;
const REQ = 1;
const DATA = 2;
const FIN = 3;
const ERR = 4;

/** A packet the receiver sends. */
const packet = (type: number, id = 0, text = ""): Uint8Array =>
  new Writer().varint(1, type).varint(3, id).bytes(4, text).finish();

/** The type, id and data of a framed packet berth wrote. */
function readPacket(framed: Uint8Array): { type: number; id: number; data: Uint8Array } {
  const out: { type: number; id: number; data: Uint8Array } = {
    type: 0,
    id: 0,
    data: new Uint8Array(0),
  };
  for (const [field, , value] of referenceFields(framed.subarray(5))) {
    if (field === 1) out.type = value as number;
    else if (field === 3) out.id = value as number;
    else if (field === 4) out.data = value as Uint8Array;
  }
  return out;
}

/**
 * Runs one transfer of `root`; the engine's packets come once every STAT
 * was written (so the walk is over, however the transfer ends).
 *
 * @param root The directory.
 * @param packets The engine's packets.
 * @returns How `sendDirectory` settled, and every packet it wrote.
 */
async function transfer(root: string, packets: Uint8Array[]) {
  const written: ReturnType<typeof readPacket>[] = [];
  const walked = Promise.withResolvers<void>();
  const messages = (async function* () {
    await walked.promise;
    yield* packets;
  })();
  const outcome = await settle(sendDirectory({ root }, {}, messages, (framed) => {
    written.push(readPacket(framed));
    if (framed.length === 5) walked.resolve(); // The empty STAT.
    return Promise.resolve();
  }, () => walked.resolve()));
  return { outcome, written };
}

Deno.test("sendDirectory answers random REQ packets exactly and fails damaged packets with SyncError", async () => {
  const { seed, random } = fuzzSource(0xf5);
  const root = await Deno.makeTempDir({ prefix: "berth-fuzz-" });
  try {
    const files: Record<string, Uint8Array> = {
      "a": random.bytes(100),
      "b/c": random.bytes(70_000), // Three DATA packets.
      "d": new Uint8Array(0),
    };
    for (const [path, data] of Object.entries(files)) {
      await Deno.mkdir(`${root}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeFile(`${root}/${path}`, data);
    }
    // STAT order: a, b, b/c, d; b is a directory (not requestable).
    const ids: Record<number, Uint8Array> = { 0: files["a"]!, 2: files["b/c"]!, 3: files["d"]! };
    const cases = fuzzCases(150);
    let failed = 0;
    for (let index = 0; index < cases; index++) {
      const asked = shuffle(random, Object.keys(ids).map(Number).filter(() => random.int(2) === 0));
      const valid = [...asked.map((id) => packet(REQ, id)), packet(FIN)];
      const damage = random.int(3) !== 0;
      const at = random.int(valid.length);
      const sent = damage
        ? valid.map((p, i) =>
          i === at ? mutate(random, p, [0x00, 0x01, 0x03, 0x08, 0x18, 0x22, 0xff]) : p
        )
        : valid;
      if (damage && random.int(4) === 0) sent[at] = Uint8Array.from([0x22, ...varint(-3n)]);
      const what = hexCase(seed, index, concat(...sent));
      for (const p of sent) guard(p, what);
      const { outcome, written } = await withDeadline(transfer(root, sent), 5000, what);
      if (!damage) {
        assert.ok("value" in outcome, `${"error" in outcome ? outcome.error : ""}: ${what}`);
        assert.equal(outcome.value.files, asked.length, what);
        for (const id of asked) {
          const data = written.filter((p) => p.type === DATA && p.id === id);
          assert.deepEqual(concat(...data.map((p) => p.data)), ids[id], what);
          assert.equal(data.at(-1)?.data.length, 0, what);
        }
        assert.equal(written.at(-1)?.type, FIN, what);
        continue;
      }
      if ("error" in outcome) {
        assert.ok(outcome.error instanceof SyncError, `rejected with ${outcome.error}: ${what}`);
        let malformed = false;
        try {
          referenceFields(sent[at]!);
        } catch {
          malformed = true;
        }
        if (malformed) assert.match(outcome.error.message, /^malformed packet/, what);
        failed++;
      } else {
        assert.equal(written.at(-1)?.type, FIN, what);
      }
    }
    assert.ok(failed > 0, "no damaged packet failed");
    // ERR carries the engine's message; STAT from the receiver is refused.
    const err = await transfer(root, [packet(ERR, 0, "disk full")]);
    assert.ok("error" in err.outcome && err.outcome.error instanceof SyncError);
    assert.match((err.outcome.error as Error).message, /disk full/);
    const stat = await transfer(root, [packet(STAT)]);
    assert.ok("error" in stat.outcome && stat.outcome.error instanceof SyncError);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// ---------------------------------------------------------------------------
// SSH agent messages (relayAgent)

Deno.test("relayAgent takes a message sent in many small pieces in linear time", async () => {
  // The largest message, 256 KiB, in 2-byte pieces: joining the buffer on
  // every piece copied 16 GiB (about 2 s here; 0.1 s without the copies).
  const size = 256 * 1024;
  const pieces = async function* () {
    const head = new Uint8Array(5);
    new DataView(head.buffer).setUint32(0, size);
    head[4] = 11; // REQUEST_IDENTITIES: relayed once whole.
    yield head;
    for (let at = 1; at < size; at += 2) yield new Uint8Array(Math.min(2, size - at));
  };
  const started = performance.now();
  const outcome = await settle(
    relayAgent(pieces(), "/nonexistent/agent.sock", () => Promise.resolve()),
  );
  const took = performance.now() - started;
  // Whole, it was relayed: to an agent that is not there.
  assert.ok("error" in outcome && outcome.error instanceof AgentRelayError);
  assert.match((outcome.error as Error).message, /Cannot reach the SSH agent/);
  assert.ok(took < 1000, `took ${took} ms`);
});

Deno.test("relayAgent refuses random agent message framing with AgentRelayError only", async () => {
  const { seed, random } = fuzzSource(0xa9e);
  for (let index = 0; index < fuzzCases(300); index++) {
    // Types the relay refuses (answered FAILURE without the agent), then damage.
    const messages: Uint8Array[] = [];
    for (let n = 1 + random.int(4); n > 0; n--) {
      const contents = random.bytes(random.int(50));
      const message = new Uint8Array(5 + contents.length);
      new DataView(message.buffer).setUint32(0, 1 + contents.length);
      message[4] = random.pick([1, 17, 18, 19, 25, 27]);
      message.set(contents, 5);
      messages.push(message);
    }
    const valid = concat(...messages);
    const bytes = random.int(2) ? mutate(random, valid, [0x00, 0x01, 0x0b, 0x0d, 0xff]) : valid;
    const what = hexCase(seed, index, bytes);
    const answers: Uint8Array[] = [];
    const pieces = async function* () {
      yield* randomSplit(random, bytes, 10);
    };
    const outcome = await withDeadline(
      settle(relayAgent(pieces(), "/nonexistent/agent.sock", (b) => {
        answers.push(b);
        return Promise.resolve();
      })),
      2000,
      what,
    );
    if ("error" in outcome) {
      assert.ok(outcome.error instanceof AgentRelayError, `${outcome.error}: ${what}`);
    } else {
      assert.ok(answers.every((a) => a.toHex() === "0000000105"), what);
    }
    if (bytes === valid) assert.ok("value" in outcome && answers.length > 0, what);
  }
});
