/**
 * Chaos scenarios for hijacked sessions (`containers.attach`,
 * `exec.start`), on this thread or in stream workers, against a fake
 * engine that switches protocols (output may come in the same write as
 * the `101`), echoes stdin as output split anywhere with delays, and once
 * stdin ends sends more output and then closes, closes mid-frame, or
 * waits for the client; or closes first, with stdin unread (a reset). The
 * client writes stdin, half-closes it, and reads, or stops at a random
 * point: abort, `close()`, `await using` disposal, cancelling the output,
 * or `docker.close()`. See {@linkcode sessionScenario} for the invariants.
 *
 * @module
 */

import assert from "node:assert/strict";
import { Docker } from "../../src/docker.ts";
import { DockerConnectionError, DockerProtocolError } from "../../src/errors.ts";
import type { HijackedSession } from "../../src/api/_session.ts";
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
  CLOSE_MS,
  closeAll,
  drawDelays,
  MULTIPLEXED,
  RAW,
  type Run,
  sideAnswer,
  type Trace,
  writePieces,
} from "./_chaos.ts";

const encoder = new TextEncoder();

/**
 * How the engine ends the session: closes, closes mid-frame, waits for
 * the client, closes before stdin ends, or (multiplexed output) sends a
 * bad frame header and waits for the client.
 */
type Ending = "end" | "cut" | "linger" | "first" | "broken";
/**
 * How the client sends EOF: `closeWrite()` after the last write, closing
 * `writable`, `closeWrite()` while the last (large) write is still in
 * flight, or not at all.
 */
type Eof = "closeWrite" | "writerClose" | "racing" | "none";
/** How the client stops (`read`: it reads to the end). */
type Stop = "read" | "abort" | "dispose" | "close" | "cancel" | "dockerClose";

interface SessionPlan {
  api: "attach" | "exec";
  tty: boolean;
  /** The `tty` option of an attach (unset: looked up). */
  ttyOption: boolean | undefined;
  /** The 101 head and the output sent with it, in pieces. */
  opening: Uint8Array[];
  openingDelays: number[];
  initial: Run[];
  echo: boolean;
  /** Per stdin chunk read: whether its echo is written in two parts. */
  echoSplits: boolean[];
  echoDelays: number[];
  writes: Uint8Array[];
  eof: Eof;
  ending: Ending;
  /** `first`: stdin bytes the engine reads before it closes. */
  firstAfter: number;
  /** Output after stdin ended. */
  tail: Run[];
  stop: Stop;
  ms: number;
  negotiate: boolean;
  /** `abort`: the signal is aborted before the call, which then rejects with its reason. */
  preAbort: boolean;
}

function drawRuns(random: Random, tty: boolean, most: number): Run[] {
  return Array.from({ length: random.int(most + 1) }, () => ({
    stream: tty ? "stdout" : random.pick(["stdout", "stderr"]),
    data: random.bytes(
      tiered(random, [[0.7, () => 1 + random.int(64)], [1, () => 65 + random.int(20_000)]]),
    ),
  }));
}

function encode(run: Run, tty: boolean): Uint8Array {
  return tty ? run.data : frame(run.stream === "stderr" ? 2 : 1, run.data);
}

