/**
 * An in-memory connection for the `HttpClient` fuzz tests: it serves
 * scripted responses, cut into pieces, one per request, then ends, is reset
 * or stalls; and the ways a test reads a response whole and checks what
 * the connection did next.
 *
 * @module
 */

import assert from "node:assert/strict";
import { HttpClient } from "../../src/http/client.ts";
import type { HttpResponse } from "../../src/http/response.ts";
import type { HeadLimits } from "../../src/http/response_head.ts";
import { concat } from "../_fake_engine.ts";
import { escaped, sameBytes } from "../_fuzz.ts";
import { InMemoryConn } from "./_in_memory_conn.ts";
import { bytesOf, latin1 } from "./_reference.ts";

/** Milliseconds one exchange case may take before it counts as a hang. */
export const CASE_DEADLINE = 2000;

export const NEXT = bytesOf("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext");

/** How a scripted connection goes on after its last response. */
export type ScriptEnd = "eof" | "stall" | "reset";

/**
 * An in-memory `Deno.Conn` serving scripted responses: response `k` (its
 * pieces one read each, cut further when a read buffer is smaller) is
 * served once `k + 1` requests were written. After the last one it ends the
 * stream, is reset, or stalls until closed (an engine keeping the socket
 * open). A read that has to wait (for a request, or forever) calls `onStall`.
 */
export class ScriptedConn extends InMemoryConn {
  readonly #responses: Uint8Array[][];
  readonly #end: ScriptEnd;
  #response = 0;
  #piece = 0;
  #offset = 0;
  #wake: (() => void) | undefined;
  /** Requests written (one write each: small bodiless requests). */
  requests = 0;
  /** Whether `close` was called. */
  closed = false;
  /** Set when a request came before the previous response was read whole. */
  earlyRequest = false;
  /** Runs (in a microtask) when a read has nothing to serve and waits. */
  onStall: (() => void) | undefined;
  /** Runs after each read that served bytes. */
  onServe: (() => void) | undefined;

  /**
   * @param responses The pieces of each response.
   * @param end What comes after the last response.
   */
  constructor(responses: Uint8Array[][], end: ScriptEnd = "eof") {
    super();
    this.#responses = responses;
    this.#end = end;
  }

