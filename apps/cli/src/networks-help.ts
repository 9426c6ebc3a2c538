/** Help of `imagegen safety` and `imagegen upscale` (no engine import, so `--help` stays light). */
import { SAFETY_NETWORK, UPSCALER_NETWORKS } from '@imagegen/networks';

export const SAFETY_USAGE = `imagegen safety IMAGE… [options]

  Classifies each image with the worker's image safety stage and prints one JSON line per image: the
  classifier's score per class and the verdict at each safety_tolerance 0…6 (to tune thresholds on your
  own pictures).

  --model DIR        classifier directory (default: the shipped ${SAFETY_NETWORK})
  --provider P       cpu or cuda (default cpu)`;

export const UPSCALE_USAGE = `imagegen upscale IN [options]

  Writes the network's exact ×N output of an image (tiled as the worker runs it, no final resize).

  --network N        ${UPSCALER_NETWORKS.join(', ')} or a network directory (default esrgan-slim)
  --scale S          2, 4 or 8 for the shipped networks (default 4)
  --out FILE         where to write (default: IN's name + -x<S>.png); .png or .jpg
  --provider P       cpu or cuda (default cpu)`;