function planSession(random: Random): SessionPlan {
  const api = random.pick(["attach", "exec"] as const);
  const tty = random.next() < 0.35;
  // An attach's output is raw by its TTY flag unless the engine labels it
  // multiplexed; an exec's by the `tty` option alone.
  const contentType = tty ? RAW : api === "attach" ? random.pick([MULTIPLEXED, RAW]) : MULTIPLEXED;
  const initial = drawRuns(random, tty, 2);
  const head = encoder.encode(
    `HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`,
  );
  const opening = cutUp(random, concat([head, ...initial.map((run) => encode(run, tty))]));
  const eof = random.pick<Eof>(["closeWrite", "writerClose", "writerClose", "racing", "none"]);
  const writes = Array.from(
    { length: random.int(6) + (eof === "racing" ? 1 : 0) },
    () => random.bytes(1 + random.int(random.pick([8, 3000]))),
  );
  // Large enough to take several socket writes.
  if (eof === "racing" && random.next() < 0.5) writes.push(random.bytes(300_000));
  const endings: Ending[] = ["end", "end", "cut", "linger", "first"];
  if (!tty) endings.push("broken");
  const ending = random.pick(endings);
  // The session must end by itself for a client that only reads.
  const endsAlone = ending === "first" ||
    (["end", "cut", "broken"].includes(ending) && eof !== "none");
  const stops: Stop[] = ["abort", "dispose", "close", "cancel", "dockerClose"];
  if (endsAlone) stops.push("read", "read", "read");
  return {
    api,
    tty,
    ttyOption: api === "attach" ? random.pick([tty, tty, undefined]) : tty,
    opening,
    openingDelays: drawDelays(random, opening.length),
    initial,
    echo: random.next() < 0.8,
    echoSplits: Array.from({ length: 8 }, () => random.next() < 0.4),
    echoDelays: drawDelays(random, 8),
    writes,
    eof,
    ending,
    firstAfter: random.int(writes.reduce((sum, chunk) => sum + chunk.length, 0) + 1),
    tail: drawRuns(random, tty, 3),
    stop: random.pick(stops),
    preAbort: random.next() < 0.05,
    ms: random.int(15),
    negotiate: random.next() < 0.2,
  };
}

function describePlan(plan: SessionPlan, worker: boolean): string {
  const bytes = plan.writes.reduce((sum, chunk) => sum + chunk.length, 0);
  return `${plan.api} tty ${plan.tty} (option ${plan.ttyOption}), ${plan.initial.length} runs ` +
    `with the 101 in ${plan.opening.length} pieces, echo ${plan.echo}; client writes ` +
    `${plan.writes.length} chunks (${bytes} bytes), EOF by ${plan.eof}; engine ${plan.ending}` +
    `${plan.ending === "first" ? ` after ${plan.firstAfter} bytes` : ""}, ${plan.tail.length} ` +
    `runs after EOF; client stop ${plan.stop} at ${plan.ms} ms${
      plan.preAbort ? " (aborted before the call)" : ""
    }; negotiate ${plan.negotiate}, ` +
    `worker ${worker}`;
}

/** What the engine saw and sent. */
interface EngineRecord {
  stdin: Uint8Array[];
  /** The output meant to be read whole (frames cut on purpose excluded). */
  output: Run[];
  /** Stdin ended (or the client closed). */
  eof: PromiseWithResolvers<void>;
  /** The engine ended the output by itself (closed it, or broke it), not the client. */
  endedFirst: boolean;
  /** The session's connection is done with (closed by either side). */
  closed: PromiseWithResolvers<void>;
}