  /** Serves the next bytes of the script. */
  async read(into: Uint8Array): Promise<number | null> {
    while (true) {
      if (this.closed) throw new Deno.errors.BadResource("Bad resource ID");
      if (this.#response < this.requests && this.#response < this.#responses.length) {
        const pieces = this.#responses[this.#response]!;
        if (this.#piece < pieces.length) {
          const piece = pieces[this.#piece]!;
          const n = Math.min(into.length, piece.length - this.#offset);
          into.set(piece.subarray(this.#offset, this.#offset + n));
          this.#offset += n;
          if (this.#offset === piece.length) {
            this.#piece++;
            this.#offset = 0;
          }
          this.onServe?.();
          return n;
        }
        this.#response++;
        this.#piece = 0;
        this.#offset = 0;
        continue;
      }
      if (this.#response >= this.#responses.length && this.#end !== "stall") {
        if (this.#end === "eof") return null;
        throw new Deno.errors.ConnectionReset("Connection reset by peer (os error 104)");
      }
      // Nothing to serve until the next request (or ever): the client waits.
      queueMicrotask(() => this.onStall?.());
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  /** Takes a request whole. */
  write(bytes: Uint8Array): Promise<number> {
    if (this.closed) return Promise.reject(new Deno.errors.BadResource("Bad resource ID"));
    const previous = this.requests - 1;
    if (previous >= 0 && previous < this.#responses.length) {
      const done = this.#response > previous ||
        this.#piece === this.#responses[previous]!.length;
      if (!done) this.earlyRequest = true;
    }
    this.requests++;
    this.#wake?.();
    return Promise.resolve(bytes.length);
  }

  /** Closes; a pending read fails as Deno's would. */
  close(): void {
    this.closed = true;
    this.#wake?.();
  }
}

/** A client whose first connection is `first`; later ones answer `next`. */
export interface ScriptedClient {
  client: HttpClient;
  /** Every connection handed out, in order. */
  conns: ScriptedConn[];
}

/**
 * An `HttpClient` over scripted connections, with no timeouts of its own
 * (each case is bounded by the test instead).
 *
 * @param first The first connection.
 * @param limits Head limits.
 * @returns The client and its connections.
 */
export function scriptedClient(first: ScriptedConn, limits: HeadLimits): ScriptedClient {
  const conns: ScriptedConn[] = [];
  const client = new HttpClient({
    connect: () => {
      const conn = conns.length === 0 ? first : new ScriptedConn([[NEXT], [NEXT]]);
      conns.push(conn);
      return Promise.resolve(conn.conn);
    },
    host: "fuzz://engine",
    hostHeader: "docker",
    headersTimeout: 0,
    bodyTimeout: 0,
    ...limits,
  });
  return { client, conns };
}

/** A response read to its end. */
export interface Received {
  status: number;
  reason: string;
  fields: Record<string, string>;
  body: Uint8Array;
}

/** How a test reads a response's body. */
export type ReadMode = "bytes" | "stream" | "batches" | "reused buffer" | "reader";
export const READ_MODES: readonly ReadMode[] = [
  "bytes",
  "stream",
  "batches",
  "reused buffer",
  "reader",
];

/** The parts of a response the tests compare, body given. */
function received(response: HttpResponse, body: Uint8Array): Received {
  return {
    status: response.status,
    reason: response.statusText,
    fields: response.headers.toObject(),
    body,
  };
}

/**
 * Sends `method /fuzz` and reads the response whole, one of five ways (one
 * of them copies each batch, as `reuseReadBuffer` asks of its consumer).
 *
 * @param client The client.
 * @param method GET, HEAD or POST (without a body).
 * @param mode How the body is read.
 * @param signal Aborts the call.
 * @returns The response.
 */
export async function requestWhole(
  client: HttpClient,
  method: string,
  mode: ReadMode,
  signal?: AbortSignal,
): Promise<Received> {
  const reuseReadBuffer = mode === "reused buffer";
  const request = { method, target: "/fuzz", signal, reuseReadBuffer };
  if (mode === "reader") {
    return await client.request(
      request,
      async (response) => received(response, await response.bytes()),
    );
  }
  const response = await client.request(request);
  if (mode === "bytes") return received(response, await response.bytes());
  if (mode === "stream") {
    return received(response, concat(await Array.fromAsync(response.stream())));
  }
  const parts: Uint8Array[] = [];
  let batch: Uint8Array[] | null;
  while ((batch = await response.readBatch()) !== null) {
    assert.ok(batch.length > 0 && batch.every((part) => part.length > 0), "empty batch or piece");
    parts.push(...(reuseReadBuffer ? batch.map((part) => part.slice()) : batch));
  }
  return received(response, concat(parts));
}

/**
 * What differs between a response and the reference's, if anything.
 *
 * @returns A description, or `undefined` when they agree.
 */
export function difference(got: Received, want: Received): string | undefined {
  if (got.status !== want.status) return `status ${got.status}, want ${want.status}`;
  if (got.reason !== want.reason) {
    return `reason ${JSON.stringify(got.reason)}, want ${JSON.stringify(want.reason)}`;
  }
  const gotFields = JSON.stringify(got.fields);
  const wantFields = JSON.stringify(want.fields);
  if (gotFields !== wantFields) return `fields ${gotFields}, want ${wantFields}`;
  if (!sameBytes(got.body, want.body)) {
    let at = 0;
    while (at < got.body.length && got.body[at] === want.body[at]) at++;
    return `body of ${got.body.length} bytes, want ${want.body.length}; first difference at ${at}: ${
      escaped(got.body.subarray(at, at + 40))
    } vs ${escaped(want.body.subarray(at, at + 40))}`;
  }
  return undefined;
}

/**
 * Asserts that the connection after a response goes as it must: a second
 * request gets `next`, on the first connection only when `reused` says so.
 *
 * @param scripted The client.
 * @param reused Whether the first connection must carry it.
 * @param where For messages.
 * @param earlier Requests the first connection carried before the one checked.
 */
export async function checkNextRequest(
  scripted: ScriptedClient,
  reused: boolean,
  where: string,
  earlier = 0,
): Promise<void> {
  const next = await scripted.client.request({ method: "GET", target: "/next" });
  assert.equal(next.status, 200, where);
  assert.equal(latin1(await next.bytes()), "next", where);
  const first = scripted.conns[0]!;
  assert.equal(
    first.requests,
    earlier + (reused ? 2 : 1),
    `${where}: requests on the first connection`,
  );
  assert.equal(scripted.conns.length, reused ? 1 : 2, `${where}: connections opened`);
  assert.equal(first.closed, !reused, `${where}: first connection closed`);
  assert.ok(!first.earlyRequest, `${where}: a request was sent before the response was read whole`);
}
