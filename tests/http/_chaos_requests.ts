/**
 * The requests of the chaos tests: what each does (method, body, abort, how
 * the body is read, timeouts) and what the engine answers it with (framing,
 * pieces, delays, hang-ups), drawn from the scenario's random source; and
 * how a request is run, noting what happened for the invariants.
 *
 * @module
 */

import { DockerError } from "../../src/errors.ts";
import type { HttpClient, HttpRequest } from "../../src/http/client.ts";
import type { ExchangeRecord } from "../../src/http/exchange_types.ts";
import type { HttpResponse } from "../../src/http/response.ts";
import { chunked, concat } from "../_fake_engine.ts";
import { describeError, type Random, randomSplit, tiered } from "../_fuzz.ts";
import type { ChaosEngine, Clock } from "./_chaos.ts";

// ---------------------------------------------------------------------------
// What the engine answers
// ---------------------------------------------------------------------------

/** The methods the chaos sends. */
export type Method = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";

/**
 * What the engine does with a request: answer it (after reading the body,
 * or `early` after the head only), answer it unless it came on a reused
 * connection the first time (`stale`: hung up without a byte), hang up
 * without a byte every time (`drop`), hang up partway (`cut`), send part
 * of it and go quiet (`stall`), or never answer.
 */
export type AnswerKind = "ok" | "early" | "stale" | "drop" | "cut" | "stall" | "never";

/** One response as the engine sends it. */
export interface Answer {
  kind: AnswerKind;
  status: number;
  /** What the client must read as the body. */
  body: Uint8Array;
  /** `length`, `chunked`, `close`, or `none` (HEAD, 204, 304). */
  framing: string;
  /** The wire bytes sent, in pieces, each after so many turns. */
  pieces: { bytes: Uint8Array; delay: number }[];
  /** Turns before the engine starts answering. */
  think: number;
  /** How a hang-up ends it (`drop`, `stale`, `cut`). */
  hangUp: "eof" | "reset";
  /** Whether the client may reuse the connection after it. */
  reusable: boolean;
  /** Whether the engine hangs up after it (close framing, `Connection: close`). */
  closes: boolean;
  /** Whether stray bytes follow it (so the connection must not be reused). */
  junk: boolean;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  304: "Not Modified",
  404: "Not Found",
  500: "Internal Server Error",
};

/** A body of `length` bytes that names request `id` (so cross-talk shows). */
function bodyFor(id: number, length: number): Uint8Array {
  const body = new Uint8Array(length);
  for (let i = 0; i < length; i++) body[i] = (i * 31 + id * 7 + (i >> 8)) & 255;
  return body;
}

/** Turns a response piece waits: mostly none, sometimes a few, now and then slow. */
function pieceDelay(random: Random): number {
  return tiered(random, [
    [0.7, () => 0],
    [0.95, () => 1 + random.int(3)],
    [1, () => 20 + random.int(300)],
  ]);
}

/**
 * Draws what the engine answers request `id` with.
 *
 * @param random The request's random source.
 * @param id The request.
 * @param method Its method (HEAD gets no body).
 */
