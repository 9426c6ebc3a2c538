/**
 * Every command's usage text, kept apart from the commands so that \`imagegen --help\` and the dispatch in
 * main.ts load none of them (render loads onnxruntime, keys loads the Redis client).
 */
import { ASPECT_RATIOS } from '@imagegen/client';

export const TARGET_USAGE = `  --base-url URL     the service (default: IMAGEGEN_BASE_URL, else the running \`npm start\` stack)
  --api-key KEY      its API key (default: IMAGEGEN_API_KEY, else the stack's key in IMAGEGEN_DATA_DIR)`;

export const GENERATE_USAGE = `imagegen generate PROMPT [options]    generate an image with the service and save it

  --aspect-ratio R   ${ASPECT_RATIOS.join(', ')} (default 16:9)
  --seed N           0..4294967295 (default: random, printed)
  --format F         jpeg or png (default: from --out's extension, else jpeg)
  --upsample         let the service enrich the prompt (prompt_upsampling); the revised prompt is printed
  --tolerance N      safety_tolerance, 0 (strictest) .. 6 (default 2)
  --out FILE         where to write the image (default: imagegen-<seed>.jpg or .png)
  --no-wait          submit, print the job id and return (then: imagegen jobs watch ID --out FILE)
${TARGET_USAGE}

  A live progress bar (queue position, stage, step) goes to stderr on a terminal. Exit status 1 with the
  error code when the prompt is refused or the job does not succeed; Ctrl-C cancels the job.`;

export const JOBS_USAGE = `imagegen jobs list [--status S[,S…]] [--limit N] [--all] [--json]
                                   this key's jobs, newest first (one page of --limit, default 20; --all: every page)
imagegen jobs get ID               the job object, as JSON
imagegen jobs watch ID [--out FILE]
                                   follow a job to its end (progress bar on a terminal, a line per event elsewhere);
                                   with --out, save its image; exit status 1 unless it succeeded
imagegen jobs cancel ID            cancel a queued or running job
${TARGET_USAGE}`;

export const ANALYZE_USAGE = `imagegen analyze PROMPT [--tolerance N] [--json]
                                   check a prompt as a submit would, queueing nothing: its parts (subject, action,
                                   setting, style, …), advice, and whether it would be refused at safety_tolerance N
                                   (default 2); exit status 1 when it would be refused
${TARGET_USAGE}`;

export const RENDER_USAGE = `imagegen render PROMPT [options]

  --aspect-ratio R   ${ASPECT_RATIOS.join(', ')} (default 16:9)
  --seed N           0..4294967295 (default: random, printed)
  --format F         jpeg or png (default: from --out's extension, else jpeg)
  --out FILE         where to write the image (default: imagegen-<seed>.<format>)
  --model DIR        ONNX model directory or pulled model name (default: the bundled model)
  --steps N          denoising steps (default: the model's)
  --guidance G       classifier-free guidance scale (default: the model's)
  --negative TEXT    negative prompt
  --provider P       cpu or cuda (default cpu)
  --threads N        onnxruntime intra-op threads (default: all cores)`;

export const KEYS_USAGE = `imagegen keys create --name NAME   create a key; its secret and webhook secret are printed once
imagegen keys list                 list keys (id, name, created, revoked)
imagegen keys revoke ID            revoke a key at once
imagegen keys rotate-webhook-secret ID [--grace-hours H]
                                   new webhook signing secret; the old one also signs for H hours (default 24)

  Redis: REDIS_URL and REDIS_PREFIX, or the running \`npm start\` stack of IMAGEGEN_DATA_DIR
  (default .imagegen; its stack.json).`;

export const MODELS_USAGE = `imagegen models pull REPO[@REVISION] [--dir DIR]
                                   download a model in the diffusers/Optimum ONNX layout from the Hugging Face Hub
                                   (or HF_ENDPOINT): only the files the engine uses, each checked against the hub's
                                   hash; an interrupted pull resumes. Default DIR: IMAGEGEN_MODELS_DIR/REPO, which
                                   MODEL_DIR then takes by name (MODEL_DIR=owner/name). HF_TOKEN for gated repositories
imagegen models list [--json]      the models pulled into IMAGEGEN_MODELS_DIR: name, revision, size
imagegen models verify DIR|NAME [--provider cpu|cuda] [--threads N]
                                   check a model before workers use it: files against the pull's hashes, every
                                   network's inputs and outputs, one denoising step at the smallest size; prints the
                                   native size, scheduler, defaults, load time and peak memory

  IMAGEGEN_MODELS_DIR defaults to IMAGEGEN_DATA_DIR/models (.imagegen/models in the repository).`;
