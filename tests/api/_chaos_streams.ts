/**
 * Chaos scenarios for the streams (container logs multiplexed and TTY,
 * engine events, image pull progress), on this thread or in stream
 * workers. The engine side splits the answer anywhere, with delays, and
 * then ends it properly, stalls, closes mid-frame or mid-chunk, resets,
 * sends a bad chunk size or an error line, or never answers; the consumer
 * reads everything, reads slowly, breaks out of `for await`, cancels,
 * aborts, or closes the client. See {@linkcode streamScenario} for the
 * invariants.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Docker } from "../../src/docker.ts";
import { DockerConnectionError, DockerError, DockerStreamError } from "../../src/errors.ts";
import type { Frame } from "../../src/stream/demux.ts";
import { cutUp, describeError, type Random, tiered } from "../_fuzz.ts";
import {
  concat,
  type FakeConnection,
  frame,
  sleep,
  startFakeEngine,
  withDeadline,
} from "../_fake_engine.ts";
import {
  assertRunsPrefix,
  assertTypedFailure,
  assertValuesPrefix,
  CLOSE_MS,
  closeAll,
  drawDelays,
  HeadReader,
  MULTIPLEXED,
  RAW,
  type Run,
  sideAnswer,
  type Trace,
  writePieces,
} from "./_chaos.ts";

const encoder = new TextEncoder();

type Kind = "logs" | "tty" | "events" | "pull";
type Framing = "chunked" | "length" | "close";
/** How the engine ends the answer. */
type Ending = "end" | "stall" | "cut" | "reset" | "badchunk" | "silent" | "errorLine";
/** How the consumer reads. */
type Stop = "all" | "slow" | "break" | "cancel" | "abort" | "close" | "await";

/** What a stream's body carries, and where a cut of it still decodes cleanly. */
interface Content {
  body: Uint8Array;
  runs?: Run[];
  values?: unknown[];
  /** Body offsets at which a close-delimited body ends cleanly, with the output up to there. */
  cleanAt(offset: number): { runs?: Run[]; values?: unknown[] } | undefined;
}

/** Everything a stream scenario does, drawn before it starts. */
interface StreamPlan {
  kind: Kind;
  framing: Framing;
  ending: Ending;
  stop: Stop;
  /** Items read before a `break`, `cancel`, `abort` or `close`… */
  after: number;
  /** …or milliseconds, whichever comes first (not for `break`). */
  ms: number;
  /** The `tty` option of a logs call (unset: looked up). */
  tty: boolean | undefined;
  negotiate: boolean;
  reuseBuffer: boolean;
  content: Content;
  /** What the engine sends (head and body, up to a cut), in pieces. */
  pieces: Uint8Array[];
  delays: number[];
  /** Where the sent bytes stop, as an offset into the body (negative: inside the head). */
  bodyCut: number;
  /** The consumer's pauses between reads (`slow`). */
  pauses: number[];
  /** `abort`: the signal is aborted before the call. */
  preAbort: boolean;
}

/** What the consumer saw. */
interface Outcome {
  items: unknown[];
  /** The read or result failure, if any. */
  error: unknown;
  /** The stream ended by itself (`done`, no error). */
  ended: boolean;
  /** The consumer stopped it (break, cancel, abort, close) before it ended. */
  stopped: boolean;
  /** The consumer's stop happened (even if the stream had ended before). */
  fired: boolean;
  /** What `await` of a pull gave (`result` or `error`), when it was awaited. */
  result?: { value?: unknown; error?: unknown };
}

// ---------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------

function drawFrames(random: Random, tty: boolean): Content {
  const count = random.int(10);
  const pieces: Uint8Array[] = [];
  const runs: Run[] = [];
  const ends = [0];
  for (let i = 0; i < count; i++) {
    const size = tiered(random, [
      [0.5, () => 1 + random.int(16)],
      [0.9, () => 17 + random.int(3000)],
      [1, () => 3001 + random.int(70_000)],
    ]);
    const data = random.bytes(size);
    const stream = tty ? 1 : random.pick([1, 1, 2, 2, 0] as const);
    pieces.push(tty ? data : frame(stream, data));
    runs.push({ stream: ["stdin", "stdout", "stderr"][stream]!, data });
    ends.push(ends.at(-1)! + pieces.at(-1)!.length);
  }
  const body = concat(pieces);
  return {
    body,
    runs,
    cleanAt: (offset) => {
      if (tty) return { runs: [{ stream: "stdout", data: body.subarray(0, offset) }] };
      const index = ends.indexOf(offset);
      return index === -1 ? undefined : { runs: runs.slice(0, index) };
    },
  };
}

