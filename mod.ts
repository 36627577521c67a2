/**
 * berth: a Docker Engine API client for Deno.
 *
 * A hand-written HTTP/1.1 client over the engine's Unix socket (or TCP,
 * TLS), typed resources (`docker.containers`, `docker.system`, ...),
 * bounded-memory streams with backpressure, and typed errors.
 *
 * @example Run a container and print its output
 * ```ts ignore
 * import { Docker } from "@berth/docker";
 *
 * await using docker = new Docker();
 * const { Id } = await docker.containers.create({ Image: "busybox", Cmd: ["echo", "hi"] });
 * await docker.containers.start(Id);
 * await docker.containers.wait(Id);
 * for await (const frame of docker.containers.logs(Id)) {
 *   console.log(frame.stream, new TextDecoder().decode(frame.data));
 * }
 * await docker.containers.remove(Id, { force: true });
 * ```
 *
 * @module
 */

export * from "./src/docker.ts";
export * from "./src/errors.ts";
export { REDACTED, redactHeaders } from "./src/observer.ts";
export type { DockerCallEvent, DockerObserver } from "./src/observer.ts";
export type { RequestOptions } from "./src/api/_client.ts";
export * from "./src/api/containers.ts";
export * from "./src/api/system.ts";
export * from "./src/stream/demux.ts";
export * from "./src/stream/json_lines.ts";
export type * from "./src/types/mod.ts";
export type { TlsOptions } from "./src/http/transport.ts";
export * from "./src/api/exec.ts";
export type { HijackedSession } from "./src/api/_session.ts";
