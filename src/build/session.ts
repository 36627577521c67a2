/**
 * The BuildKit session: the channel through which a BuildKit build asks
 * the client for what only the client has. `POST /session` upgrades a
 * connection to HTTP/2 (`h2c`); the engine then acts as its HTTP/2 client
 * and calls gRPC methods that berth serves:
 *
 * - `grpc.health.v1.Health/Check`: the engine's keep-alive probe;
 * - `moby.filesync.v1.Auth/Credentials`: registry credentials for a host
 *   (for `FROM` images and cache imports of registries that need a login);
 * - `moby.buildkit.secrets.v1.Secrets/GetSecret`: the value of a secret
 *   for `RUN --mount=type=secret,id=…`;
 * - `moby.sshforward.v1.SSH/CheckAgent` and `SSH/ForwardAgent` (a
 *   bidirectional stream per connection to the mounted socket): SSH agent
 *   forwarding for `RUN --mount=type=ssh[,id=…]`, read-only (see
 *   `_ssh_agent.ts`);
 * - `moby.filesync.v1.FileSend/DiffCopy` (a stream of the exporter's
 *   bytes): the build's output as a tar archive (`outputs` of type `tar`);
 * - `moby.filesync.v1.FileSync/DiffCopy`: a directory of the client's
 *   (the context, the Dockerfile's directory) in fsutil's protocol (see
 *   `filesync.ts`), for a build whose context is `client-session`.
 *
 * Anything else answers `UNIMPLEMENTED`, such as directory outputs in
 * fsutil's own protocol (berth asks for a tar and unpacks it itself).
 * Without agents, measured on Docker 20.10: a `RUN --mount=type=ssh` step
 * runs without an agent, and one marked `required=true` fails with
 * `no SSH key "" forwarded from the client`.
 *
 * @module
 */

import { type RegistryAuth, registryKey } from "../auth.ts";
import type { Connection } from "../http/connection.ts";
import { fieldValue } from "../http2/_fields.ts";
import {
  type Http2Exchange,
  type Http2Request,
  type Http2Response,
  type Http2Server,
  type Http2StreamHandler,
  serveHttp2,
} from "../http2/server.ts";
import { fields, ProtobufError, Reader, WIRE_BYTES, Writer } from "./_protobuf.ts";
import { grpcFrame } from "./_grpc.ts";
import { AgentRelayError, relayAgent } from "./_ssh_agent.ts";
import { sendDirectory, type SyncedDirectory } from "./filesync.ts";

/** What a session serves. */
export interface BuildSessionSources {
  /** Secrets by id, for `RUN --mount=type=secret,id=<id>`. */
  secrets?: Record<string, string | Uint8Array> | undefined;
  /**
   * Finds the credentials for a registry host (`registry.example.com:5000`,
   * `registry-1.docker.io` for Docker Hub).
   */
  credentials?: ((host: string) => Promise<RegistryAuth | undefined>) | undefined;
  /**
   * SSH agents by id (`default` for a mount that names none): the path of
   * each agent's Unix socket.
   */
  ssh?: Record<string, string> | undefined;
  /**
   * Takes the build's output (a tar archive, in pieces as the engine sends
   * them) and settles once it is stored; a rejection fails the export, and
   * so the build, with its message. Called at most once.
   */
  output?: ((archive: AsyncIterable<Uint8Array>) => Promise<void>) | undefined;
  /**
   * Directories the build may read, by the name it asks for (`context`,
   * `dockerfile`).
   */
  directories?: Record<string, SyncedDirectory> | undefined;
}

/** gRPC status codes berth answers with. */
const enum GrpcStatus {
  Ok = 0,
  InvalidArgument = 3,
  NotFound = 5,
  AlreadyExists = 6,
  Internal = 13,
  Unimplemented = 12,
  Unavailable = 14,
}

const HEALTH_METHOD = "/grpc.health.v1.Health/Check";
/** The registry-credentials method. */
export const CREDENTIALS_METHOD = "/moby.filesync.v1.Auth/Credentials";
const SECRET_METHOD = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
const CHECK_AGENT_METHOD = "/moby.sshforward.v1.SSH/CheckAgent";
const FORWARD_AGENT_METHOD = "/moby.sshforward.v1.SSH/ForwardAgent";
const OUTPUT_METHOD = "/moby.filesync.v1.FileSend/DiffCopy";
const SYNC_METHOD = "/moby.filesync.v1.FileSync/DiffCopy";
/** The gRPC metadata field that names the agent a forwarded connection is for. */
const SSH_ID_FIELD = "buildkit.ssh.id";
/** Largest message of a streaming call (the engine sends at most 32 KiB at a time). */
const MAX_STREAM_MESSAGE = 4 * 1024 * 1024;