function drawValues(random: Random, kind: "events" | "pull", errorLine: boolean): Content {
  const count = random.int(9);
  const values: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const pad = "x".repeat(
      tiered(random, [[0.8, () => random.int(40)], [1, () => random.int(40_000)]]),
    );
    values.push(
      kind === "events"
        ? {
          Type: "container",
          Action: "start",
          Actor: { ID: `c${i}`, Attributes: { pad } },
          time: i,
        }
        : { status: "Downloading", id: `layer${i}`, progressDetail: { current: i, total: 9 }, pad },
    );
  }
  if (kind === "pull" && random.next() < 0.7) {
    values.push({ status: "Digest: sha256:" + "ab".repeat(32) });
    values.push({ status: "Status: Downloaded newer image for busybox:latest" });
  }
  const lines = values.map((value) => JSON.stringify(value));
  if (errorLine) lines.push(JSON.stringify({ errorDetail: { message: "boom" }, error: "boom" }));
  const text = lines.join("\n") + (random.next() < 0.5 ? "\n" : "");
  const body = encoder.encode(text);
  // Offsets where a line ends (before its LF) or the next starts.
  const lineEnds: number[] = [];
  let at = 0;
  for (const line of lines) {
    at += encoder.encode(line).length;
    lineEnds.push(at);
    at += 1;
  }
  return {
    body,
    values,
    cleanAt: (offset) => {
      const complete = lineEnds.filter((end) => end <= offset).length;
      const clean = offset === 0 || lineEnds.includes(offset) || lineEnds.includes(offset - 1);
      return clean && (!errorLine || complete < lines.length)
        ? { values: values.slice(0, complete) }
        : undefined;
    },
  };
}

/** The body as chunks of random sizes, each a chunk on the wire, and the last chunk. */
function chunkedWire(random: Random, body: Uint8Array, bad: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  const pieces = cutUp(random, body);
  const badAt = bad ? random.int(pieces.length + 1) : -1;
  for (let i = 0; i <= pieces.length; i++) {
    if (i === badAt) {
      parts.push(encoder.encode("zz\r\nabc\r\n"));
      break;
    }
    const piece = pieces[i];
    if (piece === undefined) {
      parts.push(encoder.encode(`0\r\n\r\n`));
      break;
    }
    parts.push(encoder.encode(`${piece.length.toString(16)}\r\n`), piece, encoder.encode("\r\n"));
  }
  return concat(parts);
}

function planStream(random: Random): StreamPlan {
  const kind = random.pick<Kind>(["logs", "logs", "tty", "events", "pull"]);
  const framing = random.pick<Framing>(["chunked", "chunked", "length", "close"]);
  const json = kind === "events" || kind === "pull";
  const endings: Ending[] = ["end", "end", "end", "stall", "cut", "cut", "reset", "silent"];
  if (framing === "chunked") endings.push("badchunk");
  if (json) endings.push("errorLine");
  const ending = random.pick(endings);
  const endless = ending === "stall" || ending === "silent";
  const stops: Stop[] = endless
    ? ["cancel", "abort", "close"]
    : ["all", "all", "slow", "break", "cancel", "abort", "close"];
  if (kind === "pull" && !endless) stops.push("await", "await");
  const stop = random.pick(stops);
  const tty = kind === "tty";
  const content = json ? drawValues(random, kind, ending === "errorLine") : drawFrames(random, tty);
  const contentType = kind === "logs"
    ? random.pick([MULTIPLEXED, MULTIPLEXED, RAW])
    : kind === "tty"
    ? random.pick([RAW, undefined])
    : "application/json";
  let head = "HTTP/1.1 200 OK\r\n";
  if (contentType) head += `Content-Type: ${contentType}\r\n`;
  head += framing === "chunked"
    ? "Transfer-Encoding: chunked\r\n"
    : framing === "length"
    ? `Content-Length: ${content.body.length}\r\n`
    : "Connection: close\r\n";
  const headBytes = encoder.encode(head + "\r\n");
  const wire = framing === "chunked"
    ? chunkedWire(random, content.body, ending === "badchunk")
    : content.body;
  let sent = concat([headBytes, wire]);
  let bodyCut = wire.length;
  if (ending === "silent") {
    sent = new Uint8Array(0);
    bodyCut = -headBytes.length;
  } else if (ending === "stall" || ending === "cut" || ending === "reset") {
    // (An empty body can only be cut inside the head.)
    const cut = random.next() < 0.15 || wire.length === 0
      ? random.int(headBytes.length)
      : headBytes.length + random.int(wire.length);
    sent = sent.subarray(0, cut);
    bodyCut = cut - headBytes.length;
  }
  const pieces = cutUp(random, sent);
  return {
    kind,
    framing,
    ending,
    stop,
    after: random.int(6),
    ms: random.int(12),
    tty: kind === "logs" || kind === "tty" ? random.pick([tty, tty, undefined]) : undefined,
    negotiate: random.next() < 0.25,
    reuseBuffer: random.next() < 0.3,
    content,
    pieces,
    delays: drawDelays(random, pieces.length),
    bodyCut,
    pauses: Array.from({ length: 16 }, () => random.int(3)),
    preAbort: stop === "abort" && random.next() < 0.15,
  };
}

