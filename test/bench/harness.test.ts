/**
 * The benchmark harness's targets: a row passes or fails on the figure its target names.
 */
import { describe, expect, it } from 'vitest';
import { addedAtMost, brokerAtMost, formatTable, row } from '../../bench/lib/harness.js';

describe('row targets', () => {
  it('addedAtMost judges what the broker adds to the baseline, not its own figure', () => {
    // Act: a 590 KiB bundle over a 400 KiB baseline adds 190 KiB.
    const within = row('bundle', 'KiB', 400, 590, addedAtMost(200));
    const over = row('bundle', 'KiB', 400, 610, addedAtMost(200));
    const absolute = row('bundle', 'KiB', 400, 610, brokerAtMost(600));

    // Assess
    expect(within.pass).toBe(true);
    expect(over.pass).toBe(false);
    expect(absolute.pass).toBe(false);
    expect(row('bundle', 'KiB', null, 590, addedAtMost(200)).pass).toBe(false);
  });

  it('the table names the difference as the target', () => {
    // Act
    const table = formatTable({ title: 't', rows: [row('bundle', 'KiB', 400, 590, addedAtMost(200))], memory: { peakRssMiB: 1, note: '' } });

    // Assess
    expect(table).toContain('broker − baseline ≤ 200');
    expect(table).toContain('PASS');
  });
});