export function drawAnswer(random: Random, id: number, method: Method): Answer {
  let kind: AnswerKind = tiered<AnswerKind>(random, [
    [0.62, () => "ok"],
    [0.68, () => "early"],
    [0.8, () => "stale"],
    [0.85, () => "drop"],
    [0.91, () => "cut"],
    [0.96, () => "stall"],
    [1, () => "never"],
  ]);
  const status = tiered(random, [
    [0.8, () => 200],
    [0.85, () => 201],
    [0.9, () => random.pick([204, 304])],
    [1, () => random.pick([404, 500])],
  ]);
  const bodiless = method === "HEAD" || status === 204 || status === 304;
  const length = tiered(random, [
    [0.1, () => 0],
    [0.5, () => 1 + random.int(64)],
    [0.88, () => 65 + random.int(4000)],
    [1, () => 4000 + random.int(70_000)],
  ]);
  const framing = tiered(random, [[0.55, () => "length"], [0.85, () => "chunked"], [
    1,
    () => "close",
  ]]);
  const wireFraming = bodiless && (framing === "close" || status !== 200) ? "length" : framing;
  const connectionClose = random.next() < 0.05;
  const sent = bodyFor(id, length);
  let head = `HTTP/1.1 ${status} ${REASONS[status]}\r\nX-Id: ${id}\r\n`;
  if (connectionClose) head += "Connection: close\r\n";
  if (wireFraming === "length") head += `Content-Length: ${status === 204 ? 0 : length}\r\n`;
  if (wireFraming === "chunked") head += "Transfer-Encoding: chunked\r\n";
  const interim = random.next() < 0.05 ? "HTTP/1.1 100 Continue\r\n\r\n" : "";
  const headBytes = new TextEncoder().encode(`${interim}${head}\r\n`);
  let bodyBytes = sent;
  if (bodiless) bodyBytes = new Uint8Array(0);
  else if (wireFraming === "chunked") {
    bodyBytes = chunked(sent, Array.from({ length: random.int(4) }, () => 1 + random.int(5000)));
  }
  const body = bodiless ? new Uint8Array(0) : sent;
  const closes = connectionClose || (wireFraming === "close" && !bodiless);
  // Now and then stray bytes follow a framed response, as from a confused
  // engine: in its last piece, so the client sees them as it ends the body.
  const junk = !closes && random.next() < 0.03;
  let wire = concat([headBytes, bodyBytes]);
  // A stall needs a body still to come; a cut needs bytes to cut.
  if (kind === "stall" && body.length === 0 && !closes) kind = "ok";
  if (kind === "cut") wire = wire.subarray(0, random.int(wire.length));
  if (kind === "stall") {
    const rest = closes ? wire.length - headBytes.length + 1 : wire.length - headBytes.length;
    wire = wire.subarray(0, headBytes.length + random.int(rest));
  }
  const pieces = randomSplit(random, wire, random.pick([1, 3, 12])).map((bytes) => ({
    bytes,
    delay: pieceDelay(random),
  }));
  if (junk && kind !== "cut" && kind !== "stall") {
    // With the response's last bytes, in a piece one read takes whole.
    const last = pieces.pop()!;
    const tail = Math.max(0, last.bytes.length - 1000);
    if (tail > 0) pieces.push({ bytes: last.bytes.subarray(0, tail), delay: last.delay });
    const stray = new TextEncoder().encode("HTTP/1.1 200");
    pieces.push({ bytes: concat([last.bytes.subarray(tail), stray]), delay: 0 });
  }
  return {
    kind,
    status,
    body,
    framing: bodiless ? "none" : wireFraming,
    pieces,
    think: pieceDelay(random),
    // A close-delimited body cut short by an EOF is a whole (shorter) body.
    hangUp: wireFraming === "close" || random.next() < 0.5 ? "reset" : "eof",
    reusable: !closes && !junk,
    closes,
    junk,
  };
}

// ---------------------------------------------------------------------------
// What each request does
// ---------------------------------------------------------------------------

/**
 * How the caller reads the body: `hold` waits, aborts, and reads again
 * (whose answer is then the abort) or never; `late` waits, then reads.
 */
export type ReadMode =
  | "bytes"
  | "stream"
  | "batches"
  | "reused buffer"
  | "reader"
  | "discard"
  | "cancel"
  | "cancel stream"
  | "hold"
  | "late"
  | "reader throws"
  | "reader rejects";

/** When the signal fires: never, before the call, some turns after it, at the head, mid-body. */
export type AbortAt = "none" | "before" | "turn" | "head" | "body";

/** What one request does. */
export interface Plan {
  id: number;
  method: Method;
  body: "none" | "small" | "large" | "stream" | "failing stream";
  idempotent: true | undefined;
  /** Not counted against maxConnections (a follow stream, say). */
  longLived: boolean;
  /**
   * Whether `rejectWith` turns a status of 400 or more into an error, after
   * reading the body or without reading it.
   */
  reject: "none" | "after reading" | "unread";
  /** Turn the call is made. */
  start: number;
  abort: AbortAt;
  /** Turns after the call (`turn`) or the head (`hold`) the signal fires. */
  abortTurns: number;
  /** Whether the abort has no reason of its own (a DOMException then). */
  defaultReason: boolean;
  read: ReadMode;
  headersTimeout: number | undefined;
  bodyTimeout: number | undefined;
  answer: Answer;
}