function describePlan(plan: StreamPlan, worker: boolean): string {
  const content = plan.content;
  const size = content.runs ? `${content.runs.length} frames` : `${content.values!.length} values`;
  return `${plan.kind} (${size}, ${content.body.length} bytes) ${plan.framing}, engine ${plan.ending} ` +
    `at body offset ${plan.bodyCut} in ${plan.pieces.length} pieces; consumer ${plan.stop} after ` +
    `${plan.after} items or ${plan.ms} ms${
      plan.preAbort ? " (aborted before the call)" : ""
    }; tty ${plan.tty}, negotiate ${plan.negotiate}, ` +
    `reuseBuffer ${plan.reuseBuffer}, worker ${worker}`;
}

// ---------------------------------------------------------------------------
// The engine
// ---------------------------------------------------------------------------

const STREAM_PATHS = ["/containers/web/logs", "/events", "/images/create"];

/** What the engine saw of the stream requests. */
interface EngineLog {
  /** One per stream request (a stale-connection retry sends another). */
  streams: {
    closed: Promise<void>;
    /** Settles once the connection closes or carries another request. */
    settled: Promise<void>;
  }[];
  /** A request on a connection whose stream answer was left incomplete. */
  reused: string[];
}

function streamEngine(plan: StreamPlan, trace: Trace, log: EngineLog) {
  return async (connection: FakeConnection, index: number) => {
    trace.log(`engine: connection ${index} accepted`);
    const reader = new HeadReader(connection.conn);
    const reset = plan.ending === "reset";
    let incomplete = false;
    let onClosed: (() => void) | undefined;
    let onNext: (() => void) | undefined;
    try {
      while (true) {
        const request = await reader.read(reset, (path) => STREAM_PATHS.includes(path));
        if (request === null) break;
        if (incomplete) log.reused.push(`${request.method} ${request.target}`);
        onNext?.();
        const side = sideAnswer(request.path, plan.kind === "tty");
        if (side !== undefined) {
          trace.log(`engine: connection ${index} got ${request.method} ${request.path}`);
          await connection.write(side);
          continue;
        }
        assert.ok(STREAM_PATHS.includes(request.path), `unexpected request ${request.target}`);
        trace.log(`engine: connection ${index} got ${request.method} ${request.path}`);
        const closed = Promise.withResolvers<void>();
        const next = Promise.withResolvers<void>();
        onClosed = closed.resolve;
        onNext = next.resolve;
        log.streams.push({
          closed: closed.promise,
          settled: Promise.race([closed.promise, next.promise]),
        });
        await writePieces((piece) => connection.write(piece), plan.pieces, plan.delays);
        trace.log(`engine: sent ${plan.pieces.reduce((n, p) => n + p.length, 0)} bytes`);
        if (plan.ending === "end" || plan.ending === "errorLine") {
          if (plan.framing === "close") break;
          continue;
        }
        if (plan.ending === "stall" || plan.ending === "silent") {
          incomplete = true;
          continue;
        }
        break; // cut, reset, badchunk: close (with a byte unread for reset)
      }
    } catch (error) {
      trace.log(`engine: connection ${index} failed: ${describeError(error)}`);
    } finally {
      connection.close();
      trace.log(`engine: connection ${index} closed`);
      onClosed?.();
      onNext?.();
    }
  };
}

