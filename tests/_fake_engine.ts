/**
 * An in-process fake engine for unit tests: a Unix socket in a temp dir
 * whose handler reads requests and writes raw bytes, so tests can script
 * exactly what arrives on the wire (splits, truncation, bad framing).
 *
 * @module
 */

import { HttpClient, type HttpClientOptions } from "../src/http/client.ts";
import { createConnector, parseHost } from "../src/http/transport.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A request as the fake engine received it. */
export interface FakeRequest {
  method: string;
  target: string;
  headers: Record<string, string>;
  /** Every header line in order, names lowercased (repeated fields each on their own). */
  lines: [string, string][];
  body: Uint8Array;
}

/** The server side of one connection. */
export class FakeConnection {
  readonly conn: Deno.UnixConn;
  /** Raw bytes received from the client so far. */
  bytesRead = 0;
  /** Raw bytes written to the client so far. */
  bytesWritten = 0;
  #buffer: Uint8Array = new Uint8Array(0);
  #closed = false;

  constructor(conn: Deno.UnixConn) {
    this.conn = conn;
  }

  /** Reads one request (head and body: Content-Length or chunked); null at EOF. */
  async readRequest(): Promise<FakeRequest | null> {
    let end: number;
    while ((end = indexOfHeadEnd(this.#buffer)) === -1) {
      if (!(await this.#fill())) return null;
    }
    const head = decoder.decode(this.#buffer.subarray(0, end));
    this.#buffer = this.#buffer.subarray(end + 4);
    const [requestLine, ...lines] = head.split("\r\n");
    const [method = "", target = ""] = requestLine!.split(" ");
    const headers: Record<string, string> = {};
    const fields: [string, string][] = [];
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = value;
      fields.push([name, value]);
    }
    let body: Uint8Array = new Uint8Array(0);
    if (headers["content-length"]) {
      const length = Number(headers["content-length"]);
      while (this.#buffer.length < length) if (!(await this.#fill())) break;
      body = this.#buffer.slice(0, length);
      this.#buffer = this.#buffer.subarray(length);
    } else if (headers["transfer-encoding"] === "chunked") {
      const parts: Uint8Array[] = [];
      while (true) {
        let lineEnd: number;
        while ((lineEnd = indexOfCrlf(this.#buffer)) === -1) if (!(await this.#fill())) return null;
        const size = parseInt(decoder.decode(this.#buffer.subarray(0, lineEnd)), 16);
        this.#buffer = this.#buffer.subarray(lineEnd + 2);
        while (this.#buffer.length < size + 2) if (!(await this.#fill())) return null;
        if (size === 0) {
          this.#buffer = this.#buffer.subarray(2);
          break;
        }
        parts.push(this.#buffer.slice(0, size));
        this.#buffer = this.#buffer.subarray(size + 2);
      }
      body = concat(parts);
    }
    return { method, target, headers, lines: fields, body };
  }

  /**
   * Reads raw bytes after the request (a hijacked session's stdin): what is
   * buffered already, else one socket read.
   *
   * @returns The bytes, or `null` when the client closed its write side.
   */
  async readSome(): Promise<Uint8Array | null> {
    if (this.#buffer.length === 0 && !(await this.#fill())) return null;
    const bytes = this.#buffer;
    this.#buffer = new Uint8Array(0);
    return bytes;
  }

  /** Writes bytes or text as is. */
  async write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let offset = 0;
    while (offset < bytes.length) {
      const n = await this.conn.write(bytes.subarray(offset));
      offset += n;
      this.bytesWritten += n;
    }
  }

  /** Whether {@linkcode FakeConnection.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Waits until the client closes its side: reads (and drops) whatever
   * arrives until end of stream or a reset.
   *
   * @returns Whether the client closed or reset the connection (false when
   *   the read failed otherwise, e.g. because the engine closed it).
   */
  async waitForClientClose(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    while (true) {
      let n: number | null;
      try {
        n = await this.conn.read(chunk);
      } catch (error) {
        return error instanceof Deno.errors.ConnectionReset ||
          error instanceof Deno.errors.ConnectionAborted ||
          error instanceof Deno.errors.BrokenPipe;
      }
      if (n === null) return true;
      this.bytesRead += n;
    }
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch {
      return false;
    }
    if (n === null) return false;
    this.bytesRead += n;
    this.#buffer = concat([this.#buffer, chunk.subarray(0, n)]);
    return true;
  }
}

/** Handles one connection; runs until it returns. */
export type FakeHandler = (connection: FakeConnection, index: number) => Promise<void>;

/** A running fake engine. */
export interface FakeEngine extends AsyncDisposable {
  /** `unix:///…/engine.sock`. */
  host: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open now (accepted, handler not yet finished). */
  readonly open: number;
  /** Most connections that were open at once. */
  readonly maxOpen: number;
  /** Stops accepting, closes every connection, removes the socket dir. */
  close(): Promise<void>;
}

/**
 * Starts a fake engine; `handler` runs once per accepted connection.
 *
 * @param handler Reads requests and writes raw responses.
 * @returns The engine; dispose it (`await using`) at the end of the test.
 */
export async function startFakeEngine(handler: FakeHandler): Promise<FakeEngine> {
  const dir = await Deno.makeTempDir({ prefix: "berth-fake-" });
  const path = `${dir}/engine.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const open = new Set<FakeConnection>();
  const tasks = new Set<Promise<void>>();
  let count = 0;
  let maxOpen = 0;
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const connection = new FakeConnection(conn);
        open.add(connection);
        maxOpen = Math.max(maxOpen, open.size);
        const index = count++;
        const task = handler(connection, index).catch(() => {}).finally(() => {
          connection.close();
          open.delete(connection);
          tasks.delete(task);
        });
        tasks.add(task);
      }
    } catch {
      // Listener closed.
    }
  })();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    listener.close();
    for (const connection of open) connection.close();
    await accepting;
    await Promise.all([...tasks]);
    await Deno.remove(dir, { recursive: true });
  };
  return {
    host: `unix://${path}`,
    get connections() {
      return count;
    },
    get open() {
      return open.size;
    },
    get maxOpen() {
      return maxOpen;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * A handler that answers every request on a connection with the same
 * response, keeping the connection alive.
 *
 * @param respond Builds the raw response for a request.
 * @returns The handler.
 */
export function respondEach(respond: (request: FakeRequest) => string | Uint8Array): FakeHandler {
  return async (connection) => {
    while (true) {
      const request = await connection.readRequest();
      if (!request) return;
      await connection.write(respond(request));
    }
  };
}

/** Builds a raw HTTP/1.1 response with Content-Length. */
export function httpResponse(
  status: number,
  body: string | Uint8Array = "",
  headers: Record<string, string> = {},
): Uint8Array {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? "Status"}\r\n`;
  for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
  head += `Content-Length: ${bytes.length}\r\n\r\n`;
  return concat([encoder.encode(head), bytes]);
}

/** Encodes a body as chunks of the given sizes (the rest in one last chunk). */
export function chunked(body: Uint8Array, sizes: number[] = []): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const size of [...sizes, body.length]) {
    const piece = body.subarray(offset, Math.min(body.length, offset + size));
    if (piece.length === 0) continue;
    parts.push(encoder.encode(`${piece.length.toString(16)}\r\n`), piece, encoder.encode("\r\n"));
    offset += piece.length;
    if (offset >= body.length) break;
  }
  parts.push(encoder.encode("0\r\n\r\n"));
  return concat(parts);
}

/** Builds one Docker multiplexed frame. */
export function frame(stream: 0 | 1 | 2 | 3, payload: string | Uint8Array): Uint8Array {
  const data = typeof payload === "string" ? encoder.encode(payload) : payload;
  const out = new Uint8Array(8 + data.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, data.length);
  out.set(data, 8);
  return out;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  101: "UPGRADED",
  200: "OK",
  201: "Created",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  404: "Not Found",
  409: "Conflict",
  500: "Internal Server Error",
};

/** Joins byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function indexOfHeadEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i;
    }
  }
  return -1;
}

function indexOfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  return -1;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `predicate` every millisecond until it holds.
 *
 * @param predicate The condition to wait for.
 * @param timeout Milliseconds before giving up.
 * @throws {Error} When the condition does not hold within `timeout`.
 */
export async function waitFor(predicate: () => boolean, timeout = 2000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`Condition not met within ${timeout} ms`);
    await sleep(1);
  }
}

/** A connector to a fake engine that counts what the client reads from its sockets. */
export interface TappedConnector {
  /** Opens a new client socket to the engine (a `Connector`). */
  connect: () => Promise<Deno.Conn>;
  /** Raw bytes the client has read from all its sockets so far. */
  readonly bytesRead: number;
  /** Client sockets opened so far. */
  readonly opened: number;
  /**
   * Resolves once the client has read at least `total` bytes in all, or
   * closed every socket.
   */
  waitForRead(total: number): Promise<void>;
}

/**
 * Builds a connector to `host` (a fake engine's `unix://` address) whose
 * sockets count the bytes the client reads, so a server can wait until the
 * client has taken one write before sending the next (deterministic splits),
 * and a test can measure read-ahead.
 *
 * @param host The engine's `unix:///…` address.
 * @returns The tapped connector.
 */
export function tappedConnector(host: string): TappedConnector {
  const path = host.slice("unix://".length);
  let bytesRead = 0;
  let opened = 0;
  let live = 0;
  let waiters: { total: number; resolve: () => void }[] = [];
  const settle = () => {
    waiters = waiters.filter((waiter) => {
      if (bytesRead < waiter.total && live > 0) return true;
      waiter.resolve();
      return false;
    });
  };
  return {
    get bytesRead() {
      return bytesRead;
    },
    get opened() {
      return opened;
    },
    waitForRead(total) {
      return new Promise((resolve) => {
        waiters.push({ total, resolve });
        settle();
      });
    },
    async connect() {
      const conn = await Deno.connect({ transport: "unix", path });
      opened++;
      live++;
      let closed = false;
      return new Proxy(conn, {
        get(target, property) {
          if (property === "read") {
            return async (buffer: Uint8Array) => {
              const n = await target.read(buffer);
              if (n !== null) bytesRead += n;
              settle();
              return n;
            };
          }
          if (property === "close") {
            return () => {
              if (!closed) {
                closed = true;
                live--;
                settle();
              }
              target.close();
            };
          }
          const value = Reflect.get(target, property, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    },
  };
}

/**
 * Races `promise` against a deadline, clearing the timer either way, so a
 * test that would hang fails instead.
 *
 * @param promise What to wait for.
 * @param ms Milliseconds to wait at most.
 * @param what Named in the error.
 * @returns What `promise` resolved with.
 * @throws {Error} When `promise` has not settled within `ms`.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An HTTP client for a fake engine (1 s connect timeout, `Host: docker`).
 *
 * @param engine The engine.
 * @param options Client options to override.
 * @returns The client; close it when done.
 */
export function newClient(
  engine: FakeEngine,
  options: Partial<HttpClientOptions> = {},
): HttpClient {
  return new HttpClient({
    connect: createConnector(parseHost(engine.host), 1000),
    host: engine.host,
    hostHeader: "docker",
    ...options,
  });
}
