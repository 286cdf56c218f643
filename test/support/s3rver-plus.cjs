'use strict';
/**
 * s3rver-plus: s3rver 3.7.1 with the fixes the exporter's tests need (reference/emulators.md §3).
 * A test aid, not S3: signatures are still not verified and multipart ETags have no `-N`.
 *
 * 1. ListObjectsV2 continuation tokens work on Node >= 17 without --openssl-legacy-provider.
 * 2. `aws-chunked` bodies (the SDK's default for streamed PutObject/UploadPart, with a CRC32
 *    trailer) are decoded instead of being stored with their framing.
 * 3. `If-None-Match` and `If-Match` are applied on PutObject, CompleteMultipartUpload and
 *    DeleteObject, atomically per key: 412 PreconditionFailed, or 404 NoSuchKey for If-Match
 *    on a missing key. (s3rver reads neither and silently overwrites.)
 * 4. AbortMultipartUpload and ListMultipartUploads exist (s3rver answers 405 / 501), so tests
 *    can check that a failed publish leaves no parts behind.
 * 5. An object or part is written to a temp file and renamed into place once every byte is on
 *    disk. s3rver answers as soon as its hashing stream ends, before the file is flushed, and
 *    writes in place, so a read right after a write could see a short or half-written object.
 *
 * Use: `node test/support/s3rver-plus.cjs --directory D --address 127.0.0.1 --port 0 [--silent]`
 * prints `S3rver listening on HOST:PORT`; or in process: `createServer({ directory }).run()`.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { parseArgs } = require('node:util');
const S3rver = require('s3rver');
const S3Error = require('s3rver/lib/models/error');
const objectCtrl = require('s3rver/lib/controllers/object');

// 1. s3rver encrypts continuation tokens with single DES, which OpenSSL 3 only has in its
// legacy provider. 3DES-EDE with K1 = K2 = K3 computes exactly single DES (E·D·E with one
// key collapses to E), and is in the default provider. Only 'des' calls are rerouted.
for (const name of ['createCipheriv', 'createDecipheriv']) {
  const original = crypto[name];
  crypto[name] = function legacyDes(algorithm, key, iv, options) {
    if (/^des(-cbc)?$/i.test(String(algorithm)) && key.length === 8) {
      return original.call(this, 'des-ede3-cbc', Buffer.concat([key, key, key]), iv, options);
    }
    return original.call(this, algorithm, key, iv, options);
  };
}

// 2. aws-chunked framing: `<hex size>[;chunk-signature=…]\r\n<bytes>\r\n` … `0\r\n<trailers>\r\n\r\n`.
// The trailers carry checksums, which s3rver does not store, so they are dropped.
function awsChunkedDecoder() {
  let state = 'size'; // size -> data -> size … -> trailer
  let line = Buffer.alloc(0);
  let remaining = 0;
  return new Transform({
    transform(chunk, _encoding, done) {
      let i = 0;
      while (i < chunk.length && state !== 'trailer') {
        if (state === 'data') {
          const n = Math.min(remaining, chunk.length - i);
          this.push(chunk.subarray(i, i + n));
          i += n;
          remaining -= n;
          if (remaining === 0) state = 'size'; // the CRLF after the data reads as an empty size line
          continue;
        }
        const end = chunk.indexOf(0x0a, i);
        if (end === -1) {
          line = Buffer.concat([line, chunk.subarray(i)]);
          break;
        }
        const header = Buffer.concat([line, chunk.subarray(i, end)]).toString('latin1').trim();
        line = Buffer.alloc(0);
        i = end + 1;
        if (header === '') continue;
        const size = parseInt(header.split(';')[0], 16);
        if (Number.isNaN(size)) return done(new S3Error('IncompleteBody', `bad aws-chunked size line "${header.slice(0, 40)}"`));
        if (size === 0) state = 'trailer';
        else [state, remaining] = ['data', size];
      }
      done();
    },
    flush(done) {
      done(state === 'trailer' ? null : new S3Error('IncompleteBody', 'the aws-chunked body ended before its last chunk'));
    },
  });
}

function decodeAwsChunked(ctx) {
  const headers = ctx.req.headers;
  const encodings = String(headers['content-encoding'] || '').split(',').map((e) => e.trim()).filter(Boolean);
  const streaming = String(headers['x-amz-content-sha256'] || '').startsWith('STREAMING-');
  if (!encodings.includes('aws-chunked') && !streaming) return;
  // The stored Content-Encoding must be the object's own (e.g. gzip), never the transfer framing.
  const own = encodings.filter((e) => e !== 'aws-chunked');
  if (own.length) headers['content-encoding'] = own.join(',');
  else delete headers['content-encoding'];
  if (headers['x-amz-decoded-content-length'] !== undefined) headers['content-length'] = headers['x-amz-decoded-content-length'];
  delete headers['x-amz-decoded-content-length'];
  delete headers['x-amz-trailer'];
  const decoded = awsChunkedDecoder();
  ctx.req.on('error', (error) => decoded.destroy(error)).pipe(decoded);
  ctx.req = decoded; // s3rver's controllers read the body from ctx.req
}

// 3. Conditional writes. A promise chain per key serialises every write and delete of that
// key, so check-then-write is atomic within this process (one winner among concurrent creates).
const locks = new Map();
function withKeyLock(id, fn) {
  const run = (locks.get(id) || Promise.resolve()).then(fn);
  const tail = run.then(() => {}, () => {});
  locks.set(id, tail);
  tail.then(() => locks.get(id) === tail && locks.delete(id));
  return run;
}

const unquote = (etag) => etag.trim().replace(/^W\//, '').replace(/"/g, '');
const listMatches = (header, etag) => header.split(',').map(unquote).some((t) => t === '*' || t === unquote(etag));

async function checkPreconditions(ctx) {
  const ifMatch = ctx.get('if-match');
  const ifNoneMatch = ctx.get('if-none-match');
  if (!ifMatch && !ifNoneMatch) return;
  const { bucket, key } = ctx.params;
  const current = (await ctx.store.existsObject(bucket, key)) ? (await ctx.store.getMetadata(bucket, key)).etag : null;
  const failed = (condition) => new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: condition });
  if (ifMatch && current === null) throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: key });
  if (ifMatch && !listMatches(ifMatch, current)) throw failed('If-Match');
  if (ifNoneMatch && current !== null && listMatches(ifNoneMatch, current)) throw failed('If-None-Match');
}

// Wrapping the controllers (routes.js looks them up on this module at call time) puts the
// check after s3rver's authentication and bucket checks, with the router's decoded key.
for (const name of ['putObject', 'completeMultipartUpload', 'deleteObject']) {
  const controller = objectCtrl[name];
  objectCtrl[name] = function conditional(ctx) {
    const id = [ctx.store.rootDirectory, ctx.params.bucket, ctx.params.key].join('\0');
    return withKeyLock(id, async () => {
      try {
        await checkPreconditions(ctx);
      } catch (error) {
        ctx.req.resume(); // discard the unread body so the connection stays usable
        throw error;
      }
      return controller(ctx);
    });
  };
}

// 4. Multipart bookkeeping s3rver lacks. Its uploads live in <bucket>/._S3rver_uploads/<id>/.
async function abortUpload(ctx, bucket, uploadId) {
  const dir = path.join(ctx.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
  if (!/^[0-9a-f]+$/.test(uploadId) || !fs.existsSync(path.join(dir, 'key'))) {
    throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
  }
  await fs.promises.rm(dir, { recursive: true, force: true });
  ctx.status = 204;
}

async function listUploads(ctx, bucket) {
  const dir = ctx.store.getResourcePath(bucket, undefined, 'uploads');
  const prefix = String(ctx.query.prefix || '');
  const uploads = [];
  for (const id of await fs.promises.readdir(dir).catch(() => [])) {
    const key = await fs.promises.readFile(path.join(dir, id, 'key'), 'utf8').catch(() => null);
    if (key === null || !key.startsWith(prefix)) continue;
    const { birthtime } = await fs.promises.stat(path.join(dir, id));
    uploads.push({ Key: key, UploadId: id, Initiated: birthtime.toISOString() });
  }
  uploads.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
  ctx.body = {
    ListMultipartUploadsResult: {
      '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
      Bucket: bucket, Prefix: prefix, KeyMarker: '', UploadIdMarker: '', MaxUploads: 1000, IsTruncated: false, Upload: uploads,
    },
  };
}

/** The Koa middleware that goes between s3rver's vhost rewrite (paths are /bucket/key) and its router. */
function plus() {
  return async function s3rverPlus(ctx, next) {
    const [, bucket = '', ...rest] = ctx.path.split('/').map(decodeURIComponent);
    const key = rest.join('/');
    if (ctx.method === 'PUT') decodeAwsChunked(ctx);
    const multipartCall = (ctx.method === 'DELETE' && key && 'uploadId' in ctx.query) || (ctx.method === 'GET' && bucket && !key && 'uploads' in ctx.query);
    if (!multipartCall) return next();
    if (!(await ctx.store.getBucket(bucket))) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    return ctx.method === 'DELETE' ? abortUpload(ctx, bucket, String(ctx.query.uploadId)) : listUploads(ctx, bucket);
  };
}