// ---------------------------------------------------------------------------
// The consumer
// ---------------------------------------------------------------------------

function open(docker: Docker, plan: StreamPlan, worker: boolean, signal?: AbortSignal) {
  const common = { worker, ...(signal ? { signal } : {}) };
  switch (plan.kind) {
    case "logs":
    case "tty":
      return docker.containers.logs("web", {
        follow: true,
        reuseBuffer: plan.reuseBuffer,
        ...(plan.tty !== undefined ? { tty: plan.tty } : {}),
        ...common,
      });
    case "events":
      return docker.system.events(common);
    case "pull":
      return docker.images.pull("busybox:latest", common);
  }
}

function copy(item: unknown): unknown {
  const maybe = item as Frame;
  return maybe && maybe.data instanceof Uint8Array
    ? { stream: maybe.stream, data: maybe.data.slice() }
    : item;
}

async function consume(
  docker: Docker,
  plan: StreamPlan,
  worker: boolean,
  trace: Trace,
  abort: AbortController,
): Promise<Outcome> {
  if (plan.preAbort) {
    abort.abort(CHAOS_ABORT);
    trace.log("consumer: aborted before the call");
  }
  const stream = open(docker, plan, worker, plan.stop === "abort" ? abort.signal : undefined);
  const outcome = await read(docker, stream, plan, trace, abort);
  if (plan.kind === "pull" && outcome.result === undefined) {
    try {
      // Promise.resolve adopts the thenable stream: its result.
      const result = Promise.resolve(stream as PromiseLike<unknown>);
      outcome.result = { value: await withDeadline(result, CLOSE_MS, "the pull result") };
    } catch (error) {
      outcome.result = { error };
    }
  }
  return outcome;
}

async function read(
  docker: Docker,
  stream: ReturnType<typeof open>,
  plan: StreamPlan,
  trace: Trace,
  abort: AbortController,
): Promise<Outcome> {
  const outcome: Outcome = {
    items: [],
    error: undefined,
    ended: false,
    stopped: plan.preAbort,
    fired: plan.preAbort,
  };
  const take = (item: unknown) => {
    outcome.items.push(copy(item));
    trace.log(`consumer: item ${outcome.items.length}`);
  };
  if (plan.stop === "await") {
    try {
      outcome.result = { value: await stream };
      outcome.ended = true;
    } catch (error) {
      outcome.result = { error };
      outcome.error = error;
    }
    return outcome;
  }
  if (plan.stop === "all" || plan.stop === "break") {
    try {
      for await (const item of stream as ReadableStream<unknown>) {
        take(item);
        if (plan.stop === "break" && outcome.items.length > plan.after) {
          outcome.stopped = true;
          trace.log("consumer: break");
          break;
        }
      }
      outcome.ended = !outcome.stopped;
    } catch (error) {
      outcome.error = error;
    }
    return outcome;
  }
  const reader = (stream as ReadableStream<unknown>).getReader();
  let fired = plan.preAbort;
  let stopping: Promise<unknown> = Promise.resolve();
  const fire = () => {
    if (fired) return;
    fired = outcome.fired = true;
    trace.log(`consumer: ${plan.stop}`);
    if (plan.stop === "cancel") stopping = reader.cancel().catch((error) => error);
    else if (plan.stop === "abort") abort.abort(CHAOS_ABORT);
    else if (plan.stop === "close") stopping = docker.close();
  };
  const timer = plan.stop === "slow" ? undefined : setTimeout(fire, plan.ms);
  try {
    while (true) {
      if (!fired && plan.stop !== "slow" && outcome.items.length > plan.after) fire();
      if (plan.stop === "slow") await sleep(plan.pauses[outcome.items.length % 16]!);
      const { done, value } = await reader.read();
      if (done) {
        // After a cancel a read is done too: that is not an end of its own.
        outcome.ended = !(fired && plan.stop === "cancel");
        break;
      }
      take(value);
    }
  } catch (error) {
    outcome.error = error;
    trace.log(`consumer: read failed: ${describeError(error)}`);
  } finally {
    clearTimeout(timer);
  }
  outcome.stopped = fired && !outcome.ended;
  const cancelled = await withDeadline(stopping, CLOSE_MS, `${plan.stop}()`);
  // A cancel rejects only for a stream that had failed already.
  if (cancelled !== undefined) assertTypedFailure(cancelled, "cancel()");
  return outcome;
}

