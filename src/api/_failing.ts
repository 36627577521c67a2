/**
 * How a call that fails at its start (a bad argument, a path it cannot
 * build) reports it: through what it returns, never by throwing at the call.
 *
 * @module
 */

import { ProgressStream } from "../stream/progress.ts";

/**
 * Runs the synchronous start of a call (argument checks, its path) so that
 * what it throws rejects the returned promise rather than escaping the
 * call: a method that returns a promise never throws. (A throw at the call
 * would pass by `.catch` and end a whole `Promise.allSettled([...])`.)
 *
 * @param start Starts the call.
 * @returns Its promise, or one rejected with what it threw.
 */
export function rejecting<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * {@linkcode rejecting} for a method that returns a stream: what the start
 * throws fails the stream's first read.
 *
 * @param start Starts the call.
 * @returns Its stream, or one that fails with what it threw.
 */
export function failing<T>(start: () => ReadableStream<T>): ReadableStream<T> {
  try {
    return start();
  } catch (error) {
    return new ReadableStream<T>({
      start(controller) {
        controller.error(error);
      },
    });
  }
}

/**
 * {@linkcode rejecting} for a method that returns a progress stream: what
 * the start throws fails both the stream's first read and its result.
 *
 * @param start Starts the call.
 * @returns Its progress stream, or one that fails with what it threw.
 */
export function failingProgress<TEvent, TResult>(
  start: () => ProgressStream<TEvent, TResult>,
): ProgressStream<TEvent, TResult> {
  try {
    return start();
  } catch (error) {
    // Never asked for anything: the source fails first.
    const unused = {
      push() {},
      finish(): TResult {
        throw error;
      },
    };
    return new ProgressStream<TEvent, TResult>(Promise.reject(error), unused, {});
  }
}