// 5. Write to a temp name, hash on the way, rename once the file is complete.
async function writeComplete(filePath, content) {
  await fs.promises.mkdir(path.dirname(filePath), { recursive: true });
  const tmp = `${filePath}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  const md5 = crypto.createHash('md5');
  let size = 0;
  try {
    await pipeline(Buffer.isBuffer(content) ? [content] : content, async function* hash(chunks) {
      for await (const chunk of chunks) {
        md5.update(chunk);
        size += chunk.length;
        yield chunk;
      }
    }, fs.createWriteStream(tmp));
    await fs.promises.rename(tmp, filePath);
  } catch (error) {
    await fs.promises.rm(tmp, { force: true });
    throw error;
  }
  return { size, md5: md5.digest('hex') };
}

function completeWrites(store) {
  store.putObject = async (object) => {
    const result = await writeComplete(store.getResourcePath(object.bucket, object.key, 'object'), object.content);
    await store.putMetadata(object.bucket, object.key, object.metadata, result.md5);
    return result;
  };
  store.putPart = async (bucket, uploadId, partNumber, content) => {
    const partPath = path.join(store.getResourcePath(bucket, undefined, 'uploads'), uploadId, String(partNumber));
    const result = await writeComplete(partPath, content);
    await fs.promises.writeFile(`${partPath}.md5`, result.md5);
    return result;
  };
}

/** An s3rver with the fixes above; `run()` resolves to `{ address, port }`, `close()` stops it. */
function createServer({ directory, address = '127.0.0.1', port = 0, silent = true }) {
  fs.mkdirSync(directory, { recursive: true });
  const server = new S3rver({ directory, address, port, silent });
  const vhost = server.middleware.findIndex((fn) => fn.name === 'vhost');
  if (vhost === -1) throw new Error('s3rver-plus: no vhost middleware found; this shim is written against s3rver 3.7.1');
  server.middleware.splice(vhost + 1, 0, plus());
  completeWrites(server.store);
  return server;
}

module.exports = { createServer };

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      directory: { type: 'string' },
      address: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      silent: { type: 'boolean', default: false },
    },
  });
  if (!values.directory) {
    console.error('usage: s3rver-plus.cjs --directory <path> [--address 127.0.0.1] [--port 0] [--silent]');
    process.exit(2);
  }
  const server = createServer({ directory: values.directory, address: values.address, port: Number(values.port), silent: values.silent });
  server.run().then(({ address, port }) => console.log(`S3rver listening on ${address}:${port}`), (error) => {
    console.error(error);
    process.exit(1);
  });
  const stop = () => {
    server.httpServer?.closeAllConnections(); // keep-alive sockets would hold close() open
    server.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
