/**
 * A container's files out to the caller: its whole filesystem as a tar
 * stream (`export`), and a path of it extracted into a local directory.
 * The path stat, tar download and tar upload of `/containers/{id}/archive`
 * live in `_archive.ts`. Each function takes the API client, then the
 * arguments of the {@linkcode Containers} method, which documents the
 * call; this module holds the work.
 *
 * @module
 */

import { extractTar } from "../stream/extract.ts";
import { getArchive } from "./_archive.ts";
import { type ApiClient, bytesDecoder, containerSegment } from "./_client.ts";
import type {
  ContainerExportOptions,
  ContainerExtractArchiveOptions,
  ContainerExtractArchiveResult,
} from "./_container_types.ts";
import { failing } from "./_failing.ts";

/**
 * `GET /containers/{id}/export`, for {@linkcode Containers.export}
 * (`export` is a reserved word, hence the name).
 */
export function exportContainer(
  api: ApiClient,
  id: string,
  options: ContainerExportOptions,
): ReadableStream<Uint8Array> {
  return failing(() =>
    api.stream<Uint8Array>(
      {
        method: "GET",
        path: `/containers/${containerSegment(id)}/export`,
        signal: options.signal,
        worker: options.worker,
        action: `export container "${id}"`,
      },
      bytesDecoder,
      { kind: "bytes" },
    )
  );
}

/**
 * `GET /containers/{id}/archive` through the safe extractor, for
 * {@linkcode Containers.extractArchive}.
 */
export async function extractArchive(
  api: ApiClient,
  id: string,
  path: string,
  dest: string,
  options: ContainerExtractArchiveOptions,
): Promise<ContainerExtractArchiveResult> {
  if (typeof dest !== "string" || dest === "") {
    throw new TypeError(`A destination directory is required (got ${JSON.stringify(dest)})`);
  }
  const signal = options.signal;
  const { stat, body } = await getArchive(api, id, path, {
    ...(signal ? { signal } : {}),
    ...(options.worker !== undefined ? { worker: options.worker } : {}),
  });
  try {
    const extracted = await extractTar(body, dest, options);
    return { stat, extracted };
  } catch (error) {
    await body.cancel(error).catch(() => {});
    throw error;
  }
}