/**
 * Draws what request `id` does and what the engine answers it with; a
 * request that could wait forever (an answer that never comes, a body that
 * stalls) gets a timeout unless an abort ends it.
 *
 * @param random The scenario's random source.
 * @param id The request.
 * @param late Share of requests read `late`.
 */
export function drawPlan(random: Random, id: number, late: number): Plan {
  const method = tiered<Method>(random, [
    [0.4, () => "GET"],
    [0.5, () => "HEAD"],
    [0.75, () => "POST"],
    [0.85, () => "PUT"],
    [1, () => "DELETE"],
  ]);
  const body = method === "POST" || method === "PUT"
    ? tiered<Plan["body"]>(random, [
      [0.3, () => "none"],
      [0.8, () => "small"],
      [0.85, () => "large"],
      [0.97, () => "stream"],
      [1, () => "failing stream"],
    ])
    : "none";
  const abort = tiered<AbortAt>(random, [
    [0.6, () => "none"],
    [0.63, () => "before"],
    [0.85, () => "turn"],
    [0.93, () => "head"],
    [1, () => "body"],
  ]);
  let read = tiered<ReadMode>(random, [
    [0.25, () => "bytes"],
    [0.35, () => "stream"],
    [0.45, () => "batches"],
    [0.5, () => "reused buffer"],
    [0.62, () => "reader"],
    [0.67, () => "discard"],
    [0.77, () => "cancel"],
    [0.82, () => "cancel stream"],
    [0.87, () => "hold"],
    [0.91, () => "late"],
    [0.95, () => "reader throws"],
    [1, () => "reader rejects"],
  ]);
  if (random.next() < late) read = "late";
  // A mid-body abort fires between batches.
  if (abort === "body" && read !== "batches" && read !== "reused buffer") read = "batches";
  const timeout = () => random.next() < 0.1 ? random.pick([10, 20, 30]) : undefined;
  let headersTimeout = timeout();
  let bodyTimeout = timeout();
  const answer = drawAnswer(random, id, method);
  // Bounded: what never answers (or stalls mid-body) is timed out unless aborted.
  const aborts = abort === "turn" || abort === "before";
  if (answer.kind === "never" && !aborts) headersTimeout ??= 20;
  const reject = tiered(random, [
    [0.7, () => "none" as const],
    [0.9, () => "after reading" as const],
    [1, () => "unread" as const],
  ]);
  // A hold aborts by itself, unless rejectWith reads the body first.
  const holds = read === "hold" && (reject === "none" || answer.status < 400);
  if (answer.kind === "stall" && !aborts && !holds) bodyTimeout ??= 20;
  const start = tiered(random, [
    [0.5, () => 0],
    [0.9, () => random.int(20)],
    [1, () => random.int(300)],
  ]);
  return {
    id,
    method,
    body,
    idempotent: method === "POST" && random.next() < 0.1 ? true : undefined,
    longLived: method === "GET" && random.next() < 0.05,
    reject,
    start,
    abort,
    abortTurns: tiered(random, [
      [0.3, () => random.int(4)],
      [0.8, () => 4 + random.int(60)],
      [1, () => 60 + random.int(400)],
    ]),
    defaultReason: random.next() < 0.2,
    read,
    headersTimeout,
    bodyTimeout,
    answer,
  };
}

/** Whether the client may send the request again on a fresh connection. */
export function replayable(plan: Plan): boolean {
  if (plan.body === "stream" || plan.body === "failing stream") return false;
  return plan.idempotent === true || plan.method !== "POST";
}

/** A plan in one line, for failure messages. */
export function describePlan(plan: Plan): string {
  const { answer } = plan;
  const timeouts = [
    plan.headersTimeout === undefined ? "" : ` headersTimeout ${plan.headersTimeout}`,
    plan.bodyTimeout === undefined ? "" : ` bodyTimeout ${plan.bodyTimeout}`,
  ].join("");
  const flags = `${plan.idempotent ? " (idempotent)" : ""}${plan.longLived ? " (long-lived)" : ""}`;
  const reject = plan.reject === "none" ? "" : `, rejectWith ${plan.reject}`;
  return `#${plan.id} ${plan.method}${flags} body ${plan.body}${reject}, ` +
    `at t${plan.start}, abort ${plan.abort}(${plan.abortTurns}), read ${plan.read}${timeouts}; ` +
    `engine ${answer.kind} ${answer.status} ${answer.framing} ${answer.body.length}B in ` +
    `${answer.pieces.length} pieces${answer.closes ? ", closes" : ""}`;
}

