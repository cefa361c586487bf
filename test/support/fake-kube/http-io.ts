/** Reading JSON request bodies and writing JSON answers, with the API server's limits and errors. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { badRequest, StatusError, unsupportedMediaType } from './status.js';

const MAX_BODY = 3 * 1024 * 1024;

/**
 * Reads a JSON body (3 MiB at most, 413 beyond). An empty body is a 400
 * when `required`, else undefined. Non-patch bodies must be application/json (415).
 */
export async function readJson(req: IncomingMessage, required: boolean, patch = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new StatusError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') {
    if (required) throw badRequest('the body of the request was empty');
    return undefined;
  }
  if (!patch) {
    const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') throw unsupportedMediaType(type, ['application/json']);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw badRequest(`error decoding the request body as JSON: ${(e as Error).message}`);
  }
}

/** Writes a JSON answer with its length. */
export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
