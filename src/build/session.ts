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
 *   for `RUN --mount=type=secret,id=…`.
 *
 * Anything else answers `UNIMPLEMENTED`: SSH agent forwarding (measured
 * on Docker 20.10: a `RUN --mount=type=ssh` step runs without an agent,
 * and one marked `required=true` fails with `no SSH key "" forwarded from
 * the client`), file transfers for `--output`, and the context over
 * filesync (berth sends it as the request body).
 *
 * @module
 */

import { type RegistryAuth, registryKey } from "../auth.ts";
import type { Connection } from "../http/connection.ts";
import {
  type Http2Request,
  type Http2Response,
  type Http2Server,
  serveHttp2,
} from "../http2/server.ts";
import { fields, ProtobufError, Reader, WIRE_BYTES, Writer } from "./_protobuf.ts";

/** What a session serves. */
export interface BuildSessionSources {
  /** Secrets by id, for `RUN --mount=type=secret,id=<id>`. */
  secrets?: Record<string, string | Uint8Array> | undefined;
  /**
   * Finds the credentials for a registry host (`registry.example.com:5000`,
   * `registry-1.docker.io` for Docker Hub).
   */
  credentials?: ((host: string) => Promise<RegistryAuth | undefined>) | undefined;
}

/** gRPC status codes berth answers with. */
const enum GrpcStatus {
  Ok = 0,
  InvalidArgument = 3,
  NotFound = 5,
  Internal = 13,
  Unimplemented = 12,
}

/** The registry-credentials method, the one announced when the session opens. */
export const CREDENTIALS_METHOD = "/moby.filesync.v1.Auth/Credentials";

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

/** A unary call's answer: the message framed, then `grpc-status: 0`. */
function ok(message: Uint8Array): Http2Response {
  const body = new Uint8Array(5 + message.length);
  new DataView(body.buffer).setUint32(1, message.length);
  body.set(message, 5);
  return {
    headers: [["content-type", "application/grpc"]],
    body,
    trailers: [["grpc-status", "0"]],
  };
}

function failed(status: GrpcStatus, message: string): Http2Response {
  return {
    headers: [["content-type", "application/grpc"]],
    trailers: [["grpc-status", String(status)], ["grpc-message", encodeURIComponent(message)]],
  };
}

/** The string field 1 of a request message (the host, the secret id). */
function firstString(message: Uint8Array): string {
  let value = "";
  try {
    fields(new Reader(message), { 1: WIRE_BYTES }, (_field, part) => value = part.string());
  } catch (error) {
    if (error instanceof ProtobufError) {
      throw new GrpcError(GrpcStatus.InvalidArgument, `malformed request: ${error.message}`);
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
        case "/grpc.health.v1.Health/Check":
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
        case "/moby.buildkit.secrets.v1.Secrets/GetSecret": {
          const id = firstString(grpcMessage(request.body));
          const secret = sources.secrets !== undefined && Object.hasOwn(sources.secrets, id)
            ? sources.secrets[id]
            : undefined;
          if (secret === undefined) {
            throw new GrpcError(GrpcStatus.NotFound, `secret ${id} not found`);
          }
          return ok(new Writer().bytes(1, secret).finish());
        }
        default:
          throw new GrpcError(GrpcStatus.Unimplemented, `${request.path} is not served by berth`);
      }
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
  });
  return { id, close: () => server.close() };
}