function sessionEngine(plan: SessionPlan, trace: Trace, record: EngineRecord) {
  const sessionPath = plan.api === "attach" ? "/containers/web/attach" : "/exec/ex1/start";
  return async (connection: FakeConnection, index: number) => {
    let session = false;
    try {
      while (true) {
        const request = await connection.readRequest();
        if (!request) return;
        const path = request.target.replace(/^\/v[\d.]+/, "").split("?")[0]!;
        const side = sideAnswer(path, plan.tty);
        if (side !== undefined) {
          await connection.write(side);
          continue;
        }
        assert.equal(path, sessionPath, `unexpected request ${request.target}`);
        break;
      }
      session = true;
      trace.log(`engine: connection ${index} switches protocols`);
      record.output.push(...plan.initial);
      const write = (piece: Uint8Array) => connection.write(piece);
      await writePieces(write, plan.opening, plan.openingDelays);
      let chunks = 0;
      let bytesIn = 0;
      let ended = false;
      while (plan.ending !== "first" || bytesIn < plan.firstAfter) {
        const bytes = await connection.readSome();
        if (bytes === null) {
          ended = true;
          trace.log("engine: stdin ended");
          record.eof.resolve();
          break;
        }
        record.stdin.push(bytes);
        bytesIn += bytes.length;
        if (!plan.echo) continue;
        const run = { stream: "stdout", data: bytes };
        record.output.push(run);
        const encoded = encode(run, plan.tty);
        const split = plan.echoSplits[chunks % 8]!;
        const half = encoded.length >> 1;
        const pieces = split && half > 0
          ? [encoded.subarray(0, half), encoded.subarray(half)]
          : [encoded];
        await writePieces(write, pieces, [plan.echoDelays[chunks % 8]!]);
        chunks++;
      }
      if (plan.ending === "first" && !ended) trace.log("engine: closes first");
      record.output.push(...plan.tail);
      await write(concat(plan.tail.map((run) => encode(run, plan.tty))));
      if (plan.ending === "cut") {
        // Half of one more frame (raw output has no frames: more bytes).
        const extra = { stream: "stdout", data: encoder.encode("cut short") };
        const encoded = encode(extra, plan.tty);
        if (plan.tty) record.output.push(extra);
        await write(plan.tty ? encoded : encoded.subarray(0, 12));
      }
      if (plan.ending === "broken") {
        record.endedFirst = true;
        await write(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 1, 65]));
      }
      if (plan.ending === "linger" || plan.ending === "broken") {
        await tickUntilClosed(connection, plan, plan.ending === "linger" ? record : undefined);
        trace.log("engine: the client closed");
        return;
      }
      record.endedFirst = true;
      trace.log(`engine: closes (${plan.ending})`);
    } catch (error) {
      trace.log(`engine: connection ${index} failed: ${describeError(error)}`);
    } finally {
      connection.close();
      if (session) record.closed.resolve();
    }
  };
}

/**
 * Writes a one-byte output every 2 ms until a write fails: how the engine
 * learns that the client closed after it had half-closed (a read says
 * end of stream either way).
 *
 * @param record Where the output is recorded (unset: after broken output, never read).
 */
async function tickUntilClosed(
  connection: FakeConnection,
  plan: SessionPlan,
  record: EngineRecord | undefined,
): Promise<void> {
  const tick = { stream: "stdout", data: encoder.encode(".") };
  while (true) {
    record?.output.push(tick);
    try {
      await connection.write(encode(tick, plan.tty));
    } catch {
      return;
    }
    await sleep(2);
  }
}

/** What the client saw. */
interface ClientOutcome {
  output: Run[];
  readError: unknown;
  /** The output ended (`done`). */
  ended: boolean;
  written: Uint8Array[];
  writeError: unknown;
  /** EOF was sent (`closeWrite()` or `writer.close()` resolved) before any stop. */
  eofSent: boolean;
  fired: boolean;
}

/** The abort reason of the scenarios. */
const CHAOS_ABORT = new Error("chaos abort");

