import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// Every SLI metric Berth exports is declared here, once, so the modules that
// count (images, containers, sandboxes, streaming) and the consumers (the
// /metrics endpoint, deploy/ rules and dashboards, `berth slo`) agree on names.
// Naming follows Prometheus conventions: berth_ prefix, base units, _total.

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Who a failure is the fault of, on every failure counter: `user` (the
 * request or what it names: an image that does not exist, bad credentials,
 * a bad config or command), `registry`, `network` (CNI), or `runtime`
 * (berthd, the OCI runtime, the host). The runtime's SLIs leave `user`
 * failures out: a typo in an image name is not a runtime outage.
 */
export type Fault = 'user' | 'runtime' | 'registry' | 'network';
// Finer between 50 ms and 300 ms, where runc's create lands on a busy node.
const RUNTIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10];
const PULL_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class Metrics {
  readonly registry = new Registry();
  private readonly startedAt = Date.now();

  readonly criRequests = new Counter({
    name: 'berth_cri_requests_total', help: 'CRI calls by method and gRPC code.',
    labelNames: ['method', 'code'] as const, registers: [this.registry],
  });
  readonly criErrors = new Counter({
    name: 'berth_cri_request_errors_total', help: 'CRI calls that did not answer OK, by method and gRPC code.',
    labelNames: ['method', 'code'] as const, registers: [this.registry],
  });
  readonly criHandlerErrors = new Counter({
    name: 'berth_cri_handler_errors_total', help: 'CRI calls a handler failed with an unexpected error (a bug: answered INTERNAL, stack logged), by method.',
    labelNames: ['method'] as const, registers: [this.registry],
  });
  readonly criDuration = new Histogram({
    name: 'berth_cri_request_duration_seconds', help: 'CRI call latency by method.',
    labelNames: ['method'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry],
  });

  readonly containerStartAttempts = new Counter({
    name: 'berth_container_start_attempts_total', help: 'StartContainer calls, plus CreateContainer calls that failed (a container that cannot be created never starts).',
    registers: [this.registry],
  });
  readonly containerStartSuccesses = new Counter({
    name: 'berth_container_start_successes_total', help: 'Containers that reached the running state.',
    registers: [this.registry],
  });
  readonly containerStartFailures = new Counter({
    name: 'berth_container_start_failures_total', help: 'Container starts (and creations) that failed, by reason and by whose fault.',
    labelNames: ['reason', 'fault'] as const, registers: [this.registry],
  });
  readonly containerStartLatency = new Histogram({
    name: 'berth_container_start_latency_seconds', help: 'From StartContainer\'s arrival to the container\'s process running.',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly containerCreateToRunning = new Histogram({
    name: 'berth_container_create_to_running_seconds', help: 'From CreateContainer\'s arrival to the container\'s process running (includes the caller\'s pause between the calls).',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly runtimeOperationDuration = new Histogram({
    name: 'berth_runtime_operation_duration_seconds',
    help: 'The OCI runtime\'s own part of a container\'s creation (conmon released to the runtime\'s pid file) and start (its process released), by handler.',
    labelNames: ['handler', 'operation'] as const, buckets: RUNTIME_BUCKETS, registers: [this.registry],
  });
  readonly containerRestarts = new Counter({
    name: 'berth_container_restarts_total', help: 'Containers created again with the same pod and name (attempt > 0).',
    registers: [this.registry],
  });
  readonly containerExits = new Counter({
    name: 'berth_container_exits_total', help: 'Container exits by reason (Completed, Error, OOMKilled).',
    labelNames: ['reason'] as const, registers: [this.registry],
  });
  readonly seccompDenials = new Counter({
    name: 'berth_seccomp_denials_total', help: 'System calls a container\'s seccomp profile denied, for containers that opted into the notifier, by pod, container and system call.',
    labelNames: ['namespace', 'pod', 'container', 'syscall'] as const, registers: [this.registry],
  });
  readonly podOomKills = new Counter({
    name: 'berth_pod_oom_kills_total', help: 'Processes the kernel\'s OOM killer killed in a pod\'s cgroups (its containers\' and its own), by pod.',
    labelNames: ['namespace', 'pod'] as const, registers: [this.registry],
  });

  readonly sandboxCreateAttempts = new Counter({
    name: 'berth_sandbox_create_attempts_total', help: 'RunPodSandbox calls.',
    registers: [this.registry],
  });
  readonly sandboxCreateFailures = new Counter({
    name: 'berth_sandbox_create_failures_total', help: 'RunPodSandbox failures by reason and by whose fault.',
    labelNames: ['reason', 'fault'] as const, registers: [this.registry],
  });
  readonly sandboxCreateLatency = new Histogram({
    name: 'berth_sandbox_create_latency_seconds', help: 'RunPodSandbox latency.',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly networkSetupFailures = new Counter({
    name: 'berth_sandbox_network_setup_failures_total', help: 'CNI ADD failures by reason.',
    labelNames: ['reason'] as const, registers: [this.registry],
  });
  readonly networkSetupLatency = new Histogram({
    name: 'berth_sandbox_network_setup_latency_seconds', help: 'CNI ADD latency.',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });

  readonly imagePullAttempts = new Counter({
    name: 'berth_image_pull_attempts_total', help: 'PullImage calls by registry.',
    labelNames: ['registry'] as const, registers: [this.registry],
  });
  readonly imagePullSuccesses = new Counter({
    name: 'berth_image_pull_successes_total', help: 'Successful pulls by registry.',
    labelNames: ['registry'] as const, registers: [this.registry],
  });
  readonly imagePullFailures = new Counter({
    name: 'berth_image_pull_failures_total', help: 'Failed pulls by registry, reason and whose fault.',
    labelNames: ['registry', 'reason', 'fault'] as const, registers: [this.registry],
  });
  readonly imagePullLatency = new Histogram({
    name: 'berth_image_pull_duration_seconds', help: 'PullImage latency.',
    labelNames: ['registry'] as const, buckets: PULL_BUCKETS, registers: [this.registry],
  });
  readonly imagePullBytes = new Counter({
    name: 'berth_image_pull_bytes_total', help: 'Blob bytes downloaded by registry.',
    labelNames: ['registry'] as const, registers: [this.registry],
  });

  readonly execLatency = new Histogram({
    name: 'berth_exec_latency_seconds', help: 'Time from an exec/attach request to the process streaming, by kind.',
    labelNames: ['kind'] as const, buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly execSyncDuration = new Histogram({
    name: 'berth_exec_sync_duration_seconds', help: 'ExecSync wall time.',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });

  readonly gcDuration = new Histogram({
    name: 'berth_image_gc_duration_seconds', help: 'Time spent releasing unused image blobs and layers.',
    buckets: LATENCY_BUCKETS, registers: [this.registry],
  });
  readonly imageFsBytes = new Gauge({
    name: 'berth_image_fs_used_bytes', help: 'Bytes used by the image store.', registers: [this.registry],
  });
  readonly imageFsAvailableBytes = new Gauge({
    name: 'berth_image_fs_available_bytes', help: 'Bytes available to unprivileged users on the filesystem holding the image store.', registers: [this.registry],
  });
  readonly imageFsSizeBytes = new Gauge({
    name: 'berth_image_fs_size_bytes', help: 'Size of the filesystem holding the image store.', registers: [this.registry],
  });
  readonly containerFsBytes = new Gauge({
    name: 'berth_container_fs_used_bytes', help: 'Bytes used by container writable layers.', registers: [this.registry],
  });
  readonly diskPressure = new Gauge({
    name: 'berth_disk_pressure', help: '1 while the filesystem (image: the image store\'s; container: the writable layers\') is used above its threshold.',
    labelNames: ['fs'] as const, registers: [this.registry],
  });
  readonly diskPressureEvents = new Counter({
    name: 'berth_disk_pressure_events_total', help: 'Times a filesystem went above its used-space threshold.',
    labelNames: ['fs'] as const, registers: [this.registry],
  });

  readonly daemonStarts = new Counter({
    name: 'berth_daemon_starts_total', help: 'berthd starts recorded in this state root (persists across restarts).',
    registers: [this.registry],
  });
  readonly daemonUncleanRestarts = new Counter({
    name: 'berth_daemon_unclean_restarts_total', help: 'berthd starts that found the previous run had not shut down cleanly (killed, crashed, power lost); persists across restarts.',
    registers: [this.registry],
  });
  readonly daemonStartTime = new Gauge({
    name: 'berth_daemon_start_time_seconds', help: 'Unix time berthd started.', registers: [this.registry],
  });

  readonly daemonUptime = (() => {
    const startedAt = this.startedAt;
    return new Gauge({
      name: 'berth_daemon_uptime_seconds', help: 'Seconds since berthd started.', registers: [this.registry],
      collect() {
        this.set((Date.now() - startedAt) / 1000);
      },
    });
  })();

  constructor(withProcessMetrics = true) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'berth_' });
    this.daemonStartTime.set(this.startedAt / 1000);
    // Known failure reasons exist from the start at 0, so rate() sees their first increment.
    for (const [reason, fault] of [['CreateError', 'runtime'], ['RuntimeError', 'runtime'], ['Internal', 'runtime'], ['BadConfig', 'user'], ['ImageNotFound', 'user']] as const) {
      this.containerStartFailures.inc({ reason, fault }, 0);
    }
    for (const [reason, fault] of [['BadConfig', 'user'], ['CNI', 'network'], ['Runtime', 'runtime'], ['Internal', 'runtime']] as const) this.sandboxCreateFailures.inc({ reason, fault }, 0);
    for (const fs of ['image', 'container']) {
      this.diskPressure.set({ fs }, 0);
      this.diskPressureEvents.inc({ fs }, 0);
    }
    this.daemonUncleanRestarts.inc(0);
  }
}