/** The abort reason of the scenarios: not a `DockerError`, so it must come back as it is. */
const CHAOS_ABORT = new Error("chaos abort");

// ---------------------------------------------------------------------------
// The scenario
// ---------------------------------------------------------------------------

/**
 * One stream scenario. Invariants:
 * - it ends within the scenario's bound (a hang fails it);
 * - the output read is exactly the output sent, in order, up to the end
 *   or the failure; all of it when the engine ended the body properly and
 *   the consumer read on (no loss, no duplication);
 * - a failure is a `DockerError`, or exactly the abort reason; a body cut
 *   short (other than a close-delimited one cut between items) fails, an
 *   error line fails with `DockerStreamError`, a stalled stream aborted
 *   fails with the reason (also when aborted before the call) and closed
 *   by `docker.close()` with a `DockerConnectionError`; a pull's result
 *   agrees with its stream;
 * - cancel, break and abort close the connection (the engine sees it,
 *   also before any response came), no connection whose answer was
 *   incomplete carries another request, and on this thread a stream's
 *   connection ends up closed or pooled (concurrent pings on the same
 *   client, which must work, take every pooled one);
 * - `docker.close()` leaves no connection open (workers terminated);
 * - (the runner) no unhandled rejection.
 *
 * @param random The scenario's random source.
 * @param trace Its trace.
 * @param worker Whether the stream runs in a stream worker.
 */
export async function streamScenario(random: Random, trace: Trace, worker: boolean): Promise<void> {
  const plan = planStream(random);
  trace.log(describePlan(plan, worker));
  const log: EngineLog = { streams: [], reused: [] };
  await using engine = await startFakeEngine(streamEngine(plan, trace, log));
  const docker = new Docker({
    host: engine.host,
    ...(plan.negotiate ? {} : { apiVersion: "1.41" }),
    ...(worker ? { workers: { size: 1 } } : {}),
  });
  const abort = new AbortController();
  let outcome: Outcome;
  try {
    outcome = await consume(docker, plan, worker, trace, abort);
  } catch (error) {
    await docker.close();
    throw error;
  }
  trace.log(
    `consumer: ${outcome.items.length} items, ended ${outcome.ended}, stopped ${outcome.stopped}, ` +
      `error ${describeError(outcome.error)}`,
  );
  try {
    checkOutcome(plan, outcome);
    const closedByClient = plan.stop === "close" && outcome.fired;
    if (plan.ending === "stall" || plan.ending === "silent") {
      // The consumer gave up on an answer that never ends: its connection must close.
      for (const stream of log.streams) {
        await withDeadline(stream.closed, CLOSE_MS, `the engine seeing the ${plan.stop} close`);
      }
    }
    if (!closedByClient) {
      // Pings at once take every idle connection (a stream's, if pooled).
      const pings = Promise.all([1, 2, 3, 4].map(() => docker.system.ping()));
      assert.deepEqual(await withDeadline(pings, CLOSE_MS, "pings after the stream"), [
        "OK",
        "OK",
        "OK",
        "OK",
      ]);
      if (!worker) {
        // (A worker's connections are in its own pool, which pings do not use.)
        for (const stream of log.streams) {
          await withDeadline(stream.settled, CLOSE_MS, "the stream's connection closing or pooled");
        }
      }
    } else {
      const later = await docker.system.ping().then(() => undefined, (error) => error);
      assert.ok(later instanceof DockerError, `a call after close(): ${describeError(later)}`);
    }
    assert.deepEqual(log.reused, [], "a connection with an incomplete answer was reused");
  } finally {
    await closeAll(docker, engine, trace);
  }
}

