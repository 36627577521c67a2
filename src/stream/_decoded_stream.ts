/**
 * The pull-based wrapper both stream decoders (frames, JSON lines) use to
 * turn a byte stream into a stream of decoded items.
 *
 * @module
 */

/**
 * Wraps a byte stream in a pull-based stream of the items a decoder makes
 * of it. The source is read only when the consumer reads, and as often as
 * needed to produce at least one item; cancelling cancels the source; source
 * errors pass through unchanged. When decoding fails, the items decoded
 * before the failure are delivered first, then the error, and the source is
 * cancelled with that error.
 */
export function decodedStream<T>(
  body: ReadableStream<Uint8Array>,
  push: (input: Uint8Array, out: T[]) => void,
  finish: (out: T[]) => void,
): ReadableStream<T> {
  const reader = body.getReader();
  let failure: { error: unknown } | undefined;
  return new ReadableStream<T>({
    pull: async (controller) => {
      if (failure !== undefined) throw failure.error;
      const out: T[] = [];
      let ended = false;
      try {
        while (out.length === 0) {
          const { done, value } = await reader.read();
          if (done) {
            ended = true;
            finish(out);
            break;
          }
          try {
            push(value, out);
          } catch (error) {
            reader.cancel(error).catch(() => {});
            throw error;
          }
        }
      } catch (error) {
        if (out.length === 0) throw error;
        failure = { error };
        ended = false;
      }
      for (const item of out) controller.enqueue(item);
      if (ended) controller.close();
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}
