/**
 * @imagegen/networks — the trained auxiliary networks the service ships as ONNX (nsfwjs's MobileNetV2 image
 * classifier, UpscalerJS's ESRGAN slim/medium/thick), where they live, and the TensorFlow.js-layers-to-ONNX
 * converter that produced them from their npm packages.
 */
export {
  buildNetwork,
  isUpscalerNetwork,
  MODELS_DIR,
  networkDir,
  NSFW_LABELS,
  NSFW_THRESHOLDS,
  receptiveRadius,
  SAFETY_NETWORK,
  UPSCALER_NETWORKS,
  UPSCALER_SCALES,
  type UpscalerNetwork,
} from './catalog.js';
export { convertLayersModel, type ConvertOptions } from './convert/convert.js';
export { SUPPORTED_LAYERS } from './convert/layers.js';
export { ConversionError, NetworkNotFoundError } from './errors.js';
export { nsfwjsSource, packageRoot, upscalerjsSource, type TfjsSource } from './sources.js';
export {
  readWeights,
  type LayersModelJson,
  type Weight,
  type WeightsManifestGroup,
} from './tfjs/artifacts.js';
