/**
 * Where a client connects to, and how: Unix socket, TCP or TLS. Parses host
 * strings such as `unix:///var/run/docker.sock`, `tcp://10.0.0.2:2375` and
 * `https://10.0.0.2:2376`, and turns `Deno.connect` failures into
 * {@linkcode DockerConnectionError}s that say what to do.
 *
 * @module
 */

import { DockerConnectionError, DockerTimeoutError } from "../errors.ts";

/** TLS material for `https://` and `tcp://` hosts, as PEM text. */
export interface TlsOptions {
  /** CA certificates to trust instead of the system roots (PEM). */
  caCerts?: string[];
  /** Client certificate chain (PEM), for engines started with `--tlsverify`. */
  cert?: string;
  /** Client private key (PEM), paired with {@linkcode TlsOptions.cert}. */
  key?: string;
  /** Name to verify the server certificate against. @default the host name */
  serverName?: string;
}

/** A parsed engine address. */
export type EngineAddress =
  | { transport: "unix"; path: string }
  | { transport: "tcp"; hostname: string; port: number; tls: TlsOptions | undefined };

/** Opens one new connection to the engine. Injected into the HTTP client. */
export type Connector = () => Promise<Deno.Conn>;

/**
 * Parses an engine host string.
 *
 * @param host `unix:///abs/path`, `tcp://host:port`, `http://host:port` or
 *   `https://host:port`. A `tcp://` host uses TLS when `tls` is given.
 * @param tls TLS material; forces TLS for `tcp://`.
 * @returns The address to connect to.
 * @throws {TypeError} When the host is not one of the supported forms.
 */
export function parseHost(host: string, tls?: TlsOptions): EngineAddress {
  if (host.startsWith("unix://")) {
    const path = host.slice("unix://".length);
    if (!path.startsWith("/")) {
      throw new TypeError(`Cannot use host "${host}": a unix socket path must be absolute`);
    }
    return { transport: "unix", path };
  }
  const match = /^(tcp|http|https):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d{1,5}))?\/?$/.exec(host);
  if (!match) {
    throw new TypeError(
      `Cannot use host "${host}": expected unix:///path, tcp://host:port or https://host:port`,
    );
  }
  const scheme = match[1]!;
  const hostname = match[2]!.replace(/^\[(.*)\]$/, "$1");
  const secure = scheme === "https" || (scheme === "tcp" && tls !== undefined);
  const port = match[3] ? Number(match[3]) : secure ? 2376 : 2375;
  if (port < 1 || port > 65535) {
    throw new TypeError(`Cannot use host "${host}": port ${port} is out of range`);
  }
  return { transport: "tcp", hostname, port, tls: secure ? (tls ?? {}) : undefined };
}

/**
 * Formats an address back into a host string, for messages.
 *
 * @param address A parsed address.
 * @returns `unix:///…`, `tcp://host:port` or `https://host:port`.
 */
export function formatHost(address: EngineAddress): string {
  if (address.transport === "unix") return `unix://${address.path}`;
  const host = address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname;
  return `${address.tls ? "https" : "tcp"}://${host}:${address.port}`;
}

/**
 * Builds the connector for an address: each call opens a fresh connection,
 * failing with a {@linkcode DockerConnectionError} (or a
 * {@linkcode DockerTimeoutError} after `connectTimeout` ms).
 *
 * @param address Where to connect.
 * @param connectTimeout Milliseconds to wait for the connection; 0 = forever.
 * @returns A function that opens one connection per call.
 */
