/**
 * Compile-level checks of the generated Engine API models (`src/types/`): real
 * engine answers, captured from Docker Engine 20.10 (API 1.41), must still be
 * assignable to the models, so a regenerated model that drifts from the wire
 * fails `deno check`. Object literals also trip excess-property checks, so a
 * field the engine sends but the model lacks is caught too.
 */

import assert from "node:assert/strict";
import type {
  ContainerChangeResponseItem,
  ContainerCreateBody,
  ContainerCreateResponse,
  ContainerInspectResponse,
  ContainerPathStat,
  ContainerStats,
  ContainerSummary,
  ContainerWaitResponse,
  EventMessage,
  Port,
  SystemInfo,
  SystemVersion,
} from "../src/types/mod.ts";
import { parseYaml } from "../tools/gen_types.ts";

/** `GET /v1.41/containers/berth-types-sample/json` (`bb:latest`, `-p 8080:80 -v /data`). */
const inspectSample: ContainerInspectResponse = {
  Id: "933d0e517cf24734a184597e8f40300c852eb82b7d126325736545e820f1c7c9",
  Created: "2026-11-23T20:01:19.320854856Z",
  Path: "sleep",
  Args: ["60"],
  State: {
    Status: "running",
    Running: true,
    Paused: false,
    Restarting: false,
    OOMKilled: false,
    Dead: false,
    Pid: 10688,
    ExitCode: 0,
    Error: "",
    StartedAt: "2026-11-23T20:01:19.498909818Z",
    FinishedAt: "0001-01-01T00:00:00Z",
  },
  Image: "sha256:4e144a3ea802ef48b850476d989024fb412880b2a7f2fb18a9d58c6a62c4d393",
  ResolvConfPath:
    "/tmp/eng/data/containers/933d0e517cf24734a184597e8f40300c852eb82b7d126325736545e820f1c7c9/resolv.conf",
  HostnamePath:
    "/tmp/eng/data/containers/933d0e517cf24734a184597e8f40300c852eb82b7d126325736545e820f1c7c9/hostname",
  HostsPath:
    "/tmp/eng/data/containers/933d0e517cf24734a184597e8f40300c852eb82b7d126325736545e820f1c7c9/hosts",
  LogPath:
    "/tmp/eng/data/containers/933d0e517cf24734a184597e8f40300c852eb82b7d126325736545e820f1c7c9/933d0e517cf24734a184597e8f40300c852eb82b7d126325736545e820f1c7c9-json.log",
  Name: "/berth-types-sample",
  RestartCount: 0,
  Driver: "overlay2",
  Platform: "linux",
  MountLabel: "",
  ProcessLabel: "",
  AppArmorProfile: "",
  ExecIDs: null,
  HostConfig: {
    Binds: null,
    ContainerIDFile: "",
    LogConfig: { Type: "json-file", Config: {} },
    NetworkMode: "default",
    PortBindings: { "80/tcp": [{ HostIp: "", HostPort: "8080" }] },
    RestartPolicy: { Name: "no", MaximumRetryCount: 0 },
    AutoRemove: false,
    VolumeDriver: "",
    VolumesFrom: null,
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: "host",
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: "private",
    Cgroup: "",
    Links: null,
    OomScoreAdj: 0,
    PidMode: "",
    Privileged: false,
    PublishAllPorts: false,
    ReadonlyRootfs: false,
    SecurityOpt: null,
    UTSMode: "",
    UsernsMode: "",
    ShmSize: 67108864,
    Runtime: "runc",
    ConsoleSize: [0, 0],
    Isolation: "",
    CpuShares: 0,
    Memory: 0,
    NanoCpus: 0,
    CgroupParent: "",
    BlkioWeight: 0,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: [],
    BlkioDeviceWriteBps: [],
    BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [],
    CpuPeriod: 0,
    CpuQuota: 0,
    CpuRealtimePeriod: 0,
    CpuRealtimeRuntime: 0,
    CpusetCpus: "",
    CpusetMems: "",
    Devices: [],
    DeviceCgroupRules: null,
    DeviceRequests: null,
    KernelMemory: 0,
    KernelMemoryTCP: 0,
    MemoryReservation: 0,
    MemorySwap: 0,
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: null,
    Ulimits: [],
    CpuCount: 0,
    CpuPercent: 0,
    IOMaximumIOps: 0,
    IOMaximumBandwidth: 0,
    MaskedPaths: [
      "/proc/asound",
      "/proc/acpi",
      "/proc/kcore",
      "/proc/keys",
      "/proc/latency_stats",
      "/proc/timer_list",
      "/proc/timer_stats",
      "/proc/sched_debug",
      "/proc/scsi",
      "/sys/firmware",
    ],
    ReadonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
  },
  GraphDriver: {
    Data: {
      LowerDir:
        "/tmp/eng/data/overlay2/f85710cc23bae70f20f4d3c6be6da6628eb1210ea744bde0a9317b4e9a9ace25-init/diff:/tmp/eng/data/overlay2/33e5c9890a9e5d595000098a1fca98fa4b4eb2ce69228bbcd247d1df2a5ea302/diff",
      MergedDir:
        "/tmp/eng/data/overlay2/f85710cc23bae70f20f4d3c6be6da6628eb1210ea744bde0a9317b4e9a9ace25/merged",
      UpperDir:
        "/tmp/eng/data/overlay2/f85710cc23bae70f20f4d3c6be6da6628eb1210ea744bde0a9317b4e9a9ace25/diff",
      WorkDir:
        "/tmp/eng/data/overlay2/f85710cc23bae70f20f4d3c6be6da6628eb1210ea744bde0a9317b4e9a9ace25/work",
    },
    Name: "overlay2",
  },
  Mounts: [
    {
      Type: "volume",
      Name: "4d1d71bc810fcc90ae32a26e2a4da44504684e866d7414c5b973ed13f1570689",
      Source:
        "/tmp/eng/data/volumes/4d1d71bc810fcc90ae32a26e2a4da44504684e866d7414c5b973ed13f1570689/_data",
      Destination: "/data",
      Driver: "local",
      Mode: "",
      RW: true,
      Propagation: "",
    },
  ],
  Config: {
    Hostname: "933d0e517cf2",
    Domainname: "",
    User: "",
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    ExposedPorts: { "80/tcp": {} },
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: ["FOO=bar", "PATH=/bin"],
    Cmd: ["sleep", "60"],
    Image: "bb:latest",
    Volumes: { "/data": {} },
    WorkingDir: "",
    Entrypoint: null,
    NetworkDisabled: true,
    OnBuild: null,
    Labels: { "berth.test": "types" },
  },
  NetworkSettings: {
    Bridge: "",
    SandboxID: "34cb7d90a04e90f8dd3bc17efdd9659fc95955cd5a590b98c50344c97ed9b95b",
    HairpinMode: false,
    LinkLocalIPv6Address: "",
    LinkLocalIPv6PrefixLen: 0,
    Ports: {},
    SandboxKey: "/tmp/eng/exec/netns/34cb7d90a04e",
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: "",
    Gateway: "",
    GlobalIPv6Address: "",
    GlobalIPv6PrefixLen: 0,
    IPAddress: "",
    IPPrefixLen: 0,
    IPv6Gateway: "",
    MacAddress: "",
    Networks: {
      bridge: {
        IPAMConfig: null,
        Links: null,
        Aliases: null,
        NetworkID: "",
        EndpointID: "",
        Gateway: "",
        IPAddress: "",
        IPPrefixLen: 0,
        IPv6Gateway: "",
        GlobalIPv6Address: "",
        GlobalIPv6PrefixLen: 0,
        MacAddress: "",
        DriverOpts: null,
      },
    },
  },
};