async function runClient(
  docker: Docker,
  plan: SessionPlan,
  worker: boolean,
  trace: Trace,
): Promise<{ outcome: ClientOutcome; session: HijackedSession }> {
  const abort = new AbortController();
  if (plan.preAbort) abort.abort(CHAOS_ABORT);
  const signal = plan.stop === "abort" || plan.preAbort ? { signal: abort.signal } : {};
  const common = { worker, ...signal };
  const session: HijackedSession = plan.api === "attach"
    ? await docker.containers.attach("web", {
      stdin: true,
      ...(plan.ttyOption !== undefined ? { tty: plan.ttyOption } : {}),
      ...common,
    })
    : await docker.exec.start("ex1", { tty: plan.tty, ...common });
  trace.log("client: session open");
  const outcome: ClientOutcome = {
    output: [],
    readError: undefined,
    ended: false,
    written: [],
    writeError: undefined,
    eofSent: false,
    fired: false,
  };
  const reader = session.readable.getReader();
  const reading = (async () => {
    try {
      while (true) {
        const { done, value } = await reader.read();
        if (done) break;
        outcome.output.push({ stream: value.stream, data: value.data.slice() });
      }
      outcome.ended = true;
      trace.log("client: output ended");
    } catch (error) {
      outcome.readError = error;
      trace.log(`client: read failed: ${describeError(error)}`);
    }
  })();
  const writing = (async () => {
    const writer = session.writable.getWriter();
    try {
      const last = plan.eof === "racing" ? plan.writes.length - 1 : plan.writes.length;
      for (const chunk of plan.writes.slice(0, last)) {
        await writer.write(chunk);
        outcome.written.push(chunk);
      }
      if (plan.eof === "racing") {
        // EOF asked for while the last write is in flight: it goes after it.
        const lastWrite = writer.write(plan.writes[last]!).then(() => undefined, (error) => error);
        await session.closeWrite();
        const failed = await lastWrite;
        if (failed !== undefined) throw failed;
        outcome.written.push(plan.writes[last]!);
      } else if (plan.eof === "closeWrite") await session.closeWrite();
      else if (plan.eof === "writerClose") await writer.close();
      if (plan.eof !== "none") {
        outcome.eofSent = !outcome.fired;
        trace.log("client: EOF sent");
      }
    } catch (error) {
      outcome.writeError = error;
      trace.log(`client: write failed: ${describeError(error)}`);
    }
  })();
  let stopping: Promise<unknown> = Promise.resolve();
  const timer = plan.stop === "read" ? undefined : setTimeout(() => {
    outcome.fired = true;
    trace.log(`client: ${plan.stop}`);
    if (plan.stop === "abort") abort.abort(CHAOS_ABORT);
    else if (plan.stop === "close") session.close();
    else if (plan.stop === "dispose") stopping = Promise.resolve(session[Symbol.asyncDispose]());
    else if (plan.stop === "cancel") stopping = reader.cancel();
    else if (plan.stop === "dockerClose") stopping = docker.close();
  }, plan.ms);
  try {
    await reading;
    await writing;
  } finally {
    clearTimeout(timer);
  }
  await withDeadline(stopping, CLOSE_MS, plan.stop);
  return { outcome, session };
}

/**
 * One session scenario. Invariants:
 * - it ends within the scenario's bound (a hang fails it);
 * - the engine receives exactly the stdin written, in order, and no write
 *   fails while it reads on; once EOF was sent (`closeWrite()`, also while
 *   a write is in flight, or closing `writable`) the engine sees it after
 *   all of stdin, and the output it sends after EOF is not lost;
 * - the output read is exactly what the engine sent, in order, up to the
 *   end or the failure, and all of it when the engine ended the session
 *   cleanly and the client read on; a frame cut short fails the output
 *   with `DockerProtocolError`;
 * - a failure is a `DockerError`, or the abort's reason; a session the
 *   client closed (`close()`, disposal, cancel) ends its output quietly
 *   while the engine had not closed first, an abort fails it with the
 *   signal's reason, and `docker.close()` fails it with
 *   `DockerConnectionError`;
 * - whatever the client did to stop, and when the output failed, the
 *   engine sees the connection close without a `close()` of the caller's;
 *   a call with an aborted signal rejects with its reason;
 *   `docker.close()` leaves no connection open.
 *
 * @param random The scenario's random source.
 * @param trace Its trace.
 * @param worker Whether the session runs in a stream worker.
 */
