import { describe, expect, it } from 'vitest';

import { DeliveryGate, targetOf, type Admission } from './delivery-gate.js';

const LIMITS = { perTarget: 2, perKey: 3, failuresToOpen: 3, cooldownMs: 1000, maxCooldownMs: 4000 };
let now = 0;
const gate = () => {
  now = 0;
  return new DeliveryGate(
    LIMITS,
    () => 0.5,
    () => now,
  ); // no jitter, a clock of the test's
};
const admitted = (a: Admission) => {
  if (!a.ok) throw new Error(`refused: ${a.reason}`);
  return a;
};

describe('targetOf', () => {
  it('is the origin with the port spelled out', () => {
    expect(targetOf('https://hooks.example.com/x?y=1')).toBe('https://hooks.example.com:443');
    expect(targetOf('http://10.0.0.1:8080/a')).toBe('http://10.0.0.1:8080');
    expect(targetOf('http://[::1]/a')).toBe('http://[::1]:80');
  });
});

describe('DeliveryGate', () => {
  it('lets at most perTarget attempts at one target, and others meanwhile', () => {
    const g = gate();
    const a = admitted(g.admit('t1', 'k1'));
    admitted(g.admit('t1', 'k2'));
    expect(g.admit('t1', 'k3')).toMatchObject({ ok: false, reason: 'target_busy', retryInMs: 500 });
    admitted(g.admit('t2', 'k3')); // another target is not delayed
    a.done('success');
    admitted(g.admit('t1', 'k3')); // a freed slot is taken again
  });

  it('lets at most perKey attempts for one key, across targets', () => {
    const g = gate();
    for (const t of ['t1', 't2', 't3']) admitted(g.admit(t, 'k1'));
    expect(g.admit('t4', 'k1')).toMatchObject({ ok: false, reason: 'key_busy' });
    admitted(g.admit('t4', 'k2'));
  });

  it('opens a circuit after failures in a row, probes after the cool-down, doubles it on a failed probe', () => {
    const g = gate();
    for (let i = 0; i < 3; i++) admitted(g.admit('bad', 'k1')).done('failure');
    // Open: parked until the cool-down ends, whatever the key; other targets go on.
    now = 10;
    expect(g.admit('bad', 'k2')).toMatchObject({ ok: false, reason: 'circuit_open' });
    expect(g.openCircuits()).toBe(1);
    admitted(g.admit('good', 'k1')).done('success');
    // Cooled down: one probe goes, the next waits for its answer.
    now = 1000;
    const probe = admitted(g.admit('bad', 'k1'));
    expect(g.admit('bad', 'k1')).toMatchObject({ ok: false, reason: 'circuit_open' });
    probe.done('failure');
    const refusal = g.admit('bad', 'k1');
    expect(refusal).toMatchObject({ ok: false, reason: 'circuit_open' });
    expect(!refusal.ok && refusal.retryInMs).toBeGreaterThan(1000); // 2000 ms now
  });

  it('closes the circuit when a probe succeeds', () => {
    const g = gate();
    for (let i = 0; i < 3; i++) admitted(g.admit('t', 'k')).done('failure');
    now = 1000;
    admitted(g.admit('t', 'k')).done('success');
    expect(g.openCircuits()).toBe(0);
    admitted(g.admit('t', 'k'));
  });

  it('counts only failures in a row', () => {
    const g = gate();
    admitted(g.admit('t', 'k')).done('failure');
    admitted(g.admit('t', 'k')).done('failure');
    admitted(g.admit('t', 'k')).done('success');
    admitted(g.admit('t', 'k')).done('failure');
    admitted(g.admit('t', 'k')).done('failure');
    admitted(g.admit('t', 'k'));
  });
});
