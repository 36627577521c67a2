/**
 * What the test task (`deno task test`, see `tools/test.ts`) provides to
 * integration tests, read from the environment:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `BERTH_TEST_HOST` | engine address, e.g. `unix:///…/docker.sock` |
 * | `BERTH_TEST_IMAGE` | busybox test image, `berth-test/busybox:latest` |
 * | `BERTH_TEST_PRIVATE` | `1` when the engine belongs to this run (destructive tests allowed) |
 * | `BERTH_TEST_REGISTRY` | authenticated registry, `127.0.0.1:PORT`, plain HTTP |
 * | `BERTH_TEST_REGISTRY_USER`, `BERTH_TEST_REGISTRY_PASSWORD` | its credentials |
 * | `BERTH_TEST_REQUIRE_ENGINE` | `1`: a missing engine or registry is a failure, never a skip |
 *
 * @module
 */

/** Default test image name, as `tools/_engine.ts` builds it. */
const DEFAULT_IMAGE = "berth-test/busybox:latest";

/** Labels every object a test creates must carry; the harness removes leftovers by them. */
export const TEST_LABELS: { readonly "berth.test": "1" } = Object.freeze({ "berth.test": "1" });

/** The authenticated registry the test task started. */
export interface TestRegistryEnv {
  /** `127.0.0.1:PORT` (plain HTTP; Docker allows loopback registries without TLS). */
  address: string;
  /** Basic-auth user name. */
  username: string;
  /** Basic-auth password. */
  password: string;
}

/** The test environment; see {@linkcode testEnv}. */
export interface TestEnv {
  /** Engine address in `DOCKER_HOST` syntax. */
  host: string;
  /** Test image (busybox, `CMD ["/bin/sh"]`, `PATH=/bin`, label `berth.test=1`). */
  image: string;
  /** Whether the engine is private to this run, so tests may change engine-wide state (swarm, prune). */
  privateEngine: boolean;
  /** The test registry, when the task provides one. */
  registry?: TestRegistryEnv;
}

/**
 * Whether an on/off variable is on: set, and not empty, `0`, `false` or
 * `no` (the same rule as `tools/test.ts`, so the harness and the tests
 * never disagree about `CI=no`).
 *
 * @param name The variable.
 * @returns Whether it is on.
 */
export function isSet(name: string): boolean {
  const value = Deno.env.get(name)?.trim().toLowerCase();
  return value !== undefined && value !== "" && value !== "0" && value !== "false" &&
    value !== "no";
}

/**
 * Whether a missing engine or registry must fail the tests rather than skip
 * them: true under the test task (`BERTH_TEST_REQUIRE_ENGINE`) and in CI (`CI`).
 *
 * @returns `true` when tests may not skip for lack of infrastructure.
 *
 * @example Skip only outside CI
 * ```ts ignore
 * import { engineRequired, testEnv } from "./_env.ts";
 * Deno.test({
 *   name: "needs the registry",
 *   ignore: !engineRequired() && testEnv().registry === undefined,
 *   fn() {},
 * });
 * ```
 */
export function engineRequired(): boolean {
  return isSet("BERTH_TEST_REQUIRE_ENGINE") || isSet("CI");
}

/**
 * Reads the test environment the test task provides.
 *
 * Without `BERTH_TEST_HOST` (plain `deno test` outside the task) it falls back
 * to `DOCKER_HOST`, then `unix:///var/run/docker.sock` — unless
 * {@linkcode engineRequired}, where that is an error.
 *
 * @returns Engine host, image, whether the engine is private, and the registry if any.
 * @throws {Error} When `BERTH_TEST_HOST` is missing and an engine is required
 *   (CI or the test task), or when the registry variables are incomplete.
 *
 * @example Connect to the test engine
 * ```ts ignore
 * import { Docker } from "../../mod.ts";
 * import { testEnv } from "./_env.ts";
 * await using docker = new Docker({ host: testEnv().host });
 * ```
 */
export function testEnv(): TestEnv {
  const host = Deno.env.get("BERTH_TEST_HOST");
  if (!host && engineRequired()) {
    throw new Error(
      "BERTH_TEST_HOST is not set but an engine is required (CI or BERTH_TEST_REQUIRE_ENGINE): run the tests with `deno task test`",
    );
  }
  const env: TestEnv = {
    host: host || Deno.env.get("DOCKER_HOST") || "unix:///var/run/docker.sock",
    image: Deno.env.get("BERTH_TEST_IMAGE") || DEFAULT_IMAGE,
    privateEngine: Deno.env.get("BERTH_TEST_PRIVATE") === "1",
  };
  const address = Deno.env.get("BERTH_TEST_REGISTRY");
  if (address) {
    const username = Deno.env.get("BERTH_TEST_REGISTRY_USER");
    const password = Deno.env.get("BERTH_TEST_REGISTRY_PASSWORD");
    if (!username || !password) {
      throw new Error(
        "BERTH_TEST_REGISTRY is set without BERTH_TEST_REGISTRY_USER and BERTH_TEST_REGISTRY_PASSWORD",
      );
    }
    env.registry = { address, username, password };
  }
  return env;
}

/**
 * Returns the test registry, or throws when the task did not provide one.
 *
 * @returns Registry address and credentials.
 * @throws {Error} When `BERTH_TEST_REGISTRY` is not set.
 *
 * @example Log in through the engine
 * ```ts ignore
 * import { testRegistry } from "./_env.ts";
 * const { address, username, password } = testRegistry();
 * ```
 */
export function testRegistry(): TestRegistryEnv {
  const registry = testEnv().registry;
  if (!registry) {
    throw new Error("BERTH_TEST_REGISTRY is not set: run the tests with `deno task test`");
  }
  return registry;
}

/**
 * Makes a name for a container, network or volume that no other test (or
 * run) uses: `berth-test-<prefix>-<8 hex>`.
 *
 * @param prefix Short word naming the test's purpose; letters, digits, `_`, `.`, `-`.
 * @returns A valid, unique Docker object name.
 * @throws {TypeError} When `prefix` has characters Docker names do not allow.
 *
 * @example Name a container
 * ```ts
 * import { uniqueName } from "./_env.ts";
 * const name = uniqueName("logs");
 * if (!/^berth-test-logs-[0-9a-f]{8}$/.test(name)) throw new Error(name);
 * ```
 */
export function uniqueName(prefix: string): string {
  if (!/^[a-zA-Z0-9_.-]+$/.test(prefix)) {
    throw new TypeError(
      `Cannot make a test name from "${prefix}": use letters, digits, "_", "." or "-"`,
    );
  }
  const random = Array.from(
    crypto.getRandomValues(new Uint8Array(4)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
  return `berth-test-${prefix}-${random}`;
}
