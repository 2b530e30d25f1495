// `berth events`: container lifecycle events as they happen (CRI
// GetContainerEvents, the stream kubelet's evented PLEG reads), until
// interrupted or the runtime ends the stream.
import type { Command } from 'commander';
import { status as grpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { CallError } from './client.js';
import { withClient, outputOption, outputFormat, renderStructured } from './common.js';
import { truncId } from './format.js';

interface ContainerEvent {
  containerId: string;
  containerEventType: string;
  createdAt: string;
  podSandboxStatus: { id: string; metadata: { name: string; namespace: string } | null } | null;
  containersStatuses: { id: string; metadata: { name: string } | null }[];
}

/** One table line: time, event, container, its name, pod and namespace. */
export function eventLine(e: ContainerEvent, full: boolean): string {
  const ns = BigInt(e.createdAt || '0');
  const time = new Date(Number(ns / 1_000_000n)).toISOString();
  const pod = e.podSandboxStatus;
  // A pod's own events carry the pod's ID as the container ID.
  const isPod = pod?.id === e.containerId;
  const name = isPod ? '(pod)' : e.containersStatuses.find((c) => c.id === e.containerId)?.metadata?.name ?? '';
  const type = e.containerEventType.replace(/^CONTAINER_/, '').replace(/_EVENT$/, '');
  const podName = pod?.metadata ? `${pod.metadata.namespace}/${pod.metadata.name}` : '';
  return [time, type.padEnd(7), truncId(e.containerId, full), name, pod ? truncId(pod.id, full) : '', podName].join('  ').trimEnd() + '\n';
}

export function registerEventsCommand(program: Command): void {
  outputOption(program.command('events').description('print container and pod lifecycle events as they happen (CRI GetContainerEvents)'))
    .option('--no-trunc', 'show full IDs')
    .action(
      withClient(async (client, _args, cmd) => {
        const format = outputFormat(cmd);
        const full = cmd.opts().trunc === false;
        const call: ClientReadableStream<ContainerEvent> = client.open<ContainerEvent>('GetContainerEvents', {});
        const stop = (): void => void call.cancel();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          await new Promise<void>((resolve, reject) => {
            call.on('data', (e: ContainerEvent) => {
              if (format === 'table') process.stdout.write(eventLine(e, full));
              else if (format === 'json') process.stdout.write(JSON.stringify(e) + '\n');
              else process.stdout.write('---\n' + renderStructured(e, 'yaml'));
            });
            call.on('error', (err: ServiceError) => {
              // Cancelled is our own Ctrl-C.
              if (err.code === grpcStatus.CANCELLED) resolve();
              else reject(new CallError('GetContainerEvents', err.code, err.details || err.message));
            });
            call.on('end', () => resolve());
          });
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }),
    );
}