// ---------------------------------------------------------------------------
// Running one request
// ---------------------------------------------------------------------------

/** What happened to one request. */
export interface Run {
  plan: Plan;
  trace: string[];
  settled: boolean;
  settleTurn: number;
  issuedAfterClose: boolean;
  status: number | undefined;
  xId: string | null | undefined;
  /** The body read whole. */
  body: Uint8Array | undefined;
  /** What was read before a cancel. */
  partial: Uint8Array[];
  /** A broken promise of the response itself (not the client's pool). */
  wrong: string | undefined;
  error: unknown;
  errorSeq: number;
  reason: unknown;
  abortSeq: number | undefined;
  abortTurn: number | undefined;
  /** Resolves when the signal fires. */
  aborted: PromiseWithResolvers<void>;
  /** The request body stream's own failure. */
  streamError: Error | undefined;
  readerError: Error | undefined;
  /** What `rejectWith` gave. */
  rejectError: DockerError | undefined;
  /** What the observer was told. */
  records: ExchangeRecord[];
}

/** The shared state of one scenario. */
export interface Scenario {
  client: HttpClient;
  clock: Clock;
  engine: ChaosEngine;
  /** Orders aborts and errors. */
  seq: number;
  closeTurn: number | undefined;
  /** Connections the engine had opened when the client was first closed. */
  connsAtClose: number | undefined;
  /** Response heads so far. */
  heads: number;
  /** See {@linkcode ScenarioShape.closeAfter}. */
  closeAfter: number | undefined;
  /** Resolves at `client.close()`, when the scenario calls it midway. */
  closing: PromiseWithResolvers<void> | undefined;
  /** Calls `client.close()` midway. */
  close: () => void;
}

function requestBody(scenario: Scenario, run: Run): HttpRequest["body"] {
  const { plan } = run;
  const fill = (length: number) => new Uint8Array(length).fill(plan.id & 255);
  if (plan.body === "small") return `{"id":${plan.id}}`;
  if (plan.body === "large") return fill(70_000);
  if (plan.body === "none") return undefined;
  let piece = 0;
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      await scenario.clock.after(piece % 3);
      if (plan.body === "failing stream" && piece === 1) {
        run.streamError = new Error(`body stream of #${plan.id} failed`);
        throw run.streamError;
      }
      if (piece++ === 3) controller.close();
      else controller.enqueue(fill(1 + piece * 100));
    },
  });
}

/**
 * Makes request `run.plan` at its turn, aborts and reads it as planned,
 * and notes in `run` what happened.
 */
