/**
 * The chaos harness the stream and session chaos tests share: a runner
 * that names each failing scenario by seed and index with a trace of what
 * happened, the invariants every scenario checks (output exact and in
 * order up to a failure, failures typed, nothing left open, no unhandled
 * rejection), and an engine-side request reader that can leave the last
 * byte of a request unread, so that closing then resets the connection.
 *
 * Every random choice of a scenario is drawn before it starts (its plan):
 * engine and consumer run concurrently, so a draw during the run would
 * depend on timing, and the seed would no longer replay the scenario.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DockerError } from "../../src/errors.ts";
import { describeError, fuzzCase, type Random } from "../_fuzz.ts";
import { concat, type FakeEngine, sleep, withDeadline } from "../_fake_engine.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Most one scenario may take: past it, something hangs. */
export const SCENARIO_MS = 4000;
/** How long the engine may take to see a connection the client gave up on close. */
export const CLOSE_MS = 1000;

export const MULTIPLEXED = "application/vnd.docker.multiplexed-stream";
export const RAW = "application/vnd.docker.raw-stream";

// ---------------------------------------------------------------------------
// Running and naming scenarios
// ---------------------------------------------------------------------------

/** What happened in a scenario, in order, for the failure message. */
export class Trace {
  readonly #events: string[] = [];
  readonly #start = performance.now();

  /** @param event What happened. */
  log(event: string): void {
    this.#events.push(`${(performance.now() - this.#start).toFixed(1)} ms ${event}`);
  }

  /** @returns The last 40 events, one a line. */
  toString(): string {
    const events = this.#events;
    return (events.length > 40 ? ["…", ...events.slice(-40)] : events).join("\n    ");
  }
}

/**
 * Runs `count` seeded scenarios one after the other (`BERTH_CHAOS_CASE=n`
 * runs only scenario `n`). Each is bounded by {@linkcode SCENARIO_MS}; an
 * unhandled rejection during one fails it. A failure names the seed, the
 * scenario and its trace.
 *
 * @param name The test, for the label.
 * @param salt A number of the test's own.
 * @param count How many scenarios.
 * @param run One scenario.
 */
