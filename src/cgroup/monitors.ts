// Where conmon and the pods' infra processes live (runtime.conmon_cgroup).
// berthd starts them, so they are born in berthd's own cgroups; a service
// manager that stops berthd by its cgroup (systemd's default KillMode) would
// take every container's monitor with it. They are moved out before they run
// anything: into a cgroup under their pod's (`pod`, as CRI-O does with
// cgroupfs, so the pod is charged for them) or into one dedicated cgroup.
import { internal } from '../util/errors.js';
import { joinCgroup, removeCgroup } from './host.js';

/** The cgroup under a pod's that holds its monitors when runtime.conmon_cgroup is `pod`. */
export const POD_MONITOR_CGROUP = 'berth-conmon';

/** How long killed monitors get to leave their cgroup before it is removed. */
const EMPTYING_MS = 2000;

export class MonitorCgroups {
  /** `pod`, or the absolute cgroupfs path of the dedicated cgroup. */
  constructor(private readonly setting: string) {}

  private get perPod(): boolean {
    return this.setting === 'pod';
  }

  /**
   * The cgroup for the monitors of a pod whose cgroup is `podCgroup`: a leaf
   * beside the containers' cgroups, since on cgroup v2 a cgroup whose
   * children use controllers holds no process itself.
   */
  of(podCgroup: string): string {
    return this.perPod ? `${podCgroup.replace(/\/+$/, '')}/${POD_MONITOR_CGROUP}` : this.setting.replace(/\/+$/, '');
  }

  /** Moves `pid` into the monitors' cgroup of a pod, at once (see joinCgroup); the error names the setting. */
  place(pid: number, podCgroup: string): void {
    const path = this.of(podCgroup);
    try {
      joinCgroup(path, pid);
    } catch (err) {
      throw internal(`moving process ${pid} into cgroup ${path} (runtime.conmon_cgroup = "${this.setting}"): ${(err as Error).message}`, err);
    }
  }

  /** A pod going away: its monitors' cgroup goes before the pod's own can. */
  async forgetPod(podCgroup: string): Promise<void> {
    if (this.perPod) await removeCgroup(this.of(podCgroup), EMPTYING_MS);
  }

  /** At shutdown: the dedicated cgroup, when no monitor is left in it. */
  async close(): Promise<void> {
    if (!this.perPod) await removeCgroup(this.of(''));
  }
}
