import type { NextFunction, Request, Response } from 'express';

import { AppError } from '@imagegen/contracts';

/** A known path and the methods it answers (GET implies HEAD, as Express serves it). */
export interface KnownPath {
  pattern: RegExp;
  methods: readonly string[];
}

/**
 * `405 method_not_allowed` with `Allow` (RFC 9110 §15.5.6) for a known path asked with another method;
 * unknown paths fall through to the 404.
 */
export function methodNotAllowed(paths: readonly KnownPath[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const known = paths.find((p) => p.pattern.test(req.path));
    if (!known) {
      next();
      return;
    }
    const allow = known.methods.flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]));
    res.setHeader('Allow', allow.join(', '));
    throw new AppError(
      'method_not_allowed',
      `${req.method} is not supported here; use ${allow.join(' or ')}`,
      {
        httpStatus: 405,
      },
    );
  };
}

const ID = '[^/]+';
/**
 * Every path the API serves, with its methods (admin paths only when the admin API is on, the playground's
 * only when it is served).
 */
export function knownPaths(admin: boolean, playground = false): KnownPath[] {
  const paths: KnownPath[] = [
    { pattern: /^\/v1\/images\/generations\/?$/, methods: ['GET', 'POST'] },
    { pattern: new RegExp(`^/v1/images/generations/${ID}/?$`), methods: ['GET'] },
    { pattern: new RegExp(`^/v1/images/generations/${ID}/events/?$`), methods: ['GET'] },
    { pattern: new RegExp(`^/v1/images/generations/${ID}/cancel/?$`), methods: ['POST'] },
    { pattern: /^\/v1\/prompts\/analyze\/?$/, methods: ['POST'] },
    { pattern: /^\/(healthz|readyz|metrics|openapi\.json)\/?$/, methods: ['GET'] },
  ];
  if (playground) paths.push({ pattern: /^\/(assets\/[^/]+)?$/, methods: ['GET'] });
  if (admin) {
    paths.push(
      { pattern: /^\/admin\/v1\/keys\/?$/, methods: ['GET', 'POST'] },
      { pattern: /^\/admin\/v1\/jobs\/?$/, methods: ['GET'] },
      { pattern: new RegExp(`^/admin/v1/keys/${ID}/?$`), methods: ['PATCH', 'DELETE'] },
      { pattern: new RegExp(`^/admin/v1/keys/${ID}/webhook-secret/rotate/?$`), methods: ['POST'] },
    );
  }
  return paths;
}