export function createConnector(address: EngineAddress, connectTimeout: number): Connector {
  const host = formatHost(address);
  const open = (): Promise<Deno.Conn> => {
    if (address.transport === "unix") {
      return Deno.connect({ transport: "unix", path: address.path });
    }
    if (!address.tls) {
      return Deno.connect({ hostname: address.hostname, port: address.port });
    }
    const { caCerts, cert, key, serverName } = address.tls;
    const options: Deno.ConnectTlsOptions & Partial<Deno.TlsCertifiedKeyPem> = {
      hostname: serverName ?? address.hostname,
      port: address.port,
    };
    if (caCerts) options.caCerts = caCerts;
    if (cert !== undefined && key !== undefined) {
      options.cert = cert;
      options.key = key;
    }
    return connectTlsTo(address.hostname, options);
  };
  return async () => {
    const pending = open();
    let conn: Deno.Conn;
    try {
      conn = connectTimeout > 0 ? await withTimeout(pending, connectTimeout, host) : await pending;
    } catch (error) {
      if (error instanceof DockerTimeoutError) throw error;
      throw connectionError(error, host, address);
    }
    return conn;
  };
}

/** Connects with TLS, keeping the IP to dial apart from the name to verify. */
async function connectTlsTo(
  dial: string,
  options: Deno.ConnectTlsOptions & Partial<Deno.TlsCertifiedKeyPem>,
): Promise<Deno.TlsConn> {
  if (options.hostname === dial) {
    const conn = await Deno.connectTls(options);
    return await handshake(conn);
  }
  // Dial the given address, then verify against the requested server name.
  const tcp = await Deno.connect({ hostname: dial, port: options.port });
  const startOptions: Deno.StartTlsOptions = { hostname: options.hostname! };
  if (options.caCerts) startOptions.caCerts = options.caCerts;
  if (options.cert !== undefined && options.key !== undefined) {
    // startTls has no client-certificate option: dial by name instead.
    tcp.close();
    return await handshake(await Deno.connectTls(options));
  }
  let conn: Deno.TlsConn;
  try {
    conn = await Deno.startTls(tcp, startOptions);
  } catch (error) {
    tcp.close();
    throw error;
  }
  return await handshake(conn);
}

/** Completes the TLS handshake now, so certificate errors surface at connect. */
async function handshake(conn: Deno.TlsConn): Promise<Deno.TlsConn> {
  try {
    await conn.handshake();
    return conn;
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** Races a connection attempt against a timer; closes a late connection. */
function withTimeout(pending: Promise<Deno.Conn>, ms: number, host: string): Promise<Deno.Conn> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(
        new DockerTimeoutError(
          `Cannot connect to ${host}: no connection within ${ms} ms`,
          "connect",
          ms,
        ),
      );
    }, ms);
    pending.then(
      (conn) => {
        clearTimeout(timer);
        if (late) conn.close();
        else resolve(conn);
      },
      (error) => {
        clearTimeout(timer);
        if (!late) reject(error);
      },
    );
  });
}

/**
 * Maps a raw connect failure to a {@linkcode DockerConnectionError} with a
 * message that says what to check.
 */
function connectionError(
  error: unknown,
  host: string,
  address: EngineAddress,
): DockerConnectionError {
  const unix = address.transport === "unix";
  let hint: string;
  if (error instanceof Deno.errors.NotCapable) {
    hint = unix
      ? `Deno lacks permission: run with --allow-read=${address.path} --allow-write=${address.path} --allow-net=unix:${address.path}`
      : `Deno lacks permission: run with --allow-net=${address.hostname}:${address.port}`;
  } else if (error instanceof Deno.errors.NotFound) {
    hint = "the socket does not exist; is the engine running?";
  } else if (error instanceof Deno.errors.ConnectionRefused) {
    hint = "the connection was refused; is the engine running?";
  } else if (error instanceof Deno.errors.PermissionDenied) {
    hint = unix
      ? "permission denied on the socket; add the user to the docker group or use the rootless socket"
      : "permission denied";
  } else if (
    error instanceof Deno.errors.InvalidData || /certificate|tls|handshake/i.test(String(error))
  ) {
    hint = `TLS handshake failed (${
      (error as Error).message
    }); check the CA, client certificate and key`;
  } else {
    hint = error instanceof Error ? error.message : String(error);
  }
  return new DockerConnectionError(
    `Cannot connect to the Docker engine at ${host}: ${hint}`,
    host,
    {
      cause: error,
    },
  );
}