/** `GET /v1.41/version`. */
const versionSample: SystemVersion = {
  Platform: { Name: "" },
  Components: [
    {
      Name: "Engine",
      Version: "20.10.24+dfsg1",
      Details: {
        ApiVersion: "1.41",
        Arch: "amd64",
        BuildTime: "2026-05-07T21:09:36.000000000+00:00",
        Experimental: "false",
        GitCommit: "5d6db84",
        GoVersion: "go1.19.8",
        KernelVersion: "6.18.44-fc-v782",
        MinAPIVersion: "1.12",
        Os: "linux",
      },
    },
    {
      Name: "containerd",
      Version: "1.6.20~ds1",
      Details: { GitCommit: "1.6.20~ds1-1+deb12u3" },
    },
    { Name: "runc", Version: "1.1.5+ds1", Details: { GitCommit: "1.1.5+ds1-1+deb12u1" } },
    { Name: "docker-init", Version: "0.19.0", Details: { GitCommit: "" } },
  ],
  Version: "20.10.24+dfsg1",
  ApiVersion: "1.41",
  MinAPIVersion: "1.12",
  GitCommit: "5d6db84",
  GoVersion: "go1.19.8",
  Os: "linux",
  Arch: "amd64",
  KernelVersion: "6.18.44-fc-v782",
  BuildTime: "2026-05-07T21:09:36.000000000+00:00",
};