/**
 * The methods a session announces when it opens (the engine asks some
 * features only of clients that list them, such as outputs).
 *
 * @param sources What the session serves.
 * @returns gRPC method paths.
 */
export function sessionMethods(sources: BuildSessionSources): string[] {
  const methods = [HEALTH_METHOD, CREDENTIALS_METHOD, SECRET_METHOD];
  if (sources.ssh !== undefined) methods.push(CHECK_AGENT_METHOD, FORWARD_AGENT_METHOD);
  if (sources.output !== undefined) methods.push(OUTPUT_METHOD);
  if (sources.directories !== undefined) methods.push(SYNC_METHOD);
  return methods;
}

class GrpcError extends Error {
  constructor(readonly status: GrpcStatus, message: string) {
    super(message);
  }
}

/** The one message of a unary call's body (5-byte prefix: compressed flag, length). */
function grpcMessage(body: Uint8Array): Uint8Array {
  if (body.length < 5) throw new GrpcError(GrpcStatus.InvalidArgument, "no gRPC message");
  if (body[0] !== 0) {
    throw new GrpcError(GrpcStatus.Unimplemented, "compressed gRPC messages are not supported");
  }
  const length = new DataView(body.buffer, body.byteOffset, body.length).getUint32(1);
  if (length !== body.length - 5) {
    throw new GrpcError(GrpcStatus.InvalidArgument, "the gRPC message length does not match");
  }
  return body.subarray(5);
}

const GRPC_HEAD: [string, string][] = [["content-type", "application/grpc"]];

/** A unary call's answer: the message framed, then `grpc-status: 0`. */
function ok(message: Uint8Array): Http2Response {
  return {
    headers: GRPC_HEAD,
    body: grpcFrame(message),
    trailers: [["grpc-status", "0"]],
  };
}

function failed(status: GrpcStatus, message: string): Http2Response {
  return { headers: GRPC_HEAD, trailers: failure(status, message) };
}

/** The trailers of a failed call. */
function failure(status: GrpcStatus, message: string): [string, string][] {
  return [["grpc-status", String(status)], ["grpc-message", encodeURIComponent(message)]];
}

/**
 * The messages of a streaming call's body, each without its prefix.
 *
 * @throws {GrpcError} For a compressed or oversized message, or a body
 *   that ends inside one.
 */
async function* grpcMessages(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  // Pieces wait in a list: each byte is copied at most once, into the one
  // message it belongs to (joining on every piece is quadratic when a
  // message comes in many small frames).
  const pieces: Uint8Array[] = [];
  let buffered = 0;
  const take = (count: number): Uint8Array => {
    // An empty message (proto3 leaves out empty fields) may end a piece.
    if (count === 0) return new Uint8Array(0);
    buffered -= count;
    const first = pieces[0]!;
    if (first.length >= count) {
      if (first.length === count) pieces.shift();
      else pieces[0] = first.subarray(count);
      return first.subarray(0, count);
    }
    const out = new Uint8Array(count);
    for (let at = 0; at < count;) {
      const piece = pieces[0]!;
      const n = Math.min(piece.length, count - at);
      out.set(piece.subarray(0, n), at);
      at += n;
      if (n === piece.length) pieces.shift();
      else pieces[0] = piece.subarray(n);
    }
    return out;
  };
  let length: number | undefined;
  for await (const piece of body) {
    pieces.push(piece);
    buffered += piece.length;
    for (;;) {
      if (length === undefined) {
        if (buffered < 5) break;
        const prefix = take(5);
        if (prefix[0] !== 0) {
          throw new GrpcError(
            GrpcStatus.Unimplemented,
            "compressed gRPC messages are not supported",
          );
        }
        length = new DataView(prefix.buffer, prefix.byteOffset, 5).getUint32(1);
        if (length > MAX_STREAM_MESSAGE) {
          throw new GrpcError(GrpcStatus.InvalidArgument, `a gRPC message of ${length} bytes`);
        }
      }
      if (buffered < length) break;
      yield take(length);
      length = undefined;
    }
  }
  if (buffered > 0 || length !== undefined) {
    throw new GrpcError(GrpcStatus.InvalidArgument, "the call ended inside a gRPC message");
  }
}

