/**
 * The vendor's parameters as the page offers them (reference/vendor-image-generation-api.txt): each aspect
 * ratio with its exact pixel size and use, the safety tolerance levels 0–6 with the vendor's descriptions,
 * and the policy categories a refusal names. No DOM here: test/web/playground-logic.test.ts checks it
 * against the service's own tables.
 */
import type { AspectRatio } from '@imagegen/client';

export interface AspectChoice {
  ratio: AspectRatio;
  width: number;
  height: number;
  name: string;
  use: string;
}

/** In the vendor's order; `16:9` is the default. */
export const ASPECTS: readonly AspectChoice[] = [
  { ratio: '1:1', width: 1024, height: 1024, name: 'Square', use: 'social posts, profile pictures, icons' },
  { ratio: '16:9', width: 1920, height: 1080, name: 'Landscape', use: 'thumbnails, slides, headers' },
  { ratio: '9:16', width: 1080, height: 1920, name: 'Portrait', use: 'mobile content, stories' },
  { ratio: '4:3', width: 1024, height: 768, name: 'Traditional', use: 'classic displays, presentations' },
  { ratio: '3:4', width: 768, height: 1024, name: 'Tall portrait', use: 'covers, posters' },
  { ratio: '21:9', width: 2560, height: 1080, name: 'Ultrawide', use: 'banners, cinematic scenes' },
  {
    ratio: '9:21',
    width: 1080,
    height: 2560,
    name: 'Tall vertical',
    use: 'full-screen mobile, tall banners',
  },
];

export const DEFAULT_ASPECT: AspectRatio = '16:9';

/** `16:9 Landscape: 1920 × 1080 px` */
export const aspectLabel = (a: AspectChoice): string => `${a.ratio} ${a.name}: ${a.width} × ${a.height} px`;

const STRICT = "For children's content, educational materials, public-facing apps.";
const GENERAL = 'For general purpose applications, business content.';
const ARTISTIC = 'For artistic projects, mature audiences, where context matters.';

/**
 * What each safety tolerance level means, index = level. The vendor describes 0, 2 and 6 and recommends
 * ranges (0–1, 2–3, 4–6); the levels between take their range's recommendation.
 */
export const TOLERANCE_LEVELS: readonly string[] = [
  `0, most strict: blocks anything remotely questionable. ${STRICT}`,
  `1, strict: between the strictest level and the default. ${STRICT}`,
  `2, moderate (default): blocks clearly inappropriate content. ${GENERAL}`,
  `3, moderate, a little more permissive than the default. ${GENERAL}`,
  `4, permissive. ${ARTISTIC}`,
  `5, more permissive. ${ARTISTIC}`,
  `6, most permissive: allows artistic and mature themes. ${ARTISTIC}`,
];

export const DEFAULT_TOLERANCE = 2;

/** Illegal content is refused at every level, whatever the tolerance. */
export const TOLERANCE_NOTE = 'Illegal content is blocked at every level.';

/** The policy categories a refusal or a withheld image names, as the vendor lists what is moderated. */
export const CATEGORIES: Readonly<Record<string, string>> = {
  violence: 'violence and gore',
  adult: 'adult content',
  hate: 'hate symbols',
  illegal: 'illegal activities',
  harmful: 'harmful or dangerous content',
};

/** `violence and gore ("violence")`, or the code itself for a category this page does not know. */
export function categoryText(category: string | null | undefined): string {
  if (!category) return 'a content policy category';
  const known = CATEGORIES[category];
  return known ? `${known} ("${category}")` : `"${category}"`;
}

/** Short titles for the prompt warnings the service gives (others show their code). */
export const WARNING_TITLES: Readonly<Record<string, string>> = {
  outside_model_domain: 'Outside what the model can draw',
  vague_description: 'Vague description',
  negative_instruction: 'Negative instruction',
  conflicting_styles: 'Conflicting styles',
  too_many_subjects: 'Too many subjects',
  too_short: 'Very short',
  too_long: 'Long prompt',
};

/** The stages a running job goes through, as the progress line names them. */
export const STAGES: Readonly<Record<string, string>> = {
  analyzing: 'Analyzing the prompt',
  generating: 'Generating',
  upscaling: 'Upscaling',
  safety_check: 'Safety check',
  storing: 'Storing',
};