/** `GET /v1.41/info`. */
const infoSample: SystemInfo = {
  ID: "QBJU:PDC5:NYV5:OKZ3:WHHH:J2LC:7TND:PPQQ:6WDQ:7WGU:4OWX:TIV2",
  Containers: 1,
  ContainersRunning: 1,
  ContainersPaused: 0,
  ContainersStopped: 0,
  Images: 1,
  Driver: "overlay2",
  DriverStatus: [
    ["Backing Filesystem", "extfs"],
    ["Supports d_type", "true"],
    ["Native Overlay Diff", "true"],
    ["userxattr", "false"],
  ],
  Plugins: {
    Volume: ["local"],
    Network: ["bridge", "host", "ipvlan", "macvlan", "null", "overlay"],
    Authorization: null,
    Log: [
      "awslogs",
      "fluentd",
      "gcplogs",
      "gelf",
      "journald",
      "json-file",
      "local",
      "logentries",
      "splunk",
      "syslog",
    ],
  },
  MemoryLimit: true,
  SwapLimit: true,
  KernelMemory: true,
  KernelMemoryTCP: true,
  CpuCfsPeriod: true,
  CpuCfsQuota: true,
  CPUShares: true,
  CPUSet: true,
  PidsLimit: true,
  IPv4Forwarding: true,
  BridgeNfIptables: true,
  BridgeNfIp6tables: true,
  Debug: false,
  NFd: 27,
  OomKillDisable: true,
  NGoroutines: 43,
  SystemTime: "2026-11-23T20:01:20.565454774Z",
  LoggingDriver: "json-file",
  CgroupDriver: "cgroupfs",
  CgroupVersion: "1",
  NEventsListener: 0,
  KernelVersion: "6.18.44-fc-v782",
  OperatingSystem: "Debian GNU/Linux 12 (bookworm)",
  OSVersion: "12",
  OSType: "linux",
  Architecture: "x86_64",
  IndexServerAddress: "https://index.docker.io/v1/",
  RegistryConfig: {
    AllowNondistributableArtifactsCIDRs: [],
    AllowNondistributableArtifactsHostnames: [],
    InsecureRegistryCIDRs: ["127.0.0.0/8"],
    IndexConfigs: {
      "docker.io": { Name: "docker.io", Mirrors: [], Secure: true, Official: true },
    },
    Mirrors: [],
  },
  NCPU: 2,
  MemTotal: 25276063744,
  GenericResources: null,
  DockerRootDir: "/tmp/eng/data",
  HttpProxy: "",
  HttpsProxy: "",
  NoProxy: "",
  Name: "vm",
  Labels: [],
  ExperimentalBuild: false,
  ServerVersion: "20.10.24+dfsg1",
  Runtimes: {
    "io.containerd.runc.v2": { path: "runc" },
    "io.containerd.runtime.v1.linux": { path: "runc" },
    runc: { path: "runc" },
  },
  DefaultRuntime: "runc",
  Swarm: {
    NodeID: "",
    NodeAddr: "",
    LocalNodeState: "inactive",
    ControlAvailable: false,
    Error: "",
    RemoteManagers: null,
  },
  LiveRestoreEnabled: false,
  Isolation: "",
  InitBinary: "docker-init",
  ContainerdCommit: { ID: "1.6.20~ds1-1+deb12u3", Expected: "1.6.20~ds1-1+deb12u3" },
  RuncCommit: { ID: "1.1.5+ds1-1+deb12u1", Expected: "1.1.5+ds1-1+deb12u1" },
  InitCommit: { ID: "", Expected: "" },
  SecurityOptions: ["name=seccomp,profile=default"],
  Warnings: null,
};