/** The `data` field (1) of each `BytesMessage` of a stream. */
async function* bytesMessages(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const message of grpcMessages(body)) {
    const data = firstField(message, (part) => part.bytes(), new Uint8Array(0));
    if (data.length > 0) yield data;
  }
}

/**
 * Serves a streaming call: `work` gets the request's bytes and a way to
 * answer; the call ends with its outcome as the gRPC status.
 */
function streamingCall(
  work: (
    exchange: Http2Exchange,
    send: (data: Uint8Array) => Promise<void>,
  ) => Promise<void>,
  failing: (error: unknown) => string,
): Http2StreamHandler {
  return async (exchange) => {
    exchange.respond(200, GRPC_HEAD);
    let trailers: [string, string][] = [["grpc-status", "0"]];
    try {
      await work(
        exchange,
        (data) => exchange.write(grpcFrame(new Writer().bytes(1, data).finish())),
      );
    } catch (error) {
      if (exchange.signal.aborted) return; // Reset or gone: nobody to tell.
      trailers = error instanceof GrpcError
        ? failure(error.status, error.message)
        : error instanceof AgentRelayError
        ? failure(GrpcStatus.Unavailable, error.message)
        : failure(GrpcStatus.Internal, failing(error));
      await exchange.body.cancel().catch(() => {});
    }
    await exchange.end(trailers);
  };
}

/** What the engine is told of an unexpected failure (the build fails with it). */
function failing(what: string): (error: unknown) => string {
  return (error) => `berth could not ${what}: ${error instanceof Error ? error.message : error}`;
}

/**
 * The session's streaming calls.
 *
 * @param sources What the session serves.
 * @returns The `streaming` option of `serveHttp2`.
 */
function streamingHandlers(
  sources: BuildSessionSources,
): (path: string) => Http2StreamHandler | undefined {
  let outputTaken = false;
  const agents = sources.ssh;
  const output = sources.output;
  const forward = agents === undefined ? undefined : streamingCall(async (exchange, send) => {
    const id = fieldValue(exchange.headers, SSH_ID_FIELD) || "default";
    const socket = Object.hasOwn(agents, id) ? agents[id] : undefined;
    if (socket === undefined) {
      throw new GrpcError(GrpcStatus.NotFound, `unset ssh forward key ${id}`);
    }
    await relayAgent(bytesMessages(exchange.body), socket, send);
  }, failing("forward the SSH agent"));
  const receive = output === undefined ? undefined : streamingCall(async (exchange) => {
    if (outputTaken) throw new GrpcError(GrpcStatus.AlreadyExists, "target already exists");
    outputTaken = true;
    await output(bytesMessages(exchange.body));
  }, failing("store the build output"));
  const directories = sources.directories;
  const sync = directories === undefined ? undefined : streamingCall(async (exchange) => {
    const name = fieldValue(exchange.headers, "dir-name") ?? "";
    const directory = Object.hasOwn(directories, name) ? directories[name] : undefined;
    if (directory === undefined) {
      throw new GrpcError(GrpcStatus.NotFound, `no access allowed to dir ${JSON.stringify(name)}`);
    }
    // Metadata with several values comes as one field line per value.
    const listed = (field: string) => {
      const values = exchange.headers.filter(([key]) => key === field).map(([, value]) => value);
      return values.length > 0 ? values : undefined;
    };
    // Read here rather than by iterating the body, so that a failed walk
    // can end the read at once.
    const reader = exchange.body.getReader();
    const pieces = (async function* () {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        yield next.value;
      }
    })();
    await sendDirectory(
      directory,
      {
        includes: listed("include-patterns"),
        excludes: listed("exclude-patterns"),
        followPaths: listed("followpaths"),
        overrideExcludes: fieldValue(exchange.headers, "override-excludes") === "true",
      },
      grpcMessages(pieces),
      (framed) => exchange.write(framed),
      (reason) => void reader.cancel(reason).catch(() => {}),
    );
  }, failing("send the files"));
  return (path) =>
    path === FORWARD_AGENT_METHOD
      ? forward
      : path === OUTPUT_METHOD
      ? receive
      : path === SYNC_METHOD
      ? sync
      : undefined;
}

/** The string field 1 of a request message (the host, the secret id). */
function firstString(message: Uint8Array): string {
  return firstField(message, (part) => part.string(), "");
}

