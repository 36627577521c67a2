/**
 * Chooses how container output (logs, attach, exec) is decoded: Docker's
 * multiplexed frames, or raw bytes for TTY sessions.
 *
 * @module
 */

import { type Frame, FrameDecoder } from "../stream/demux.ts";
import type { HttpResponse } from "../http/response.ts";
import {
  type ApiCall,
  type ApiClient,
  containerSegment,
  type PieceDecoder,
  type Query,
  segment,
  type StreamOptions,
  withSignal,
} from "./_client.ts";
import { failing } from "./_failing.ts";
import { timeQuery } from "./system.ts";

/** Default `maxOutput` of `containers.run` and `exec.run`: 64 MiB. */
export const DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024;

/**
 * Picks the decoder for a container output stream: the `Content-Type` of
 * API 1.42+ engines decides; otherwise the container's TTY setting.
 *
 * @param response The response whose body is the output.
 * @param tty Whether the container has a TTY.
 * @param stableInput Whether body pieces stay unchanged once read (not a
 *   reused read buffer, not a worker's buffers that get transferred): then
 *   a frame split across back-to-back pieces is joined without a copy.
 * @returns A frame decoder.
 */
export function frameDecoder(
  response: HttpResponse,
  tty: boolean,
  stableInput: boolean,
): PieceDecoder<Frame> {
  // API 1.42+ engines label multiplexed output; older ones call everything
  // raw-stream, so only the multiplexed label is trusted over the TTY flag.
  const multiplexed = (response.headers.get("content-type") ?? "").includes("multiplexed-stream");
  if (!multiplexed && tty) {
    return {
      push: (input, out) => void out.push({ stream: "stdout", data: input }),
      finish: () => {},
    };
  }
  const decoder = new FrameDecoder({ stableInput });
  return {
    push: (input, out) => decoder.push(input, out),
    finish: () => decoder.finish(),
  };
}

/** Options of the container output streams: logs of containers, services and tasks. */
export interface OutputStreamOptions extends StreamOptions {
  /**
   * Read into one buffer reused by every socket read, rather than fresh
   * memory per read: each frame's `data` is then valid only until you read
   * the next frame (`frame.data.slice()` keeps a copy). Use it when a loop
   * handles each frame before asking for the next (`for await`, a reader's
   * `read()`), not with `pipeTo`/`pipeThrough`, which may read ahead while
   * a chunk is still being written. It keeps memory flat on long streams:
   * read buffers are otherwise garbage only a GC frees, and V8 lets some
   * MiB of them pile up first (about 6 MiB more peak RSS on a 256 MiB read;
   * see the README's logs benchmark). Ignored when the stream runs in a
   * worker.
   * @default false
   */
  reuseBuffer?: boolean;
}

/**
 * Streams container output (container, service or task logs): demuxed
 * frames, or raw stdout frames when `tty` resolves true. The TTY lookup may
 * run while the request does; in a worker the same choice is made there.
 *
 * @param api The API client.
 * @param call The logs call (its `worker` flag picks the thread).
 * @param tty Whether the output is raw.
 * @param lookups Aborted when the stream is cancelled or fails before the
 *   TTY lookup is done (the lookup listens to it).
 * @returns The frames.
 */
export function outputStream(
  api: ApiClient,
  call: ApiCall,
  tty: Promise<boolean>,
  lookups?: AbortController,
): ReadableStream<Frame> {
  return api.stream<Frame>(
    call,
    async (response) => frameDecoder(response, await tty, call.reuseReadBuffer !== true),
    tty.then((raw) => ({ kind: "frames", tty: raw })),
    lookups,
  );
}

/** The query options container, service and task logs share. */
export interface LogsQueryOptions {
  follow?: boolean | undefined;
  stdout?: boolean | undefined;
  stderr?: boolean | undefined;
  since?: Date | number | string | undefined;
  until?: Date | number | string | undefined;
  timestamps?: boolean | undefined;
  tail?: number | "all" | undefined;
  details?: boolean | undefined;
}

/**
 * Builds the query of a logs call: stdout and stderr on unless turned off,
 * times converted to Unix seconds.
 *
 * @param options The caller's logs options.
 * @returns The query.
 */
export function logsQuery(options: LogsQueryOptions): Query {
  return {
    follow: options.follow,
    stdout: options.stdout ?? true,
    stderr: options.stderr ?? true,
    since: timeQuery(options.since),
    until: timeQuery(options.until),
    timestamps: options.timestamps,
    tail: options.tail,
    details: options.details,
  };
}

/**
 * `GET /{kind}s/{id}/logs` for container, service or task logs: the query
 * from the caller's options, a follow stream exempt from the body timeout,
 * the worker and buffer-reuse choices, and the TTY mode (the caller's
 * `tty`, or `lookupTty` asked while the logs request runs). A bad id or
 * option fails the stream's first read.
 *
 * @param api The API client.
 * @param kind Whose logs.
 * @param id The object's id or name.
 * @param options The caller's logs options.
 * @param lookupTty Asks the engine whether the object has a TTY (with the
 *   caller's signal, if any).
 * @returns The frames.
 */
export function logsStream(
  api: ApiClient,
  kind: "container" | "service" | "task",
  id: string,
  options: LogsQueryOptions & OutputStreamOptions & { tty?: boolean },
  lookupTty: (options: { signal?: AbortSignal }) => Promise<boolean>,
): ReadableStream<Frame> {
  return failing(() => {
    const path = `/${kind}s/${
      kind === "container" ? containerSegment(id) : segment(id, `${kind} id`)
    }/logs`;
    // A lookup (when `tty` is not given) ends with the stream: cancelled,
    // or failed, before it is done.
    const lookups = options.tty === undefined ? new AbortController() : undefined;
    return outputStream(
      api,
      {
        method: "GET",
        path,
        query: logsQuery(options),
        signal: options.signal,
        longLived: options.follow === true,
        worker: options.worker,
        reuseReadBuffer: options.reuseBuffer === true,
        action: `read logs of ${kind} "${id}"`,
      },
      ttyMode(
        options.tty,
        () => lookupTty({ signal: withSignal(options.signal, lookups!.signal) }),
      ),
      lookups,
    );
  });
}

/**
 * Whether output is raw (TTY): the caller's answer, or the engine's, asked
 * while the logs request runs. A failed lookup never surfaces on its own:
 * the logs request reports the same missing object.
 *
 * @param known The caller's `tty` option.
 * @param lookup Asks the engine.
 * @returns The TTY mode.
 */
export function ttyMode(
  known: boolean | undefined,
  lookup: () => Promise<boolean>,
): Promise<boolean> {
  const tty = known !== undefined ? Promise.resolve(known) : lookup();
  tty.catch(() => {});
  return tty;
}
