import { Router, type RequestHandler } from 'express';

import { analyzePromptRequest, type AnalyzeDeps } from '../services/analyze.js';

export interface PromptRoutesDeps extends AnalyzeDeps {
  auth: RequestHandler;
  readLimit: RequestHandler;
  json: RequestHandler[];
}

/** `POST /v1/prompts/analyze`: a prompt checked as a submit would check it; rate-limited like reads. */
export function promptRoutes(deps: PromptRoutesDeps): Router {
  const router = Router();
  router.post('/v1/prompts/analyze', deps.auth, deps.readLimit, ...deps.json, async (req, res) => {
    res.json(await analyzePromptRequest(deps, req.body));
  });
  return router;
}
