import type { IncomingMessage, ServerResponse } from 'node:http';

import { XML_HEADER } from './xml.js';

/** An S3 error reply: HTTP status, S3 error code and message. */
export class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const httpDate = (ms: number) => new Date(ms).toUTCString();
export const isoDate = (ms: number) => new Date(ms).toISOString();

export async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) throw new S3Error(400, 'EntityTooLarge', `objects are limited to ${max} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export function sendXml(res: ServerResponse, status: number, body: string): void {
  const data = Buffer.from(XML_HEADER + body);
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': data.length });
  res.end(data);
}
