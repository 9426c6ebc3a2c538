import { AppError } from '@imagegen/contracts';

/**
 * A TensorFlow.js model the converter cannot translate (an unsupported layer or option, a weight missing or
 * of the wrong shape). The message names the layer and what it has; never retryable.
 */
export class ConversionError extends AppError {
  override name = 'ConversionError';

  constructor(message: string) {
    super('conversion_failed', message, { retryable: false });
  }
}

/** A named network that this installation does not have (its converted files are missing). */
export class NetworkNotFoundError extends AppError {
  override name = 'NetworkNotFoundError';

  constructor(message: string) {
    super('network_not_found', message, { retryable: false });
  }
}
