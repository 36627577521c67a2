/**
 * berth's stream worker, except that opening a stream whose target ends in
 * `/crash` throws out of the message handler, as a bug in the worker would:
 * the worker then fails with an uncaught error.
 *
 * @module
 */

import "../../src/worker/worker.ts";

interface Scope {
  onmessage: ((event: MessageEvent) => void) | null;
}
const scope = self as unknown as Scope;
const handle = scope.onmessage!;
scope.onmessage = (event) => {
  const message = event.data as { type?: string; request?: { target?: string } };
  if (message.type === "open" && message.request?.target?.endsWith("/crash")) {
    throw new Error("worker bug");
  }
  handle(event);
};