/** `GET /v1.41/containers/json?all=1`. */
const listSample: ContainerSummary[] = [
  {
    Id: "933d0e517cf24734a184597e8f40300c852eb82b7d126325736545e820f1c7c9",
    Names: ["/berth-types-sample"],
    Image: "bb:latest",
    ImageID: "sha256:4e144a3ea802ef48b850476d989024fb412880b2a7f2fb18a9d58c6a62c4d393",
    Command: "sleep 60",
    Created: 1795464079,
    Ports: [],
    Labels: { "berth.test": "types" },
    State: "running",
    Status: "Up 2 seconds",
    HostConfig: { NetworkMode: "default" },
    NetworkSettings: {
      Networks: {
        bridge: {
          IPAMConfig: null,
          Links: null,
          Aliases: null,
          NetworkID: "",
          EndpointID: "",
          Gateway: "",
          IPAddress: "",
          IPPrefixLen: 0,
          IPv6Gateway: "",
          GlobalIPv6Address: "",
          GlobalIPv6PrefixLen: 0,
          MacAddress: "",
          DriverOpts: null,
        },
      },
    },
    Mounts: [
      {
        Type: "volume",
        Name: "4d1d71bc810fcc90ae32a26e2a4da44504684e866d7414c5b973ed13f1570689",
        Source: "",
        Destination: "/data",
        Driver: "local",
        Mode: "",
        RW: true,
        Propagation: "",
      },
    ],
  },
];

/** `GET /v1.41/containers/berth-types-sample/stats?stream=false` (`memory_stats.stats` abridged). */
const statsSample: ContainerStats = {
  read: "2026-11-23T20:01:21.625993467Z",
  preread: "2026-11-23T20:01:20.614767203Z",
  pids_stats: { current: 1 },
  blkio_stats: {
    io_service_bytes_recursive: [],
    io_serviced_recursive: [],
    io_queue_recursive: [],
    io_service_time_recursive: [],
    io_wait_time_recursive: [],
    io_merged_recursive: [],
    io_time_recursive: [],
    sectors_recursive: [],
  },
  num_procs: 0,
  storage_stats: {},
  cpu_stats: {
    cpu_usage: {
      total_usage: 34596331,
      percpu_usage: [2453044, 32143287],
      usage_in_kernelmode: 0,
      usage_in_usermode: 20000000,
    },
    system_cpu_usage: 2757620000000,
    online_cpus: 2,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  },
  precpu_stats: {
    cpu_usage: {
      total_usage: 34596331,
      percpu_usage: [2453044, 32143287],
      usage_in_kernelmode: 0,
      usage_in_usermode: 20000000,
    },
    system_cpu_usage: 2755610000000,
    online_cpus: 2,
    throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  },
  memory_stats: {
    usage: 2609152,
    max_usage: 4079616,
    stats: {
      active_anon: 4096,
      cache: 1986560,
      // The engine sent 9223372036854771712; as a literal it would trip no-loss-of-precision.
      hierarchical_memory_limit: 2 ** 63 - 4096,
      inactive_file: 1982464,
      rss: 49152,
      total_inactive_file: 1982464,
    },
    limit: 25276063744,
  },
  name: "/berth-types-sample",
  id: "933d0e517cf24734a184597e8f40300c852eb82b7d126325736545e820f1c7c9",
};

Deno.test("ContainerInspectResponse accepts a captured engine answer", () => {
  assert.equal(inspectSample.State?.Status, "running");
  assert.equal(inspectSample.Name, "/berth-types-sample");
  assert.deepEqual(inspectSample.HostConfig?.PortBindings?.["80/tcp"], [{
    HostIp: "",
    HostPort: "8080",
  }]);
  assert.equal(inspectSample.Config?.Labels?.["berth.test"], "types");
  assert.equal(inspectSample.HostConfig?.Binds, null);
});

