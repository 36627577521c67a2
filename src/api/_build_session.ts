/**
 * What a BuildKit build needs beside its request: the session (`POST
 * /session`, upgraded to HTTP/2, served by `src/build/session.ts`), the
 * receiver that stores an `output`, and the check of `ssh` agent sockets.
 *
 * @module
 */

import { sha256Hex } from "../_digest.ts";
import { fileSystemError } from "../_messages.ts";
import { DockerApiError, DockerError } from "../errors.ts";
import {
  type BuildSession,
  type BuildSessionSources,
  sessionMethods,
  startSession,
} from "../build/session.ts";
import { contextDockerfile, contextMatcher } from "../build/context.ts";
import type { SyncedDirectory } from "../build/filesync.ts";
import { extractTar } from "../stream/extract.ts";
import type { ApiClient } from "./_client.ts";
import type { ImageBuildOutput } from "./_build_types.ts";

/**
 * Stores a build's output as the session receives it, and tells the build
 * how that went.
 */
export class OutputReceiver {
  readonly #output: ImageBuildOutput;
  #storing: Promise<void> | undefined;

  constructor(output: ImageBuildOutput) {
    this.#output = output;
  }

  /** The session's `output` source. */
  readonly receive = (archive: AsyncIterable<Uint8Array>): Promise<void> => {
    this.#storing = storeOutput(this.#output, ReadableStream.from(archive));
    return this.#storing;
  };

  /**
   * The build failed or was cancelled: a caller's stream that never got
   * the output is aborted, so that nobody waits on it.
   *
   * @param reason Why.
   */
  abandon(reason: unknown): void {
    const dest = this.#output.dest;
    if (this.#storing === undefined && dest instanceof WritableStream && !dest.locked) {
      dest.abort(reason).catch(() => {});
    }
  }

  /**
   * Settles once the output is stored.
   *
   * @throws {DockerError} When the engine ended the build without sending it.
   * @throws What storing it failed with.
   */
  stored(): Promise<void> {
    return this.#storing ?? Promise.reject(
      new DockerError("Cannot build: the engine ended the build without sending its output"),
    );
  }
}

/**
 * Checks that each SSH agent socket exists.
 *
 * @throws {DockerError} Naming the first that does not (or cannot be looked at).
 */
export async function checkAgents(agents: Record<string, string> | undefined): Promise<void> {
  for (const [id, path] of Object.entries(agents ?? {})) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new DockerError(`Cannot build: no SSH agent socket for ssh.${id} (${reason})`, {
        cause: error,
      });
    }
    if (info.isSocket === false) {
      throw new DockerError(`Cannot build: ssh.${id} (${path}) is not a socket`);
    }
  }
}

/** Writes an output archive where `output` says. */
async function storeOutput(
  output: ImageBuildOutput,
  archive: ReadableStream<Uint8Array>,
): Promise<void> {
  if (output.type === "local") {
    await extractTar(archive, output.dest, {
      overwrite: true,
      ...(output.symlinks === undefined ? {} : { symlinks: output.symlinks }),
      ...(output.hardlinks === undefined ? {} : { hardlinks: output.hardlinks }),
    });
  } else if (typeof output.dest === "string") {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(output.dest, { write: true, create: true, truncate: true });
    } catch (error) {
      await archive.cancel(error).catch(() => {});
      throw fileSystemError(
        error,
        `Cannot write the build output to ${JSON.stringify(output.dest)}`,
        `--allow-write=${output.dest}`,
      );
    }
    await archive.pipeTo(file.writable); // Closes the file, whatever happens.
  } else {
    await archive.pipeTo(output.dest);
  }
}

/** A directory context as a BuildKit session lends it. */
export interface SessionContext {
  /** The `context` and `dockerfile` directories. */
  directories: Record<string, SyncedDirectory>;
  /** The Dockerfile's name inside the `dockerfile` directory (the `dockerfile` parameter). */
  dockerfile: string;
  /**
   * The session's shared key: the same for every build of this directory,
   * so that the engine diffs against what it kept from the last transfer
   * (the docker CLI hashes its node id and the path; berth hashes the
   * path and the directory's device and inode, needing no more permissions).
   */
  sharedKey: string;
}

/**
 * Prepares a directory context for the session, as the docker CLI does:
 * the context with its exclusions, and the Dockerfile's own directory.
 *
 * @param root The context directory (checked).
 * @param dockerfile The `dockerfile` option.
 * @param excludes The `excludes` option.
 */
export async function sessionContext(
  root: string,
  dockerfile: string | undefined,
  excludes: readonly string[] | undefined,
): Promise<SessionContext> {
  const relative = contextDockerfile(root, dockerfile);
  const options = excludes === undefined
    ? { dockerfile: relative }
    : { dockerfile: relative, excludes };
  const matcher = await contextMatcher(root, options, false);
  const real = await Deno.realPath(root);
  const info = await Deno.stat(real);
  const slash = relative.lastIndexOf("/");
  return {
    directories: {
      context: { root: real, excludes: matcher ?? null },
      dockerfile: { root: slash === -1 ? real : `${real}/${relative.slice(0, slash)}` },
    },
    dockerfile: relative.slice(slash + 1),
    sharedKey: await sha256Hex(`berth\0${real}\0${info.dev}:${info.ino}`),
  };
}

/**
 * Opens the BuildKit session (`POST /session`, upgraded to HTTP/2) that
 * serves the build's secrets, credentials, SSH agents and output. An engine
 * that does not offer sessions gets none: the build then runs without
 * them, unless it needs the session (for SSH agents or an output).
 */
export async function openSession(
  api: ApiClient,
  sources: BuildSessionSources,
  signal: AbortSignal | undefined,
  sharedKey?: string,
): Promise<BuildSession | undefined> {
  const id = crypto.randomUUID().replaceAll("-", "");
  let connection;
  try {
    connection = await api.upgrade({
      method: "POST",
      path: "/session",
      headers: {
        "X-Docker-Expose-Session-Uuid": id,
        "X-Docker-Expose-Session-Name": "berth",
        "X-Docker-Expose-Session-Sharedkey": sharedKey ?? id,
        // One line per method; the engine asks for some features (outputs)
        // only of a client that lists their methods.
        "X-Docker-Expose-Session-Grpc-Method": sessionMethods(sources),
      },
      upgradeProtocol: "h2c",
      signal,
      action: "open a BuildKit session",
    });
  } catch (error) {
    if (!(error instanceof DockerApiError)) throw error;
    if (sources.ssh === undefined && sources.output === undefined) return undefined;
    throw new DockerError(
      `Cannot build: the engine refused the BuildKit session that ssh and output need (${error.message})`,
      { cause: error },
    );
  }
  return startSession(id, connection, sources);
}
