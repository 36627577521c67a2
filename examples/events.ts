/**
 * Watches engine events: replays the last minute, then follows live events
 * for a few seconds (or until Ctrl-C). To have something to show, it creates
 * and removes a labelled volume and network while watching. A second,
 * bounded query (`since` + `until`) then replays just that window and ends
 * by itself.
 *
 * ```sh
 * deno run --allow-all examples/events.ts [seconds] [type...]
 * # e.g. examples/events.ts 30 container image
 * ```
 *
 * @module
 */

import { Docker, type EventMessage } from "../mod.ts";

const seconds = Number(Deno.args[0] ?? 5);
const types = Deno.args.slice(1);
const filters: Record<string, string[]> = types.length ? { type: types } : {};

const controller = new AbortController();
const onInterrupt = () => controller.abort(new Error("interrupted"));
Deno.addSignalListener("SIGINT", onInterrupt);
const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(seconds * 1000)]);

function show(event: EventMessage): void {
  const time = new Date((event.timeNano ?? 0) / 1e6).toISOString();
  const name = event.Actor?.Attributes?.name ?? event.Actor?.ID ?? "";
  console.log(`${time} ${event.Type} ${event.Action} ${name}`);
}

await using docker = new Docker();
const start = new Date();
const name = `berth-example-events-${crypto.randomUUID().slice(0, 8)}`;
try {
  // The request is sent now, so the events caused below are seen.
  const events = docker.system.events({ since: new Date(Date.now() - 60_000), filters, signal });

  const labels = { "berth.example": "events" };
  await docker.volumes.create({ Name: name, Labels: labels });
  await docker.volumes.remove(name);
  const { Id } = await docker.networks.create({ Name: name, Labels: labels });
  await docker.networks.remove(Id);

  console.log(`-- events of the last minute, then live for ${seconds} s (Ctrl-C stops)`);
  for await (const event of events) show(event);
} catch (error) {
  if (!signal.aborted) throw error;
  console.log(`-- stopped: ${(signal.reason as Error).message}`);
} finally {
  Deno.removeSignalListener("SIGINT", onInterrupt); // it would keep the process alive
}

// A bounded window ends by itself at `until`: no signal needed.
console.log(`-- events of ${name} since this script started`);
for await (
  const event of docker.system.events({
    since: start,
    until: new Date(),
    // Volume and network events carry no labels: filter by name (volume ids are names).
    filters: { volume: [name], network: [name] },
  })
) show(event);
