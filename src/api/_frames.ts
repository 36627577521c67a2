/**
 * Chooses how container output (logs, attach, exec) is decoded: Docker's
 * multiplexed frames, or raw bytes for TTY sessions.
 *
 * @module
 */

import { type Frame, FrameDecoder } from "../stream/demux.ts";
import type { HttpResponse } from "../http/response.ts";
import type { ApiCall, ApiClient, PieceDecoder } from "./_client.ts";

/**
 * Picks the decoder for a container output stream: the `Content-Type` of
 * API 1.42+ engines decides; otherwise the container's TTY setting.
 *
 * @param response The response whose body is the output.
 * @param tty Whether the container has a TTY.
 * @returns A frame decoder.
 */
export function frameDecoder(response: HttpResponse, tty: boolean): PieceDecoder<Frame> {
  // API 1.42+ engines label multiplexed output; older ones call everything
  // raw-stream, so only the multiplexed label is trusted over the TTY flag.
  const multiplexed = (response.headers.get("content-type") ?? "").includes("multiplexed-stream");
  if (!multiplexed && tty) {
    return {
      push: (input, out) => void out.push({ stream: "stdout", data: input }),
      finish: () => {},
    };
  }
  const decoder = new FrameDecoder();
  return {
    push: (input, out) => decoder.push(input, out),
    finish: () => decoder.finish(),
  };
}

/**
 * Streams container output (container, service or task logs): demuxed
 * frames, or raw stdout frames when `tty` resolves true. The TTY lookup may
 * run while the request does; in a worker the same choice is made there.
 *
 * @param api The API client.
 * @param call The logs call (its `worker` flag picks the thread).
 * @param tty Whether the output is raw.
 * @returns The frames.
 */
export function outputStream(
  api: ApiClient,
  call: ApiCall,
  tty: Promise<boolean>,
): ReadableStream<Frame> {
  return api.stream<Frame>(
    call,
    async (response) => frameDecoder(response, await tty),
    tty.then((raw) => ({ kind: "frames", tty: raw })),
  );
}