export async function sessionScenario(
  random: Random,
  trace: Trace,
  worker: boolean,
): Promise<void> {
  const plan = planSession(random);
  trace.log(describePlan(plan, worker));
  const record: EngineRecord = {
    stdin: [],
    output: [],
    eof: Promise.withResolvers(),
    endedFirst: false,
    closed: Promise.withResolvers(),
  };
  await using engine = await startFakeEngine(sessionEngine(plan, trace, record));
  const docker = new Docker({
    host: engine.host,
    ...(plan.negotiate ? {} : { apiVersion: "1.41" }),
    ...(worker ? { workers: { size: 1 } } : {}),
  });
  try {
    if (plan.preAbort) {
      const opened = await runClient(docker, plan, worker, trace).then(
        ({ session }) => session.close(),
        (error) => error,
      );
      assert.equal(opened, CHAOS_ABORT, "a session opened with an aborted signal");
      return;
    }
    const { outcome, session } = await runClient(docker, plan, worker, trace);
    try {
      await checkSession(plan, record, outcome);
      if (outcome.readError !== undefined || outcome.fired) {
        // Failed or stopped: the connection closes without a close() of the caller's.
        await withDeadline(record.closed.promise, CLOSE_MS, "the engine seeing the session close");
      }
    } finally {
      session.close();
    }
    await withDeadline(record.closed.promise, CLOSE_MS, "the engine seeing the session close");
  } finally {
    await closeAll(docker, engine, trace);
  }
}

async function checkSession(
  plan: SessionPlan,
  record: EngineRecord,
  outcome: ClientOutcome,
): Promise<void> {
  const reason = plan.stop === "abort" ? CHAOS_ABORT : undefined;
  assertTypedFailure(outcome.readError, "the output", reason);
  assertTypedFailure(outcome.writeError, "stdin", reason);
  // Stdin: what arrived is what was written, in order.
  const received = concat(record.stdin);
  const all = concat(plan.writes);
  assert.ok(
    received.length <= all.length && received.every((byte, i) => byte === all[i]),
    `the engine received ${received.length} stdin bytes that are not the first written`,
  );
  if (!outcome.fired && plan.ending !== "first") {
    // The engine reads stdin to its end: no write may fail.
    assert.equal(outcome.writeError, undefined, "a write failed though the engine read on");
  }
  if (outcome.eofSent && plan.ending !== "first") {
    // The engine sees EOF, unless the client closed the connection under
    // it first (its writes then fail before it reads on).
    let eof = false;
    await withDeadline(
      Promise.race([record.eof.promise.then(() => eof = true), record.closed.promise]),
      CLOSE_MS,
      "the engine seeing EOF",
    );
    assert.ok(eof || outcome.fired, "the engine never saw EOF");
    if (eof) assert.deepEqual(concat(record.stdin), concat(outcome.written), "stdin before EOF");
  }
  // Output: exact up to where it stopped.
  assertRunsPrefix(outcome.output, record.output, false);
  const clientStopped = outcome.fired;
  if (!clientStopped && (plan.ending === "end" || plan.ending === "cut")) {
    // Nothing sent before the engine closed is lost, after EOF included.
    assertRunsPrefix(outcome.output, record.output, true);
    if (plan.ending === "cut" && !plan.tty) {
      assert.ok(
        outcome.readError instanceof DockerProtocolError &&
          outcome.readError.code === "PREMATURE_CLOSE",
        `a frame cut short: ${describeError(outcome.readError)}`,
      );
    } else {
      assert.ok(outcome.ended, `a session closed cleanly: ${describeError(outcome.readError)}`);
    }
  }
  if (!clientStopped && plan.ending === "broken") {
    assertRunsPrefix(outcome.output, record.output, true);
    assert.ok(
      outcome.readError instanceof DockerProtocolError &&
        outcome.readError.code === "INVALID_FRAME",
      `broken output: ${describeError(outcome.readError)}`,
    );
  }
  if (clientStopped && !record.endedFirst) {
    if (plan.stop === "dockerClose") {
      assert.ok(
        outcome.readError instanceof DockerConnectionError,
        `docker.close() during a session: ${describeError(outcome.readError)}`,
      );
    } else if (plan.stop === "abort") {
      assert.ok(
        outcome.readError === CHAOS_ABORT,
        `an abort during a session: ${describeError(outcome.readError)}`,
      );
    } else {
      assert.ok(outcome.ended, `${plan.stop} did not end the output quietly`);
    }
  }
}
