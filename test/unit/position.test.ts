import { describe, expect, it } from 'vitest';
import { PositionTracker } from '../../src/run/position.js';
import type { Row } from '../../src/rows/types.js';

const row = (id: string, updated_at: string | null) => ({ document_id: id, updated_at }) as Row;

describe('position tracking', () => {
  it('records every id exported at the last instant', () => {
    const t = new PositionTracker(null);
    t.advance(row('a', '2026-01-01T00:00:00.000000Z'));
    t.advance(row('b', '2026-01-01T00:00:01.000000Z'));
    t.advance(row('c', '2026-01-01T00:00:01.000000Z'));
    expect(t.snapshot()).toEqual({ updatedAt: '2026-01-01T00:00:01.000000Z', ids: ['b', 'c'] });
  });

  it('skips on resume exactly what was exported at and before the position', () => {
    const t = new PositionTracker({ updatedAt: '2026-01-01T00:00:01.000000Z', ids: ['b'] });
    expect(t.alreadyExported(row('a', '2026-01-01T00:00:00.000000Z'))).toBe(true);
    expect(t.alreadyExported(row('b', '2026-01-01T00:00:01.000000Z'))).toBe(true);
    expect(t.alreadyExported(row('c', '2026-01-01T00:00:01.000000Z'))).toBe(false);
    t.advance(row('c', '2026-01-01T00:00:01.000000Z'));
    expect(t.snapshot()?.ids).toEqual(['b', 'c']);
  });

  it('refuses documents that go back in time', () => {
    const t = new PositionTracker(null);
    t.advance(row('a', '2026-01-01T00:00:05.000000Z'));
    expect(() => t.advance(row('b', '2026-01-01T00:00:01.000000Z'))).toThrow(/not return documents in updated_at order/);
  });
});
