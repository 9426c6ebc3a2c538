import { DeadlineExceededError } from '@imagegen/contracts';

/** The longest delay `setTimeout` honours; longer ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Settles like `work`, or rejects with `DeadlineExceededError` when `deadlineAt` (epoch ms) passes first.
 * Only the wait is bounded: `work` itself goes on and its result is dropped. Without a deadline, `work` as is.
 */
export function beforeDeadline<T>(
  work: Promise<T>,
  what: string,
  deadlineAt: number | undefined,
): Promise<T> {
  if (deadlineAt === undefined) return work;
  const budgetMs = Math.max(0, Math.ceil(deadlineAt - Date.now()));
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeadlineExceededError(what, budgetMs)),
      Math.min(budgetMs, MAX_TIMER_MS),
    );
  });
  // The dropped result of work that lost the race must not surface as an unhandled rejection.
  void work.catch(() => undefined);
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