function checkOutcome(plan: StreamPlan, outcome: Outcome): void {
  const { content } = plan;
  const aborted = plan.stop === "abort" && outcome.stopped;
  const reason = aborted ? CHAOS_ABORT : undefined;
  assertTypedFailure(outcome.error, "the stream", reason);
  if (outcome.error === CHAOS_ABORT) assert.ok(aborted, "failed with the abort reason unasked");
  // Prefix, always.
  const itemsAsRuns = outcome.items as Run[];
  if (content.runs) assertRunsPrefix(itemsAsRuns, content.runs, false);
  else assertValuesPrefix(outcome.items, content.values!, false);
  if (plan.preAbort) {
    assert.equal(outcome.error, CHAOS_ABORT, "a call with an aborted signal");
    assert.equal(outcome.items.length, 0);
  }
  const endless = plan.ending === "stall" || plan.ending === "silent";
  if (endless) {
    assert.ok(!outcome.ended, "a stream whose engine stalled ended by itself");
    if (plan.stop === "abort") {
      assert.equal(outcome.error, CHAOS_ABORT, "abort of a stalled stream");
    }
    if (plan.stop === "close") {
      // Sent or still queued for a connection, a call close() cuts short
      // fails alike, here and in a worker.
      assert.ok(
        outcome.error instanceof DockerConnectionError,
        `close() of a stalled stream: ${describeError(outcome.error)}`,
      );
    }
  }
  if (plan.ending === "silent") assert.equal(outcome.items.length, 0);
  const readOn = !outcome.stopped;
  if (readOn && !outcome.ended) assert.ok(outcome.error !== undefined, "neither ended nor failed");
  if (readOn && (plan.ending === "end" || plan.ending === "errorLine")) {
    // The engine ended the body properly: everything arrived.
    if (content.runs) assertRunsPrefix(itemsAsRuns, content.runs, true);
    else if (plan.stop !== "await") assertValuesPrefix(outcome.items, content.values!, true);
    if (plan.ending === "end") {
      assert.ok(outcome.ended, `a complete body failed: ${describeError(outcome.error)}`);
    } else {
      assert.ok(
        outcome.error instanceof DockerStreamError,
        `an error line: ${describeError(outcome.error)}`,
      );
    }
  }
  if (readOn && ["cut", "reset", "badchunk"].includes(plan.ending) && outcome.ended) {
    // Only a close-delimited body cut between items may end cleanly.
    const clean = plan.framing === "close" && plan.bodyCut >= 0 &&
      content.cleanAt(plan.bodyCut);
    assert.ok(clean, `a body cut at ${plan.bodyCut} ended without an error`);
    if (clean.runs) assertRunsPrefix(itemsAsRuns, clean.runs, true);
    else if (plan.stop !== "await") assertValuesPrefix(outcome.items, clean.values!, true);
  }
  if (plan.kind === "pull") checkPullResult(plan, outcome);
}

/** A pull's result settles as its stream did. */
function checkPullResult(plan: StreamPlan, outcome: Outcome): void {
  const result = outcome.result;
  assert.ok(result, "the pull result was not read");
  if (result.error === undefined) {
    assert.ok(outcome.ended, "the pull resolved though its stream did not end");
    const values = plan.content.values as { status?: string }[];
    const complete = plan.ending === "end";
    if (complete) {
      const digest = values.find((value) => value.status?.startsWith("Digest: "));
      const expected: Record<string, string> = {
        image: "busybox:latest",
        status: digest ? "Downloaded newer image for busybox:latest" : "",
      };
      if (digest) expected.digest = "sha256:" + "ab".repeat(32);
      assert.deepEqual(result.value, expected);
    }
    return;
  }
  assertTypedFailure(result.error, "the pull result", CHAOS_ABORT);
  if (outcome.error !== undefined) assert.equal(result.error, outcome.error, "result vs stream");
  if (plan.stop === "await" && plan.ending === "end") {
    assert.fail(`await of a complete pull failed: ${describeError(result.error)}`);
  }
  if (plan.ending === "errorLine" && !outcome.stopped) {
    assert.ok(result.error instanceof DockerStreamError, describeError(result.error));
  }
}

// ---------------------------------------------------------------------------
// Backpressure
// ---------------------------------------------------------------------------

