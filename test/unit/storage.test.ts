import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fsDriver } from '../../src/storage/drivers/fs.js';
import { memoryDriver } from '../../src/storage/drivers/memory.js';
import { describeDriverConformance } from '../support/conformance.js';

describeDriverConformance('memory', () => memoryDriver());
describeDriverConformance('fs', () => fsDriver({ root: mkdtempSync(path.join(tmpdir(), 'mxp-fs-')) }));
