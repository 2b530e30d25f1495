import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cgroupDriverProblem, systemdSlicePath } from './cgroup-driver.js';

test('slice names become the cgroupfs path systemd gives them', () => {
  assert.equal(systemdSlicePath('kubepods.slice'), '/kubepods.slice');
  assert.equal(systemdSlicePath('kubepods-besteffort.slice'), '/kubepods.slice/kubepods-besteffort.slice');
  assert.equal(
    systemdSlicePath('kubepods-besteffort-pod1234.slice'),
    '/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice',
  );
  // kubelet writes pod UIDs with underscores for dashes, so they stay one component.
  assert.equal(
    systemdSlicePath('kubepods-burstable-pod8a3c_2e1f.slice'),
    '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8a3c_2e1f.slice',
  );
  assert.equal(systemdSlicePath('-.slice'), '/');
  for (const bad of ['kubepods', '.slice', 'a/b.slice', 'a--b.slice', '-a.slice', 'a-.slice', 'kubepods.scope']) {
    assert.throws(() => systemdSlicePath(bad), new RegExp(bad.replace(/[.*/-]/g, '\\$&')), bad);
  }
});

test('cgroup_driver "systemd" is refused, saying why for the host', () => {
  assert.equal(cgroupDriverProblem('cgroupfs', { systemdBooted: false, pid1: 'sh' }), undefined);
  assert.match(cgroupDriverProblem('systemd', { systemdBooted: false, pid1: 'init' }) ?? '', /needs systemd as PID 1, and here PID 1 is "init".*"cgroupfs"/);
  assert.match(cgroupDriverProblem('systemd', { systemdBooted: true, pid1: 'systemd' }) ?? '', /not implemented by berthd.*--cgroup-driver=cgroupfs/);
});
