import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConf, pluginTypes, isConfFile } from './config.js';
import { pickVersion, hasCheck, hasStatus } from './version.js';

test('a 1.0.0 conflist parses with its plugins and disableCheck', () => {
  const l = parseConf('10-a.conflist', JSON.stringify({
    cniVersion: '1.0.0', name: 'net-a', disableCheck: true,
    plugins: [{ type: 'bridge', ipam: { type: 'host-local', subnet: '10.1.0.0/16' } }, { type: 'portmap', capabilities: { portMappings: true } }],
  }));
  assert.equal(l.cniVersion, '1.0.0');
  assert.equal(l.name, 'net-a');
  assert.equal(l.disableCheck, true);
  assert.deepEqual(l.plugins.map((p) => p.type), ['bridge', 'portmap']);
  assert.deepEqual(pluginTypes(l), ['bridge', 'host-local', 'portmap']);
});

test('a single-plugin .conf (0.3.1) becomes a list of one', () => {
  const l = parseConf('87-podman.conf', JSON.stringify({ cniVersion: '0.3.1', name: 'old', type: 'bridge', bridge: 'cni0' }));
  assert.equal(l.cniVersion, '0.3.1');
  assert.equal(l.plugins.length, 1);
  assert.equal(l.plugins[0]!.bridge, 'cni0');
});

test('0.4.0 lists parse; 1.1.0 cniVersions picks the highest supported version', () => {
  assert.equal(parseConf('a.conflist', JSON.stringify({ cniVersion: '0.4.0', name: 'n', plugins: [{ type: 'x' }] })).cniVersion, '0.4.0');
  const l = parseConf('a.conflist', JSON.stringify({ cniVersion: '1.0.0', cniVersions: ['0.4.0', '1.1.0', '9.0.0'], name: 'n', plugins: [{ type: 'x' }] }));
  assert.equal(l.cniVersion, '1.1.0');
  assert.equal(pickVersion(['1.0.0', '0.3.1']), '1.0.0');
  assert.equal(hasCheck('0.3.1'), false);
  assert.equal(hasCheck('0.4.0'), true);
  assert.equal(hasStatus('1.0.0'), false);
  assert.equal(hasStatus('1.1.0'), true);
});

test('invalid files are refused with a reason', () => {
  const bad: [string, string, RegExp][] = [
    ['a.conflist', '{"cniVersion": "1.0.0", "name": "x", "plugins": [', /not valid JSON/],
    ['a.conflist', '[]', /not a JSON object/],
    ['a.conflist', JSON.stringify({ cniVersion: '1.0.0', plugins: [{ type: 'x' }] }), /no valid "name"/],
    ['a.conflist', JSON.stringify({ cniVersion: '1.0.0', name: 'bad name', plugins: [{ type: 'x' }] }), /no valid "name"/],
    ['a.conflist', JSON.stringify({ name: 'n', plugins: [{ type: 'x' }] }), /no "cniVersion"/],
    ['a.conflist', JSON.stringify({ cniVersion: '0.2.0', name: 'n', plugins: [{ type: 'x' }] }), /0\.2\.0" is not supported/],
    ['a.conflist', JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [] }), /no "plugins"/],
    ['a.conflist', JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{}] }), /plugins\[0\] has no "type"/],
    ['a.conflist', JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: '../../bin/sh' }] }), /not a plain binary name/],
    ['a.conf', JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'x' }] }), /belongs in a \.conflist/],
  ];
  for (const [file, text, re] of bad) assert.throws(() => parseConf(file, text), re, text);
});

test('only .conf, .conflist and .json files are candidates', () => {
  assert.ok(isConfFile('10-a.conflist'));
  assert.ok(isConfFile('10-a.conf'));
  assert.ok(isConfFile('10-a.json'));
  assert.ok(!isConfFile('10-a.conflist.bak'));
  assert.ok(!isConfFile('.10-a.conflist.tmp'));
});
