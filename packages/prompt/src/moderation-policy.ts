/** The vendor's moderated categories; child sexual content is `illegal`. */
export const MODERATION_CATEGORIES = ['violence', 'adult', 'hate', 'illegal', 'harmful'] as const;
export type ModerationCategory = (typeof MODERATION_CATEGORIES)[number];

/** 1 (remotely questionable) … 6 (allowed only at tolerance 6), or `illegal` (refused at every tolerance). */
export type Severity = number | 'illegal';

export interface ModerationResult {
  allowed: boolean;
  /**
   * The category and severity of the worst match, or null when nothing matched. An allowed prompt
   * can carry a match below its tolerance (e.g. "gun", severity 1, at tolerance 2).
   */
  category: ModerationCategory | null;
  severity: Severity | null;
}

export const MIN_TOLERANCE = 0;
export const MAX_TOLERANCE = 6;
export const DEFAULT_TOLERANCE = 2;

/** Orders severities: 1 … 6, then `illegal` above every tolerance. */
export const rank = (severity: Severity): number => (severity === 'illegal' ? MAX_TOLERANCE + 1 : severity);

/** Clamps to an integer 0–6; a non-number becomes 0, the strictest level (fail closed). */
export function clampTolerance(tolerance: number): number {
  if (!Number.isFinite(tolerance)) return MIN_TOLERANCE;
  return Math.min(MAX_TOLERANCE, Math.max(MIN_TOLERANCE, Math.floor(tolerance)));
}
