import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderReport, requireMinEvents } from './slo.js';
import type { SloReport } from '../metrics/slo.js';

const report = (events: number, value: number): SloReport => ({
  coveredSeconds: 3600, restartedInWindow: false, breached: value < 0.995,
  results: [
    { name: 'container start success', kind: 'min', unit: 'ratio', target: 0.995, value, events, breached: value < 0.995 },
    { name: 'container restarts', kind: 'info', unit: 'count', value: 1, events: 1, breached: false },
  ],
});

test('an SLI with fewer events than the minimum gets no verdict; at the minimum it does', () => {
  const few = requireMinEvents(report(2, 0.5), 20);
  assert.equal(few.breached, false);
  assert.equal(few.results[0]!.tooFewEvents, true);
  const text = renderReport(few, 3600);
  assert.match(text, /container start success\s+50\.000%\s+>= 99\.500%\s+2\s+no verdict \(< 20 events\)/);
  assert.match(text, /no SLO breached; too few events for a verdict on: container start success \(--min-events 20\)/);
  const enough = requireMinEvents(report(20, 0.5), 20);
  assert.equal(enough.breached, true);
  assert.match(renderReport(enough, 3600), /20\s+BREACHED\n[^]*SLO BREACHED\n$/);
  assert.match(renderReport(requireMinEvents(report(40, 1), 20), 3600), /all SLOs met\n$/);
});