export async function chaos(
  name: string,
  salt: number,
  count: number,
  run: (random: Random, trace: Trace) => Promise<void>,
): Promise<void> {
  const only = Deno.env.get("BERTH_CHAOS_CASE");
  const unhandled: unknown[] = [];
  const onUnhandled = (event: PromiseRejectionEvent) => {
    event.preventDefault();
    unhandled.push(event.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  try {
    for (let index = 0; index < count; index++) {
      if (only !== undefined && Number(only) !== index) continue;
      const { random, label } = fuzzCase(salt, index, name);
      const trace = new Trace();
      try {
        await withDeadline(run(random, trace), SCENARIO_MS, "the scenario");
        // Rejections are reported after the microtasks of the turn that made them.
        await sleep(0);
        if (unhandled.length > 0) {
          throw new Error(`unhandled rejection: ${describeError(unhandled[0])}`);
        }
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        throw new Error(`Chaos scenario failed (${label}): ${why}\n  trace:\n    ${trace}`, {
          cause: error,
        });
      }
    }
  } finally {
    globalThis.removeEventListener("unhandledrejection", onUnhandled);
  }
}

// ---------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------

/** Output as the reader sees it: runs of one stream, adjacent runs merged. */
export interface Run {
  stream: string;
  data: Uint8Array;
}

/**
 * Merges output pieces into runs (adjacent pieces of one stream joined,
 * empty ones dropped), so that how the bytes were cut does not matter.
 *
 * @param pieces Frames or other tagged pieces, in order.
 * @returns The runs.
 */
export function runsOf(pieces: readonly Run[]): Run[] {
  const runs: { stream: string; parts: Uint8Array[] }[] = [];
  for (const piece of pieces) {
    if (piece.data.length === 0) continue;
    const last = runs.at(-1);
    if (last?.stream === piece.stream) last.parts.push(piece.data);
    else runs.push({ stream: piece.stream, parts: [piece.data] });
  }
  return runs.map((run) => ({ stream: run.stream, data: concat(run.parts) }));
}

/** Where two byte arrays first differ (`-1`: one is a prefix of the other). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

/**
 * Fails unless the output read is a prefix of the output sent (or all of
 * it, with `whole`): same streams, same bytes, same order.
 *
 * @param read What the consumer got.
 * @param sent What the engine sent (or meant to).
 * @param whole Whether all of it must have arrived.
 */
export function assertRunsPrefix(read: readonly Run[], sent: readonly Run[], whole: boolean): void {
  const got = runsOf(read);
  const want = runsOf(sent);
  const total = (runs: Run[]) => runs.reduce((sum, run) => sum + run.data.length, 0);
  const summary = `read ${got.length} runs (${total(got)} bytes), sent ${want.length} runs (${
    total(want)
  } bytes)`;
  assert.ok(got.length <= want.length, `more output than sent: ${summary}`);
  for (let i = 0; i < got.length; i++) {
    const a = got[i]!;
    const b = want[i]!;
    assert.equal(a.stream, b.stream, `run ${i} is ${a.stream}, sent ${b.stream}: ${summary}`);
    const last = i === got.length - 1;
    const differs = firstDifference(a.data, b.data);
    assert.ok(
      differs === -1 && (last ? a.data.length <= b.data.length : a.data.length === b.data.length),
      `run ${i} (${a.stream}) differs at byte ${differs} or in length (${a.data.length} vs ${b.data.length}): ${summary}`,
    );
  }
  if (whole) {
    const complete = got.length === want.length &&
      (got.length === 0 || got.at(-1)!.data.length === want.at(-1)!.data.length);
    assert.ok(complete, `output lost: ${summary}`);
  }
}

/**
 * Fails unless the values read are the first values sent (or all, with `whole`).
 *
 * @param read What the consumer got.
 * @param sent What the engine sent.
 * @param whole Whether all of it must have arrived.
 */
export function assertValuesPrefix(read: unknown[], sent: unknown[], whole: boolean): void {
  assert.ok(read.length <= sent.length, `read ${read.length} values, sent ${sent.length}`);
  assert.deepEqual(read, sent.slice(0, read.length), "values differ from those sent");
  if (whole) assert.equal(read.length, sent.length, `values lost: read ${read.length}`);
}

/**
 * Fails unless a failure is a `DockerError`, or `reason` itself.
 *
 * @param error What a read, write or result rejected with (`undefined`: nothing).
 * @param what What failed, for the message.
 * @param reason The abort reason, when the scenario aborted.
 */
export function assertTypedFailure(error: unknown, what: string, reason?: unknown): void {
  if (error === undefined || (reason !== undefined && error === reason)) return;
  assert.ok(
    error instanceof DockerError,
    `${what} failed with ${describeError(error)}, not a DockerError${
      reason !== undefined ? " or the abort reason" : ""
    }${error instanceof Error ? `\n${error.stack}` : ""}`,
  );
}

/**
 * Closes the client, then fails unless the engine sees every connection
 * close (a socket, or a worker holding one, left open).
 *
 * @param docker The client.
 * @param engine Its engine.
 * @param trace The scenario's trace.
 */
export async function closeAll(
  docker: { close(): Promise<void> },
  engine: FakeEngine,
  trace: Trace,
): Promise<void> {
  await withDeadline(docker.close(), CLOSE_MS, "docker.close()");
  const deadline = Date.now() + CLOSE_MS;
  while (engine.open > 0) {
    if (Date.now() > deadline) {
      throw new Error(`${engine.open} connections still open after docker.close()`);
    }
    await sleep(1);
  }
  trace.log("closed: no connection left");
}

// ---------------------------------------------------------------------------
// The engine side
// ---------------------------------------------------------------------------

/** A request head as the engine read it. */
export interface RequestHead {
  method: string;
  target: string;
  path: string;
}

/**
 * Reads request heads from a raw socket, without the fake engine's buffer,
 * so that a request can be left partly unread: closing a Unix socket with
 * unread bytes resets the connection. The requests of these scenarios have
 * no bodies, and the client never sends the next before the answer.
 */
export class HeadReader {
  readonly #conn: Deno.Conn;
  #buffer: Uint8Array = new Uint8Array(0);

  /** @param conn The engine's side of the connection. */
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /**
   * Reads the next request head.
   *
   * @param bytewise Read one byte at a time (needed to leave a byte unread).
   * @param leaveLast With `bytewise`: called with the request's path; when
   *   it returns true, the final LF of the head is left unread.
   * @returns The head, or `null` when the client closed (or reset) the connection.
   */
  async read(
    bytewise = false,
    leaveLast: (path: string) => boolean = () => false,
  ): Promise<RequestHead | null> {
    let head: RequestHead | undefined;
    let leave = false;
    while (true) {
      const text = decoder.decode(this.#buffer);
      if (head === undefined && text.includes("\r\n")) {
        const [method = "", target = ""] = text.slice(0, text.indexOf("\r\n")).split(" ");
        head = { method, target, path: target.replace(/^\/v[\d.]+/, "").split("?")[0]! };
        leave = bytewise && leaveLast(head.path);
      }
      const end = text.indexOf("\r\n\r\n");
      if (end !== -1) {
        this.#buffer = this.#buffer.subarray(end + 4);
        return head!;
      }
      if (leave && text.endsWith("\r\n\r")) {
        this.#buffer = new Uint8Array(0);
        return head!;
      }
      const chunk = new Uint8Array(bytewise ? 1 : 4096);
      let n: number | null;
      try {
        n = await this.#conn.read(chunk);
      } catch {
        return null;
      }
      if (n === null) return null;
      this.#buffer = concat([this.#buffer, chunk.subarray(0, n)]);
    }
  }
}

/**
 * A JSON answer with Content-Length (keep-alive).
 *
 * @param value The body.
 * @returns The raw response.
 */
export function jsonAnswer(value: unknown): Uint8Array {
  const body = encoder.encode(JSON.stringify(value));
  return concat([
    encoder.encode(
      `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
}

/**
 * The answers of the calls around a stream: version negotiation, ping,
 * and the container or exec inspect of a TTY lookup.
 *
 * @param path The request path (no version prefix, no query).
 * @param tty What an inspect reports as `Config.Tty`.
 * @returns The raw response, or `undefined` when the path is none of those.
 */
export function sideAnswer(path: string, tty: boolean): Uint8Array | undefined {
  if (path === "/version") return jsonAnswer({ ApiVersion: "1.41", MinAPIVersion: "1.24" });
  if (path === "/_ping") {
    return encoder.encode(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK",
    );
  }
  if (/^\/containers\/[^/]+\/json$/.test(path)) {
    return jsonAnswer({ Id: "web", Config: { Tty: tty } });
  }
  return undefined;
}

/**
 * Writes pieces with the delays drawn for them (0: none; otherwise a
 * timer of that many milliseconds less one, so 1 is a bare macrotask).
 *
 * @param write Writes one piece.
 * @param pieces What to write, in order.
 * @param delays A delay per piece.
 */
export async function writePieces(
  write: (piece: Uint8Array) => Promise<void>,
  pieces: readonly Uint8Array[],
  delays: readonly number[],
): Promise<void> {
  for (let i = 0; i < pieces.length; i++) {
    await write(pieces[i]!);
    const delay = delays[i % delays.length] ?? 0;
    if (delay > 0) await sleep(delay - 1);
  }
}

/**
 * Delays for written pieces: none, some, or one after every piece.
 *
 * @param random The plan's random source.
 * @param count How many.
 * @returns The delays ({@linkcode writePieces}).
 */
export function drawDelays(random: Random, count: number): number[] {
  const often = random.pick([0, 0, 0.25, 1]);
  return Array.from({ length: count }, () => random.next() < often ? 1 + random.int(3) : 0);
}
