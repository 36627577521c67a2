/**
 * berth: a Docker Engine API client for Deno.
 *
 * A hand-written HTTP/1.1 client over the engine's Unix socket (or TCP,
 * TLS), typed resources (`docker.containers`, `docker.images`,
 * `docker.system`, ...), bounded-memory streams with backpressure, and
 * typed errors.
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
export type { DecoderSpec, RequestOptions, StreamOptions } from "./src/api/_client.ts";
export type { OutputStreamOptions } from "./src/api/_frames.ts";
export type { HijackedSession } from "./src/api/_session.ts";
export type { SshOptions, TlsOptions } from "./src/http/transport.ts";

// Resources
export * from "./src/api/containers.ts";
export type {
  ContainerAttachOptions,
  ContainerAttachSession,
  ContainerAttachWebSocketOptions,
} from "./src/api/_attach.ts";
export * from "./src/api/exec.ts";
export * from "./src/api/images.ts";
export * from "./src/api/networks.ts";
export * from "./src/api/volumes.ts";
export * from "./src/api/system.ts";
export * from "./src/api/distribution.ts";
export * from "./src/api/plugins.ts";
export * from "./src/api/swarm.ts";
export * from "./src/api/nodes.ts";
export * from "./src/api/services.ts";
export * from "./src/api/tasks.ts";
export * from "./src/api/secrets.ts";
export * from "./src/api/configs.ts";

// Registry credentials and connection setup
export {
  CredentialStore,
  DOCKER_HUB_KEY,
  encodeAuthHeader,
  encodeRegistryConfig,
  parseImageReference,
  registryKey,
  registryOfImage,
} from "./src/auth.ts";
export type {
  CredentialLookupOptions,
  CredentialsOption,
  DockerConfigStoreOptions,
  ImageReferenceParts,
  RegistryAuth,
} from "./src/auth.ts";
export * from "./src/connection_config.ts";

// Streams
export * from "./src/stream/demux.ts";
export * from "./src/stream/json_lines.ts";
export { ProgressStream } from "./src/stream/progress.ts";
export type {
  ImageImportResult,
  ImageLoadEvent,
  ImageLoadResult,
  ImagePullResult,
  ImagePushAux,
  ImagePushEvent,
  ImagePushResult,
  ProgressStreamOptions,
} from "./src/stream/progress.ts";
export * from "./src/stream/tar.ts";
export { extractTar, UnsafeArchiveError } from "./src/stream/extract.ts";
export type {
  ExtractLinkPolicy,
  ExtractOptions,
  ExtractTarOptions,
  ExtractTarResult,
  UnsafeArchiveReason,
} from "./src/stream/extract.ts";

// Build contexts and BuildKit progress records
export { cleanPath, DockerignoreMatcher, parseDockerignore } from "./src/build/dockerignore.ts";
export type { DockerignoreMatch } from "./src/build/dockerignore.ts";
export { packContext } from "./src/build/context.ts";
export type { PackContextOptions } from "./src/build/context.ts";
export { decodeBuildKitTrace } from "./src/build/buildkit_trace.ts";

// Terminal rendering of progress (used by the examples and the CLI)
export { humanSize, ProgressBars } from "./src/terminal/progress_bars.ts";
export { BuildKitPlainText } from "./src/terminal/buildkit_plain.ts";
export type {
  ProgressBarEvent,
  ProgressBarsOptions,
  ProgressOutput,
} from "./src/terminal/progress_bars.ts";

// Engine API v1.41 models
export type * from "./src/types/mod.ts";
