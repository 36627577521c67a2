/**
 * Shared helpers for integration tests: a client on the test engine, and
 * labelled containers that are always removed.
 *
 * @module
 */

import { Docker, type DockerOptions } from "../../mod.ts";
import type { ContainerCreateBody } from "../../mod.ts";
import { TEST_LABELS, testEnv, uniqueName } from "./_env.ts";

export { TEST_LABELS, testEnv, uniqueName };

/** A client on the engine the test task provides. */
export function testDocker(options: DockerOptions = {}): Docker {
  return new Docker({ host: testEnv().host, ...options });
}

/** The busybox test image. */
export function testImage(): string {
  return testEnv().image;
}

/**
 * Creates a labelled container from the test image, runs `fn`, and removes
 * the container (forced, with volumes) whatever happens.
 */
export async function withContainer<T>(
  docker: Docker,
  body: Partial<ContainerCreateBody>,
  fn: (id: string, name: string) => Promise<T>,
  options: { name?: string } = {},
): Promise<T> {
  const name = options.name ?? uniqueName("c");
  const { Id } = await docker.containers.create(
    { Image: testImage(), ...body, Labels: { ...TEST_LABELS, ...body.Labels } },
    { name },
  );
  try {
    return await fn(Id, name);
  } finally {
    await docker.containers.remove(Id, { force: true, volumes: true }).catch(() => {});
  }
}

const decoder = new TextDecoder();

/** Decodes bytes as UTF-8. */
export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
