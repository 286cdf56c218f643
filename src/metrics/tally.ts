import type { FileRecord } from '../commit/checkpoint.js';
import type { ProgressSink } from '../run/types.js';

/** What this process published for one collection: data files, the rows in them, their bytes. */
export interface PublishedCounts {
  files: number;
  rows: number;
  bytes: number;
}

/**
 * A progress sink that counts published files per collection and passes every event on to
 * `next` (the CLI's progress line). It counts at the moment a file is recorded in the
 * checkpoint, so a run that fails or is interrupted later still reports what it published.
 */
export class PublishedTally implements ProgressSink {
  private readonly counts = new Map<string, PublishedCounts>();

  constructor(private readonly next: ProgressSink) {}

  collectionStarted(collectionId: string): void {
    this.next.collectionStarted?.(collectionId);
  }

  totalKnown(collectionId: string, documents: number): void {
    this.next.totalKnown?.(collectionId, documents);
  }

  pageFetched(documents: number, collectionId: string): void {
    this.next.pageFetched(documents, collectionId);
  }

  rowWritten(collectionId: string): void {
    this.next.rowWritten(collectionId);
  }

  collectionFinished(collectionId: string): void {
    this.next.collectionFinished?.(collectionId);
  }

  filePublished(record: FileRecord, collectionId: string): void {
    const counts = this.of(collectionId);
    counts.files++;
    counts.rows += record.rows;
    counts.bytes += record.bytes;
    this.counts.set(collectionId, counts);
    this.next.filePublished(record, collectionId);
  }

  of(collectionId: string): PublishedCounts {
    return this.counts.get(collectionId) ?? { files: 0, rows: 0, bytes: 0 };
  }
}
