/**
 * Seeded chaos for the HTTP client: many concurrent requests through a
 * small pool against an in-memory engine ({@linkcode ChaosEngine}) whose
 * connections answer in pieces and framings of every kind, slowly, cut
 * short, stale, reset or never; with aborts at random points, random ways
 * of reading (or not reading) the body, short timeouts, and a
 * `client.close()` in the middle of some. Every request must settle, as the
 * exact body or a typed error, and the pool must end clean.
 *
 * A failure names the seed and the case (`BERTH_FUZZ_SEED=…, case 3 of
 * "…"`), the broken invariant, and the trace of the request involved.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerConnectionError, DockerError } from "../../src/errors.ts";
import { HttpClient } from "../../src/http/client.ts";
import { concat, waitFor, withDeadline } from "../_fake_engine.ts";
import { caseSeed, describeError, fuzzCase, fuzzCases, type Random, sameBytes } from "../_fuzz.ts";
import { ChaosEngine, Clock, type Send, TimerTracker } from "./_chaos.ts";
import {
  describePlan,
  drawPlan,
  replayable,
  type Run,
  runRequest,
  type Scenario,
} from "./_chaos_requests.ts";
import { bytesOf } from "./_reference.ts";
import { ScriptedConn } from "./_scripted_conn.ts";
import { rejection } from "../_helpers.ts";

/** Real time a scenario may take before it counts as a hang. */
const SCENARIO_DEADLINE = 3000;

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

/** What is wrong with one settled request, if anything. */
function checkRun(scenario: Scenario, run: Run): string | undefined {
  const { plan } = run;
  const { answer } = plan;
  const { engine } = scenario;
  const sends = engine.sendsOf(plan.id);
  const error = run.error;
  const abortedFirst = run.abortSeq !== undefined && run.abortSeq < run.errorSeq;
  if (run.wrong) return run.wrong;
  if (error !== undefined) {
    const own = error === run.streamError || error === run.readerError ||
      error === run.rejectError;
    if (abortedFirst && error !== run.reason && !own) {
      return `aborted, then rejected with ${describeError(error)} rather than signal.reason`;
    }
    if (!abortedFirst && !own && !(error instanceof DockerError)) {
      return `rejected with ${describeError(error)}, not a DockerError`;
    }
  }
  if (plan.abort === "before" && (error !== run.reason || sends.length > 0)) {
    return "aborted before the call, yet not rejected at once with signal.reason";
  }
  if (run.issuedAfterClose && plan.abort !== "before") {
    if (!(error instanceof DockerError) || sends.length > 0) {
      return `called after close(): ${describeError(error)}, ${sends.length} sends`;
    }
  }
  if (
    plan.reject !== "none" && answer.status >= 400 && run.trace.some((l) => l.endsWith(" done"))
  ) {
    return `rejectWith refused ${answer.status}, yet the call succeeded`;
  }
  if (run.status !== undefined) {
    if (run.status !== answer.status) return `status ${run.status}, want ${answer.status}`;
    if (run.xId !== String(plan.id)) return `answer meant for ${run.xId}`;
  }
  const got = run.body ?? concat(run.partial);
  const want = answer.body.subarray(0, run.body ? undefined : got.length);
  if (!sameBytes(got, want)) {
    return `body of ${got.length} bytes is not the engine's ${want.length}`;
  }
  // Sent at most once, or twice for a replayable request whose pooled
  // connection died before any response byte, then on a fresh one.
  if (sends.length > (replayable(plan) ? 2 : 1)) return `sent ${sends.length} times`;
  if (sends.length === 2) {
    const [first, second] = sends as [typeof sends[0], typeof sends[0]];
    if (first.index === 0 || first.delivered > 0 || first.conn.closedAt === undefined) {
      return `retried after a send on c${first.conn.id}#${first.index} that read ${first.delivered} bytes`;
    }
    if (second.index !== 0) return `retried on a reused connection c${second.conn.id}`;
  }
  if (run.abortTurn !== undefined && run.settleTurn > run.abortTurn + 2 && !run.body) {
    return `settled ${run.settleTurn - run.abortTurn} turns after its abort`;
  }
  // Nothing excuses a failure: the engine answers, nothing aborts or times
  // out, the call is not a non-replayable one that met a stale connection.
  const first = sends[0];
  const excused = plan.abort !== "none" || plan.read === "hold" ||
    plan.headersTimeout !== undefined || plan.bodyTimeout !== undefined ||
    !["ok", "early", "stale"].includes(answer.kind) ||
    (scenario.closeTurn !== undefined && run.settleTurn >= scenario.closeTurn) ||
    run.issuedAfterClose || engine.connectErrors.has(error) || error === run.streamError ||
    error === run.readerError || error === run.rejectError ||
    (!replayable(plan) && metStale(first, error));
  if (error !== undefined && !excused) return `failed: ${describeError(error)}`;
  return undefined;
}

