/**
 * {@linkcode Containers.run}, the composite `docker run`: create, attach,
 * register a wait, start, collect the output and exit code, and remove.
 * It calls the namespace's own methods for the steps they cover, and the
 * API client for the wait, whose head must arrive before the start. The
 * method documents the call; this module holds the work.
 *
 * @module
 */

import { DockerError } from "../errors.ts";
import type { HttpResponse } from "../http/response.ts";
import { collectFrames } from "../stream/demux.ts";
import type { ContainerCreateBody, ContainerWaitResponse } from "../types/mod.ts";
import type { ContainerAttachSession } from "./_attach.ts";
import { type ApiClient, containerSegment } from "./_client.ts";
import type {
  ContainerCreateOptions,
  ContainerRunOptions,
  ContainerRunResult,
} from "./_container_types.ts";
import { DEFAULT_MAX_OUTPUT } from "./_frames.ts";
import type { Containers } from "./containers.ts";

/** The steps {@linkcode run} takes from the namespace. */
type RunSteps = Pick<Containers, "create" | "start" | "attach" | "remove">;

const empty = new Uint8Array(0);

/**
 * Runs a container to its end, for {@linkcode Containers.run}.
 *
 * @param api The API client (for the wait).
 * @param containers The namespace, for create, attach, start and remove.
 * @param body The create body.
 * @param options The run options.
 * @returns `{ id, exitCode, stdout, stderr }`.
 */
export async function run(
  api: ApiClient,
  containers: RunSteps,
  body: ContainerCreateBody,
  options: ContainerRunOptions,
): Promise<ContainerRunResult> {
  if (!body || typeof body !== "object") {
    throw new TypeError("A container create body is required");
  }
  const wait = options.wait ?? true;
  if (!wait && (options.remove || options.logs)) {
    throw new TypeError(
      "containers.run: `remove` and `logs` need `wait` (it cannot remove or read a running container)",
    );
  }
  const signal = options.signal;
  const signalOnly = signal ? { signal } : {};
  const createOptions: ContainerCreateOptions = { ...signalOnly };
  if (options.name !== undefined) createOptions.name = options.name;
  if (options.platform !== undefined) createOptions.platform = options.platform;
  const { Id: id } = await containers.create(body, createOptions);
  if (!wait) {
    await containers.start(id, signalOnly);
    return { id, exitCode: null, stdout: empty, stderr: empty };
  }
  let session: ContainerAttachSession | undefined;
  let waiting: HttpResponse | undefined;
  try {
    if (options.logs ?? true) {
      session = await containers.attach(id, {
        stream: true,
        tty: body.Tty === true,
        ...signalOnly,
      });
    }
    const output = session
      ? collectFrames(session.readable, {
        maxBytes: options.maxOutput ?? DEFAULT_MAX_OUTPUT,
        what: `the output of container "${id}"`,
      })
      : Promise.resolve({ stdout: empty, stderr: empty });
    output.catch(() => {});
    // The engine sends the head once the wait is registered, so an exit
    // right after the start is not missed; an auto-removed container is
    // waited for until it is gone.
    waiting = await api.send({
      method: "POST",
      path: `/containers/${containerSegment(id)}/wait`,
      query: { condition: body.HostConfig?.AutoRemove === true ? "removed" : "next-exit" },
      signal,
      longLived: true,
      headersTimeout: 0,
      action: `wait for container "${id}"`,
    });
    await containers.start(id, signalOnly);
    const [exit, { stdout, stderr }] = await Promise.all([
      waiting.json<ContainerWaitResponse>(),
      output,
    ]);
    if (exit.Error?.Message) {
      throw new DockerError(`Cannot wait for container "${id}": ${exit.Error.Message}`);
    }
    return { id, exitCode: exit.StatusCode, stdout, stderr };
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw error;
  } finally {
    // On failure, neither the wait nor the attach may outlive the call.
    if (waiting && !waiting.finished) waiting.cancel();
    session?.close();
    if (options.remove) {
      await containers.remove(id, { force: true, volumes: true }).catch(() => {});
    }
  }
}