export async function runRequest(scenario: Scenario, run: Run): Promise<void> {
  const { plan } = run;
  const { client, clock } = scenario;
  const note = (text: string) => run.trace.push(`t${clock.turn} ${text}`);
  await clock.after(plan.start);
  run.issuedAfterClose = scenario.closeTurn !== undefined;
  const controller = plan.abort !== "none" || plan.read === "hold"
    ? new AbortController()
    : undefined;
  const fire = () => {
    if (!controller || controller.signal.aborted) return;
    run.abortSeq = scenario.seq++;
    run.abortTurn = clock.turn;
    note("abort");
    if (plan.defaultReason) controller.abort();
    else controller.abort(new Error(`abort #${plan.id}`));
    run.reason = controller.signal.reason;
    run.aborted.resolve();
  };
  if (plan.abort === "before") fire();
  if (plan.abort === "turn") clock.schedule(plan.abortTurns, fire);
  const request: HttpRequest = {
    method: plan.method,
    target: `/chaos/${plan.id}`,
    body: requestBody(scenario, run),
    signal: controller?.signal,
    reuseReadBuffer: plan.read === "reused buffer",
  };
  if (plan.idempotent) request.idempotent = true;
  if (plan.longLived) request.longLived = true;
  if (plan.reject !== "none") {
    request.rejectWith = (response) => {
      if (response.status < 400) return undefined;
      run.rejectError = new DockerError(`#${plan.id} answered ${response.status}`);
      const error = run.rejectError;
      note(`rejected ${response.status}`);
      return plan.reject === "unread"
        ? Promise.resolve(error)
        : response.discard().then(() => error);
    };
  }
  if (plan.headersTimeout !== undefined) request.headersTimeout = plan.headersTimeout;
  if (plan.bodyTimeout !== undefined) request.bodyTimeout = plan.bodyTimeout;
  const head = (response: HttpResponse) => {
    run.status = response.status;
    run.xId = response.headers.get("x-id");
    note(`head ${response.status}`);
    if (scenario.heads++ === scenario.closeAfter) clock.schedule(1, scenario.close);
    if (plan.abort === "head") fire();
  };
  note("request");
  try {
    if (plan.read.startsWith("reader")) {
      run.readerError = new Error(`reader of #${plan.id} refused`);
      const error = run.readerError;
      run.body = await client.request(
        request,
        {
          "reader": async (response: HttpResponse) => (head(response), await response.bytes()),
          "reader throws": (response: HttpResponse): Uint8Array => {
            head(response);
            throw error;
          },
          "reader rejects": async (response: HttpResponse): Promise<Uint8Array> => {
            head(response);
            await Promise.resolve();
            throw error;
          },
        }[plan.read as "reader"],
      );
    } else {
      const response = await client.request(request);
      head(response);
      await readBody(scenario, run, response, fire);
    }
    note("done");
  } catch (error) {
    run.error = error;
    run.errorSeq = scenario.seq++;
    note(`error ${describeError(error)}`);
  }
  run.settled = true;
  run.settleTurn = clock.turn;
}

async function readBody(
  scenario: Scenario,
  run: Run,
  response: HttpResponse,
  fire: () => void,
): Promise<void> {
  const { plan } = run;
  switch (plan.read) {
    case "bytes":
      run.body = await response.bytes();
      return;
    case "stream":
      run.body = concat(await Array.fromAsync(response.stream()));
      return;
    case "discard":
      await response.discard();
      return;
    case "hold":
      await Promise.race([scenario.clock.after(plan.abortTurns), run.aborted.promise]);
      fire();
      // Half the time nobody reads again: the abort alone must end the exchange.
      if (plan.abortTurns % 2 === 0) run.body = await response.bytes();
      else if (!response.finished) run.wrong = "an abort left an unread body's exchange open";
      return;
    case "late":
      // In a scenario that closes the client, half wait for that (or until
      // it is clear that their holding connections keeps it from coming).
      await Promise.race([
        plan.abortTurns % 2 === 1 && scenario.closing
          ? Promise.race([scenario.closing.promise, scenario.clock.after(2000)])
          : scenario.clock.after(plan.abortTurns),
        run.aborted.promise,
      ]);
      run.body = await response.bytes();
      return;
    case "cancel stream": {
      const reader = response.stream().getReader();
      const first = await reader.read();
      if (!first.done) run.partial.push(first.value.slice());
      await reader.cancel(new Error("enough"));
      if (!response.finished) run.wrong = "a cancelled body stream left the exchange open";
      return;
    }
    case "cancel": {
      for (let i = 0; i < plan.abortTurns % 2; i++) {
        const batch = await response.readBatch();
        if (batch === null) break;
        run.partial.push(...batch.map((piece) => piece.slice()));
      }
      const ended = response.finished;
      response.cancel(new Error("enough"));
      if (!response.finished) run.wrong = "cancel left the exchange open";
      const after = await response.readBatch().then((batch) => batch, () => "rejected");
      if (after !== "rejected" && !(ended && after === null)) {
        run.wrong = `a read after cancel gave ${after === null ? "a clean end" : "bytes"}`;
      }
      return;
    }
    default: {
      const parts: Uint8Array[] = [];
      let batch: Uint8Array[] | null;
      while ((batch = await response.readBatch()) !== null) {
        parts.push(...batch.map((piece) => piece.slice()));
        if (plan.abort === "body") fire();
      }
      run.body = concat(parts);
    }
  }
}