/**
 * What is wrong with what the observer heard of one request, once every
 * exchange has ended: one record per call that reached the client (one
 * aborted before too: its error the reason, nothing sent), agreeing with
 * the wire.
 */
function checkRecords(engine: ChaosEngine, run: Run): string | undefined {
  const { records, plan } = run;
  if (records.length !== 1) return `${records.length} exchange records, want 1`;
  const record = records[0]!;
  if (plan.abort === "before" && (record.error !== run.error || record.bytesSent !== 0)) {
    return `an abort before the call recorded ${
      describeError(record.error)
    }, ${record.bytesSent} bytes sent`;
  }
  const last = engine.sendsOf(plan.id).at(-1);
  if (record.status === undefined || last === undefined) return undefined;
  if (record.status !== plan.answer.status) return `record status ${record.status}`;
  if (record.reusedConnection !== last.index > 0) {
    return `record says reusedConnection ${record.reusedConnection}, the answer came on c${last.conn.id}#${last.index}`;
  }
  // An exchange read to its end is a success, whatever its caller made of
  // it (a read or rejectWith refusing it).
  const own = run.error === run.readerError || run.error === run.rejectError;
  if (record.error === undefined && run.error !== undefined && !own) {
    return `recorded as a success, failed with ${describeError(run.error)}`;
  }
  return undefined;
}

/**
 * Whether a non-replayable request failed because its pooled connection was
 * dead: it reached one the engine had hung up on, or (an upload whose head
 * read saw the end before its write) the client found it dead first.
 */
function metStale(first: Send | undefined, error: unknown): boolean {
  if (first !== undefined) return first.delivered === 0 && first.conn.hungUp !== undefined;
  return error instanceof DockerConnectionError &&
    /closed the connection before/.test(error.message);
}

// ---------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------

interface ScenarioShape {
  requests: number;
  maxConnections: number;
  keepAliveTimeout: number;
  /** The client's own timeouts: the defaults, or none. */
  clientTimeouts: 0 | undefined;
  /** `client.close()` is called in the turn after this many response heads, if at all. */
  closeAfter: number | undefined;
  /** Share of requests read `late` (bodies read after the close, in part). */
  late: number;
}

/**
 * The requests that may hold a slot: those whose connection still carries
 * their unread response, and those that got a head but neither read the
 * body nor failed on it.
 */
function holders(engine: ChaosEngine, runs: Run[]): string[] {
  const ids = new Set(engine.conns.filter((c) => c.outstanding).map((c) => c.sends.at(-1)!.id));
  for (const run of runs) {
    if (run.status !== undefined && run.body === undefined && run.partial.length === 0) {
      ids.add(run.plan.id);
    }
  }
  return [...ids].slice(0, 8).map((id) =>
    `#${id} (${runs[id]!.plan.read}, ${runs[id]!.plan.answer.kind}: ${runs[id]!.trace.at(-1)})`
  );
}

class ChaosFailure extends Error {
  constructor(why: string, readonly id?: number) {
    super(why);
  }
}

