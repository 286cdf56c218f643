import { SourceError } from '../errors.js';
import type { Position } from '../commit/checkpoint.js';
import type { Row } from '../rows/types.js';

/**
 * Tracks the position reached in `updated_at` order: the last instant exported and every
 * id exported at exactly that instant. Resuming from a position re-reads from that
 * instant (inclusive) and skips those ids, so ties at the boundary are neither lost nor
 * doubled, whatever the API's cursor did.
 */
export class PositionTracker {
  private updatedAt: string | null;
  private ids: Set<string>;

  constructor(start: Position | null) {
    this.updatedAt = start?.updatedAt ?? null;
    this.ids = new Set(start?.ids ?? []);
  }

  /** True when the row was already exported before the position (resume overlap). */
  alreadyExported(row: Row): boolean {
    if (this.updatedAt === null) return false;
    if (row.updated_at === null) return this.ids.has(row.document_id);
    if (row.updated_at < this.updatedAt) return true;
    return row.updated_at === this.updatedAt && this.ids.has(row.document_id);
  }

  advance(row: Row): void {
    const at = row.updated_at;
    if (at === null || at === this.updatedAt) {
      this.ids.add(row.document_id);
      return;
    }
    if (this.updatedAt !== null && at < this.updatedAt) {
      throw new SourceError(
        `[mixpeek] document ${row.document_id} (updated_at ${at}) came after ${this.updatedAt}: the API did not return documents in updated_at order, so the export cannot checkpoint safely`,
        { code: 'ERR_SOURCE_ORDER' },
      );
    }
    this.updatedAt = at;
    this.ids = new Set([row.document_id]);
  }

  snapshot(): Position | null {
    return this.updatedAt === null ? null : { updatedAt: this.updatedAt, ids: [...this.ids] };
  }
}
