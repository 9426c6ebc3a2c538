import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Buckets for seconds-long work: 50 ms … ~7 min. */
const JOB_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 240, 420];
const HTTP_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Every metric the service exports, declared once. Labels come from closed sets (route patterns,
 * status codes, outcomes, stages, queue states) — never ids or prompts.
 */
export function createMetrics(service: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: 'imagegen_' });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'imagegen_http_request_duration_seconds',
      help: 'HTTP request duration by route and status',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: HTTP_BUCKETS,
      registers: [registry],
    }),
    jobsSubmitted: new Counter({
      name: 'imagegen_jobs_submitted_total',
      help: 'Jobs accepted by the API',
      registers: [registry],
    }),
    resultCache: new Counter({
      name: 'imagegen_result_cache_requests_total',
      help: 'Submits eligible for result reuse (explicit seed, no Cache-Control opt-out), by outcome: hit (completed from a copy of an alive result), attach (waits for an identical running job), miss (generates)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    jobsFinished: new Counter({
      name: 'imagegen_jobs_finished_total',
      help: 'Jobs that reached a terminal status, by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    stageDuration: new Histogram({
      name: 'imagegen_stage_duration_seconds',
      help: 'Duration of each pipeline stage',
      labelNames: ['stage'] as const,
      buckets: JOB_BUCKETS,
      registers: [registry],
    }),
    jobDuration: new Histogram({
      name: 'imagegen_job_duration_seconds',
      help: 'Submit to terminal status',
      labelNames: ['outcome'] as const,
      buckets: JOB_BUCKETS,
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'imagegen_queue_jobs',
      help: 'Generation jobs by queue state',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    promptsRefused: new Counter({
      name: 'imagegen_prompts_refused_total',
      help: 'Prompts refused by the content policy, by category and stage (submit or revised)',
      labelNames: ['category', 'stage'] as const,
      registers: [registry],
    }),
    moderationErrors: new Counter({
      name: 'imagegen_moderation_model_errors_total',
      help: 'Calls to the moderation model that failed (the word lists decided alone), by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'imagegen_webhook_deliveries_total',
      help: 'Webhook delivery attempts, by outcome (delivered, retry, failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    webhookDeferrals: new Counter({
      name: 'imagegen_webhook_deferrals_total',
      help: 'Webhook deliveries put back without an attempt, by reason (target_busy, key_busy, circuit_open)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    webhookCircuitsOpen: new Gauge({
      name: 'imagegen_webhook_circuits_open',
      help: 'Webhook targets whose deliveries are parked by their circuit breaker (this dispatcher)',
      registers: [registry],
    }),
    webhookDuration: new Histogram({
      name: 'imagegen_webhook_delivery_duration_seconds',
      help: 'Duration of one webhook delivery attempt',
      buckets: HTTP_BUCKETS,
      registers: [registry],
    }),
    workerBusy: new Gauge({
      name: 'imagegen_worker_busy',
      help: 'Jobs this worker is running now',
      registers: [registry],
    }),
    workerReady: new Gauge({
      name: 'imagegen_worker_ready',
      help: '1 while this worker has its model loaded and takes jobs, else 0',
      registers: [registry],
    }),
    queueOldestAge: new Gauge({
      name: 'imagegen_queue_oldest_job_age_seconds',
      help: 'How long the job first in the queue has waited (0 when none waits)',
      registers: [registry],
    }),
    redisMemoryUsed: new Gauge({
      name: 'imagegen_redis_memory_used_bytes',
      help: 'Memory Redis uses (INFO memory used_memory), read by the API at most once a second',
      registers: [registry],
    }),
    redisMemoryMax: new Gauge({
      name: 'imagegen_redis_memory_max_bytes',
      help: 'Redis maxmemory (0: not set); with noeviction, writes fail once used reaches it',
      registers: [registry],
    }),
    redisUp: new Gauge({
      name: 'imagegen_redis_up',
      help: '1 when Redis answered the last check of this process (at each scrape), else 0',
      registers: [registry],
    }),
    jobsEnqueuedLate: new Counter({
      name: 'imagegen_jobs_enqueued_late_total',
      help: 'Jobs the dispatcher handed to the queue because the submit that wrote them died before doing so',
      registers: [registry],
    }),
    engineReplacements: new Counter({
      name: 'imagegen_engine_replacements_total',
      help: 'Engines a worker loaded to replace one that was lost (its thread crashed or missed a deadline)',
      registers: [registry],
    }),
    batches: new Counter({
      name: 'imagegen_worker_batches_total',
      help: 'Micro-batches a worker denoised (BATCH_MAX > 1); batched_generations / batches is the mean size',
      registers: [registry],
    }),
    batchedGenerations: new Counter({
      name: 'imagegen_worker_batched_generations_total',
      help: 'Generations denoised in micro-batches (BATCH_MAX > 1)',
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
