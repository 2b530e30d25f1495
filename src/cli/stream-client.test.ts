import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commandOutcome } from './stream-client.js';

test('the error channel becomes an exit code: Success, NonZeroExitCode with its cause, other failures as errors', () => {
  assert.equal(commandOutcome('v5.channel.k8s.io', ''), 0);
  assert.equal(commandOutcome('v5.channel.k8s.io', '{"metadata":{},"status":"Success"}'), 0);
  const three = { status: 'Failure', reason: 'NonZeroExitCode', message: 'exit 3', details: { causes: [{ reason: 'ExitCode', message: '3' }] } };
  assert.equal(commandOutcome('v4.channel.k8s.io', JSON.stringify(three)), 3);
  assert.throws(() => commandOutcome('v4.channel.k8s.io', JSON.stringify({ status: 'Failure', reason: 'InternalError', message: 'no such container' })), /no such container/);
  // Before v4 the channel holds a bare message, and only on failure.
  assert.throws(() => commandOutcome('channel.k8s.io', 'exec failed'), /exec failed/);
});