async function runScenario(
  salt: number,
  index: number,
  name: string,
  shape: (random: Random) => ScenarioShape,
): Promise<void> {
  const { random, label } = fuzzCase(salt, index, name);
  const { requests, maxConnections, keepAliveTimeout, clientTimeouts, closeAfter, late } = shape(
    random,
  );
  const runs: Run[] = Array.from({ length: requests }, (_, id) => ({
    plan: drawPlan(random, id, late),
    trace: [],
    settled: false,
    settleTurn: 0,
    issuedAfterClose: false,
    status: undefined,
    xId: undefined,
    body: undefined,
    partial: [],
    wrong: undefined,
    error: undefined,
    errorSeq: 0,
    reason: undefined,
    abortSeq: undefined,
    abortTurn: undefined,
    aborted: Promise.withResolvers(),
    streamError: undefined,
    readerError: undefined,
    rejectError: undefined,
    records: [],
  }));
  using timers = new TimerTracker();
  const clock = new Clock();
  const engine = new ChaosEngine({
    clock,
    seed: caseSeed(random.int(2 ** 32), index),
    answers: new Map(runs.map((run) => [run.plan.id, run.plan.answer])),
    maxConnections,
    uncounted: new Set(runs.filter((run) => run.plan.longLived).map((run) => run.plan.id)),
    trace: (id, text) => id !== undefined && runs[id]?.trace.push(`t${clock.turn} ${text}`),
  });
  const client = new HttpClient({
    connect: engine.connect,
    host: "chaos://engine",
    hostHeader: "docker",
    maxConnections,
    keepAliveTimeout,
    ...(clientTimeouts === 0 ? { headersTimeout: 0, bodyTimeout: 0 } : {}),
    onRecord: (record) => {
      const run = runs[Number(record.target.split("/")[2])];
      if (run) run.records.push(record);
    },
  });
  const scenario: Scenario = {
    client,
    clock,
    engine,
    seq: 0,
    closeTurn: undefined,
    connsAtClose: undefined,
    heads: 0,
    closeAfter,
    closing: closeAfter === undefined ? undefined : Promise.withResolvers(),
    close: () => {
      client.close();
      timers.closed = true;
      scenario.closing?.resolve();
      scenario.closeTurn ??= clock.turn;
      engine.closedAt ??= clock.turn;
      // A connect in flight at close() fails its call at once; its socket is
      // closed as it arrives (checked once all is drained, below).
      scenario.connsAtClose ??= engine.conns.length;
      const open = engine.conns.slice(0, scenario.connsAtClose).find((conn) =>
        conn.closedAt === undefined
      );
      if (open) throw new ChaosFailure(`c${open.id} is still open right after close()`);
    },
  };
  try {
    for (const run of runs) runRequest(scenario, run);
    if (!await clock.run(() => runs.every((run) => run.settled), SCENARIO_DEADLINE)) {
      const stuck = runs.filter((run) => !run.settled);
      throw new ChaosFailure(
        `${stuck.length} requests never settled (pool busy ${client.pool.busy}, queued ` +
          `${client.pool.queued}); requests holding a connection: ${
            holders(engine, runs).join(", ")
          }`,
        stuck[0]!.plan.id,
      );
    }
    const violation = engine.violations[0];
    if (violation) throw new ChaosFailure(violation, Number(violation.match(/^#(\d+)/)?.[1]));
    for (const run of runs) {
      const why = checkRun(scenario, run);
      if (why) throw new ChaosFailure(why, run.plan.id);
    }
    const { pool } = client;
    if (pool.busy !== 0 || pool.queued !== 0) {
      const held = holders(engine, runs);
      throw new ChaosFailure(
        `pool busy ${pool.busy}, queued ${pool.queued} once all settled; held by ${
          held.join(", ")
        }`,
        Number(held[0]?.slice(1).split(" ")[0]),
      );
    }
    const open = engine.conns.filter((conn) => conn.closedAt === undefined);
    const restless = open.find((conn) => !conn.atRest);
    if (restless) {
      throw new ChaosFailure(`c${restless.id} is open but not at rest`, restless.sends.at(-1)?.id);
    }
    if (scenario.closeTurn === undefined && pool.idle !== open.length) {
      throw new ChaosFailure(`${open.length} connections open, ${pool.idle} idle in the pool`);
    }
    scenario.close();
    const later = await client.request({ method: "GET", target: "/chaos/late" }).then(
      () => undefined,
      (error) => error,
    );
    if (!(later instanceof DockerError)) {
      throw new ChaosFailure(`a request after close(): ${describeError(later)}`);
    }
    if (!await clock.run(() => engine.serving === 0 && engine.connecting === 0, 1000)) {
      throw new ChaosFailure(`${engine.serving} connections still served after close()`);
    }
    if (engine.conns.some((conn) => conn.closedAt === undefined)) {
      throw new ChaosFailure("a connection opened late is still open");
    }
    if (engine.connectsAfterClose > 0) {
      throw new ChaosFailure(`${engine.connectsAfterClose} connects after close()`);
    }
    for (const run of runs) {
      const why = checkRecords(engine, run);
      if (why) throw new ChaosFailure(why, run.plan.id);
    }
    if (timers.startedAfterClose.length > 0) {
      throw new ChaosFailure(
        `timers started after close(): ${timers.startedAfterClose.join(", ")}`,
      );
    }
    if (timers.live.size > 0) {
      throw new ChaosFailure(`timers left after close(): ${[...timers.live.values()].join(", ")}`);
    }
  } catch (error) {
    const id = error instanceof ChaosFailure ? error.id : undefined;
    const run = id === undefined ? undefined : runs[id];
    const shapeText = `${requests} requests, maxConnections ${maxConnections}, ` +
      `keepAliveTimeout ${keepAliveTimeout}, client timeouts ${clientTimeouts ?? "default"}, ` +
      `close ${closeAfter === undefined ? "at the end" : `after ${closeAfter} heads`}`;
    throw new Error(
      `Chaos case failed (${label}): ${error instanceof Error ? error.message : error}\n` +
        `  scenario: ${shapeText}\n` +
        (run ? `  request: ${describePlan(run.plan)}\n  trace: ${run.trace.join("; ")}` : ""),
      { cause: error },
    );
  } finally {
    client.close();
    await clock.run(() => engine.serving === 0 && engine.connecting === 0, 500);
  }
}

Deno.test("HttpClient settles concurrent requests under seeded chaos: exact bodies or typed errors, no double sends, no shared connections, a clean pool", async () => {
  const count = fuzzCases(16);
  for (let index = 0; index < count; index++) {
    await runScenario(0xc4a05, index, "chaos", (random) => ({
      requests: 50 + random.int(151),
      maxConnections: 1 + random.int(6),
      keepAliveTimeout: random.pick([10_000, 10_000, 10_000, 5, 0]),
      clientTimeouts: random.pick([0, undefined]),
      closeAfter: undefined,
      late: 0,
    }));
  }
});

Deno.test("HttpClient.close in the middle of chaos closes every connection and settles every request", async () => {
  const count = fuzzCases(12);
  for (let index = 0; index < count; index++) {
    await runScenario(0xc105e, index, "close", (random) => ({
      requests: 30 + random.int(100),
      maxConnections: 1 + random.int(4),
      keepAliveTimeout: random.pick([10_000, 5]),
      clientTimeouts: random.pick([0, undefined]),
      closeAfter: random.int(60),
      late: 0.3,
    }));
  }
});

// ---------------------------------------------------------------------------
// What the chaos found, pinned down
// ---------------------------------------------------------------------------

const PARTIAL = bytesOf("HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nabc");

/** A client whose connections each answer `PARTIAL` (the body still coming), then stall. */
function partialClient(): { client: HttpClient; conns: ScriptedConn[] } {
  const conns: ScriptedConn[] = [];
  const client = new HttpClient({
    connect: () => {
      conns.push(new ScriptedConn([[PARTIAL]], "stall"));
      return Promise.resolve(conns.at(-1)!.conn);
    },
    host: "chaos://engine",
    hostHeader: "docker",
    maxConnections: 1,
  });
  return { client, conns };
}

Deno.test("HttpClient cancels a body left unread by a read or rejectWith whose promise settles, freeing its slot", async () => {
  // Found by the chaos: an async read (or a rejectWith promise) that did
  // not read the body left the exchange open, and its slot with it; with
  // maxConnections 1 every later request queued forever.
  const { client, conns } = partialClient();
  const refused = new Error("refused");
  try {
    const calls: (() => Promise<unknown>)[] = [
      () =>
        client.request({ method: "GET", target: "/" }, async () => await Promise.reject(refused)),
      () => client.request({ method: "GET", target: "/" }, () => Promise.reject(refused)),
      () =>
        client.request({ method: "GET", target: "/", rejectWith: () => Promise.resolve(refused) }),
      () =>
        client.request({ method: "GET", target: "/", rejectWith: () => Promise.reject(refused) }),
    ];
    for (const [index, call] of calls.entries()) {
      assert.equal(await rejection(call()), refused, `call ${index}`);
      assert.equal(client.pool.busy, 0, `call ${index}: slot freed`);
      assert.equal(conns.at(-1)!.closed, true, `call ${index}: connection closed, not pooled`);
    }
    // A read that resolves keeps the body to read on.
    const response = await client.request(
      { method: "GET", target: "/" },
      (r) => Promise.resolve(r),
    );
    assert.equal(response.finished, false);
    response.cancel();
    assert.equal(client.pool.busy, 0);
  } finally {
    client.close();
  }
});

Deno.test("HttpClient rejects with the signal's reason at once when aborted while reconnecting after a stale pooled connection", async () => {
  // Found by the chaos: the retry's connect could not be aborted; the call
  // waited for it (up to the connect timeout), then failed with whatever
  // happened next (a close(): "client is closed") rather than the reason.
  const first = new ScriptedConn([[bytesOf("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]]);
  const late = Promise.withResolvers<Deno.Conn>();
  const second = new ScriptedConn([]);
  let connects = 0;
  const client = new HttpClient({
    connect: () => connects++ === 0 ? Promise.resolve(first.conn) : late.promise,
    host: "chaos://engine",
    hostHeader: "docker",
  });
  try {
    assert.equal(await (await client.request({ method: "GET", target: "/a" })).text(), "ok");
    const controller = new AbortController();
    const pending = client.request({ method: "GET", target: "/b", signal: controller.signal });
    await waitFor(() => connects === 2);
    const reason = new Error("gave up");
    controller.abort(reason);
    assert.equal(await withDeadline(rejection(pending), 500, "the aborted retry"), reason);
    assert.equal(client.pool.busy, 0);
    late.resolve(second.conn);
    await waitFor(() => second.closed);
  } finally {
    late.resolve(second.conn);
    client.close();
  }
});