/**
 * Field 1 of a message (every message the session reads carries its one
 * value there), or `empty` when absent.
 *
 * @throws {GrpcError} `INVALID_ARGUMENT` for a malformed message.
 */
function firstField<T>(message: Uint8Array, read: (part: Reader) => T, empty: T): T {
  let value = empty;
  try {
    fields(new Reader(message), { 1: WIRE_BYTES }, (_field, part) => value = read(part));
  } catch (error) {
    if (error instanceof ProtobufError) {
      throw new GrpcError(GrpcStatus.InvalidArgument, `malformed message: ${error.message}`);
    }
    throw error;
  }
  return value;
}

/**
 * Answers the session's gRPC calls from `sources`.
 *
 * @param sources Secrets and credentials.
 * @returns The HTTP/2 request handler.
 */
export function sessionHandler(
  sources: BuildSessionSources,
): (request: Http2Request) => Promise<Http2Response> {
  return async (request) => {
    try {
      if (request.method !== "POST") {
        throw new GrpcError(GrpcStatus.Unimplemented, `${request.method} is not a gRPC call`);
      }
      switch (request.path) {
        case HEALTH_METHOD:
          grpcMessage(request.body);
          return ok(new Writer().varint(1, 1).finish()); // SERVING
        case CREDENTIALS_METHOD: {
          const host = firstString(grpcMessage(request.body));
          const auth = host === "" ? undefined : await sources.credentials?.(host);
          const reply = new Writer();
          if (auth?.identitytoken) reply.bytes(2, auth.identitytoken);
          else if (auth) reply.bytes(1, auth.username ?? "").bytes(2, auth.password ?? "");
          return ok(reply.finish());
        }
        case SECRET_METHOD: {
          const id = firstString(grpcMessage(request.body));
          const secret = sources.secrets !== undefined && Object.hasOwn(sources.secrets, id)
            ? sources.secrets[id]
            : undefined;
          if (secret === undefined) {
            throw new GrpcError(GrpcStatus.NotFound, `secret ${id} not found`);
          }
          return ok(new Writer().bytes(1, secret).finish());
        }
        case CHECK_AGENT_METHOD: {
          if (sources.ssh === undefined) break;
          const id = firstString(grpcMessage(request.body)) || "default";
          if (!Object.hasOwn(sources.ssh, id)) {
            throw new GrpcError(GrpcStatus.NotFound, `unset ssh forward key ${id}`);
          }
          return ok(new Uint8Array(0));
        }
      }
      throw new GrpcError(GrpcStatus.Unimplemented, `${request.path} is not served by berth`);
    } catch (error) {
      if (error instanceof GrpcError) return failed(error.status, error.message);
      // A credential store failure: the engine sees an error, never the details.
      return failed(GrpcStatus.Internal, "berth could not answer");
    }
  };
}

/**
 * Registry credentials by host from a map keyed like `X-Registry-Config`
 * (any form `registryKey` understands).
 *
 * @param map Credentials by registry.
 * @returns A lookup for {@linkcode BuildSessionSources.credentials}.
 */
export function credentialsFromMap(
  map: Record<string, RegistryAuth>,
): (host: string) => Promise<RegistryAuth | undefined> {
  const byKey = new Map<string, RegistryAuth>();
  for (const [registry, auth] of Object.entries(map)) byKey.set(registryKey(registry), auth);
  return (host) => Promise.resolve(byKey.get(registryKey(host)));
}

/** An open session. */
export interface BuildSession {
  /** The id the build names in its `session` parameter. */
  readonly id: string;
  /** Ends the session (idempotent). */
  close(): void;
}

/**
 * Starts serving a session over a connection the engine upgraded.
 *
 * @param id The session id sent with `POST /session`.
 * @param connection The upgraded connection.
 * @param sources Secrets and credentials.
 * @returns The session.
 */
export function startSession(
  id: string,
  connection: Connection,
  sources: BuildSessionSources,
): BuildSession {
  // How the session ends is the build's business: a broken session fails
  // the build with the engine's message.
  const server: Http2Server = serveHttp2(connection, sessionHandler(sources), {
    maxRequestBody: 1024 * 1024,
    streaming: streamingHandlers(sources),
    // Outputs are bulk data. Measured with bench/build_output_report.ts, as
    // a share of the engine's own export rate: 256 KiB windows 0.75–0.79×,
    // 1 MiB 0.87–1.00× (a slow reader then holds 1 MiB per stream).
    initialWindowSize: 1024 * 1024,
  });
  return { id, close: () => server.close() };
}
