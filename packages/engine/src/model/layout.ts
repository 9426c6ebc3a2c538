/**
 * Which files of a diffusers/Optimum ONNX export the engine reads: what `imagegen models pull` downloads
 * and what counts towards a model's weight size. A hub repository often also holds the PyTorch, Flax or
 * TensorFlow weights of the same networks (`diffusion_pytorch_model.safetensors`, `model.bin`, …), other
 * ONNX variants and networks the engine never opens (`vae_encoder/`, `feature_extractor/`); those are left out.
 */

/** Folders whose ONNX network (`model.onnx` and its external weight files) the engine opens. */
export const NETWORK_FOLDERS = [
  'text_encoder',
  'text_encoder_2',
  'unet',
  'vae_decoder',
  'safety_checker',
  'upscaler',
] as const;

const TOKENIZER_FILES = ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

/** Weights of other frameworks, and other serialisations of the same networks. */
const OTHER_FORMATS = /\.(bin|safetensors|msgpack|h5|ckpt|pt|pth|ot|ort|md|gitattributes)$/i;

/** Files the engine needs before anything else can be checked; text_encoder_2/ adds tokenizer_2/. */
export const REQUIRED_FILES = [
  'model_index.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer/tokenizer_config.json',
  'scheduler/scheduler_config.json',
  'text_encoder/model.onnx',
  'unet/model.onnx',
  'vae_decoder/model.onnx',
] as const;

/**
 * Whether the engine reads this file (a path relative to the model directory, `/`-separated):
 * the root's `model_index.json`, `imagegen.json` and `latent_rgb.json` (the live previews' map), the tokenizers' four files, the scheduler config,
 * and in each network folder `model.onnx`, `config.json` and the external weight files next to them
 * (`model.onnx_data`, `weights.pb`, or per-tensor files), but no other `.onnx` and no other framework's weights.
 */
export function isEngineFile(path: string): boolean {
  const parts = path.split('/');
  if (parts.length === 1) {
    return path === 'model_index.json' || path === 'imagegen.json' || path === 'latent_rgb.json';
  }
  if (parts.length !== 2) return false;
  const [folder, file] = parts as [string, string];
  if (folder === 'tokenizer' || folder === 'tokenizer_2') return TOKENIZER_FILES.includes(file);
  if (folder === 'scheduler') return file === 'scheduler_config.json';
  if (!(NETWORK_FOLDERS as readonly string[]).includes(folder)) return false;
  if (file.startsWith('.') || OTHER_FORMATS.test(file)) return false;
  if (file.endsWith('.onnx')) return file === 'model.onnx';
  if (file.endsWith('.json')) return file === 'config.json';
  return !file.endsWith('.txt');
}

/** Whether the file holds network weights (an ONNX graph or its external data), as opposed to settings. */
export function isWeightFile(path: string): boolean {
  if (!isEngineFile(path)) return false;
  const folder = path.split('/')[0] ?? '';
  return (NETWORK_FOLDERS as readonly string[]).includes(folder) && !path.endsWith('.json');
}

/**
 * The files an ONNX-layout model lacks, given every path it has (relative, `/`-separated): empty when it
 * has what the engine needs. An SDXL model (with `text_encoder_2/model.onnx`) also needs `tokenizer_2/`.
 */
export function missingLayoutFiles(paths: Iterable<string>): string[] {
  const have = new Set(paths);
  const required: string[] = [...REQUIRED_FILES];
  if (have.has('text_encoder_2/model.onnx')) {
    required.push('tokenizer_2/vocab.json', 'tokenizer_2/merges.txt', 'tokenizer_2/tokenizer_config.json');
  }
  return required.filter((p) => !have.has(p));
}