Deno.test("SystemVersion accepts a captured engine answer", () => {
  assert.equal(versionSample.ApiVersion, "1.41");
  assert.equal(versionSample.Components?.[0]?.Name, "Engine");
});

Deno.test("SystemInfo accepts a captured engine answer", () => {
  assert.equal(infoSample.Swarm?.LocalNodeState, "inactive");
  assert.equal(infoSample.RegistryConfig?.IndexConfigs?.["docker.io"]?.Official, true);
  assert.equal(infoSample.Warnings, null);
});

Deno.test("ContainerSummary and ContainerStats accept captured engine answers", () => {
  assert.equal(listSample[0]?.State, "running");
  assert.equal(statsSample.cpu_stats?.online_cpus, 2);
  // 64-bit counters beyond 2^53 arrive as the nearest double.
  assert.ok(!Number.isSafeInteger(statsSample.memory_stats?.stats?.hierarchical_memory_limit));
});

Deno.test("ContainerCreateBody composes ContainerConfig with HostConfig and NetworkingConfig", () => {
  const body: ContainerCreateBody = {
    Image: "bb:latest",
    Cmd: ["sleep", "60"],
    Labels: { "berth.test": "types" },
    HostConfig: { PortBindings: { "80/tcp": [{ HostPort: "8080" }] }, Memory: 64 * 1024 * 1024 },
    NetworkingConfig: { EndpointsConfig: { bridge: { Aliases: ["web"] } } },
  };
  assert.equal(body.HostConfig?.Memory, 67108864);
});

Deno.test("Small response models keep the fields every engine sends required", () => {
  const created: ContainerCreateResponse = { Id: "abc", Warnings: [] };
  const waited: ContainerWaitResponse = { StatusCode: 137 };
  const change: ContainerChangeResponseItem = { Path: "/tmp", Kind: 1 };
  const stat: ContainerPathStat = {
    name: "data",
    size: 4096,
    mode: 2147484141,
    mtime: "2026-11-23T20:01:19Z",
    linkTarget: "",
  };
  // @ts-expect-error Warnings is required.
  const partial: ContainerCreateResponse = { Id: "abc" };
  // @ts-expect-error Kind is 0, 1 or 2.
  const badKind: ContainerChangeResponseItem = { Path: "/tmp", Kind: 3 };
  assert.deepEqual([created.Id, waited.StatusCode, change.Kind, stat.name], [
    "abc",
    137,
    1,
    "data",
  ]);
  assert.ok(partial && badKind);
});

Deno.test("String enums accept values from newer engines", () => {
  const port: Port = { PrivatePort: 80, Type: "quic" };
  const event: EventMessage = { Type: "future-object", Action: "create", scope: "local" };
  assert.equal(port.Type, "quic");
  assert.equal(event.Type, "future-object");
});

Deno.test("parseYaml reads the swagger subset", () => {
  const text = [
    "# comment",
    "definitions:",
    "  Port:",
    '    type: "object"',
    "    required: [PrivatePort, Type]",
    "    description: |",
    "      An open port.",
    "",
    "      Second paragraph.",
    "    properties:",
    "      Type:",
    "        enum:",
    '          - "tcp"',
    "          - 'udp' # trailing comment",
    "      Options: {}",
    "      Note: >-",
    "        folded",
    "        text",
    "      Long:",
    "        plain scalar",
    "        on two lines",
    "  List:",
    "  - a: 1",
    "    b: true",
    "  - [x, { y: null }]",
  ].join("\n");
  assert.deepEqual(parseYaml(text), {
    definitions: {
      Port: {
        type: "object",
        required: ["PrivatePort", "Type"],
        description: "An open port.\n\nSecond paragraph.\n",
        properties: {
          Type: { enum: ["tcp", "udp"] },
          Options: {},
          Note: "folded text",
          Long: "plain scalar on two lines",
        },
      },
      List: [{ a: 1, b: true }, ["x", { y: null }]],
    },
  });
});