/**
 * A slow consumer: the engine writes an endless body as fast as the socket
 * takes it; the consumer reads a few items, then stops reading. The
 * engine's writes must stall with at most `limit` bytes written beyond
 * what the consumer read (socket buffers, one read, and in a worker its
 * credit window), rather than the client reading on into memory; then a
 * cancel closes the connection.
 *
 * @param random The scenario's random source.
 * @param trace Its trace.
 * @param worker Whether the stream runs in a stream worker.
 * @param limit Most bytes the engine may get ahead of the consumer.
 * @returns How far ahead the engine got, in bytes.
 */
export async function backpressureScenario(
  random: Random,
  trace: Trace,
  worker: boolean,
  limit: number,
): Promise<number> {
  const kind = random.pick(["logs", "tty", "events"] as const);
  const framing = random.pick(["chunked", "close"] as const);
  const content = kind === "events"
    ? drawValues(random, "events", false)
    : drawFrames(random, kind === "tty");
  // At least one item per block, and blocks of some size.
  // Blocks are repeated: JSON lines each end with a newline.
  const body = kind === "events" && content.body.at(-1) !== 10
    ? concat([content.body, encoder.encode("\n")])
    : content.body;
  let block = body.length > 1
    ? body
    : kind === "logs"
    ? frame(1, "x")
    : encoder.encode(kind === "events" ? "{}\n" : "x");
  // Blocks of at least 4 KiB: a block is one write (or chunk), and tiny
  // writes would measure the engine's speed and the chunk overhead.
  while (block.length < 4096) block = concat([block, block]);
  const wireBlock = framing === "chunked"
    ? concat([encoder.encode(`${block.length.toString(16)}\r\n`), block, encoder.encode("\r\n")])
    : block;
  const reads = 1 + random.int(8);
  trace.log(
    `backpressure: ${kind} ${framing}, blocks of ${block.length} bytes, consumer reads ${reads} items, worker ${worker}`,
  );
  let connection: FakeConnection | undefined;
  const closed = Promise.withResolvers<void>();
  await using engine = await startFakeEngine(async (conn) => {
    const reader = new HeadReader(conn.conn);
    try {
      while (true) {
        const request = await reader.read();
        if (request === null) return;
        const side = sideAnswer(request.path, kind === "tty");
        if (side !== undefined) {
          await conn.write(side);
          continue;
        }
        connection = conn;
        const type = kind === "logs" ? MULTIPLEXED : kind === "tty" ? RAW : "application/json";
        const framingField = framing === "chunked"
          ? "Transfer-Encoding: chunked"
          : "Connection: close";
        await conn.write(`HTTP/1.1 200 OK\r\nContent-Type: ${type}\r\n${framingField}\r\n\r\n`);
        while (true) await conn.write(wireBlock);
      }
    } catch {
      // The client closed.
    } finally {
      conn.close();
      if (connection === conn) closed.resolve();
    }
  });
  const docker = new Docker({
    host: engine.host,
    apiVersion: "1.41",
    ...(worker ? { workers: { size: 1 } } : {}),
  });
  try {
    const stream: ReadableStream<unknown> = kind === "events"
      ? docker.system.events({ worker })
      : docker.containers.logs("web", { follow: true, tty: kind === "tty", worker });
    const reader = stream.getReader();
    let consumed = 0;
    for (let i = 0; i < reads; i++) {
      const { done, value } = await reader.read();
      assert.ok(!done, "an endless stream ended");
      consumed += kind === "events"
        ? encoder.encode(JSON.stringify(value)).length + 1
        : (value as Frame).data.length + (kind === "logs" ? 8 : 0);
    }
    // The engine's writes stall once the buffers are full.
    let last = -1;
    let steady = 0;
    const deadline = Date.now() + 2000;
    while (steady < 4) {
      await sleep(8);
      const written = connection!.bytesWritten;
      steady = written === last ? steady + 1 : 0;
      last = written;
      assert.ok(
        Date.now() < deadline,
        `the engine's writes never stalled (${written} bytes written)`,
      );
    }
    const ahead = last - consumed;
    trace.log(`backpressure: engine stalled ${ahead} bytes ahead of the consumer`);
    assert.ok(
      ahead <= limit + block.length * 2,
      `the engine got ${ahead} bytes ahead (limit ${limit})`,
    );
    await withDeadline(reader.cancel(), CLOSE_MS, "cancel()");
    await withDeadline(closed.promise, CLOSE_MS, "the engine seeing the cancel close");
    return ahead;
  } finally {
    await closeAll(docker, engine, trace);
  }
}
