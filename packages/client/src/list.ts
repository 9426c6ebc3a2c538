import type { Job, ListPage } from './types.js';

/** This key's jobs, page by page; iterate it for jobs, or `.pages()` for pages. */
export class JobList implements AsyncIterable<Job> {
  constructor(
    private readonly fetchPage: (cursor: string | undefined) => Promise<ListPage>,
    private readonly startCursor: string | undefined,
  ) {}

  async *pages(): AsyncGenerator<ListPage, void, undefined> {
    let cursor = this.startCursor;
    for (;;) {
      const page = await this.fetchPage(cursor);
      yield page;
      if (page.next_cursor === null) return;
      cursor = page.next_cursor;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Job, void, undefined> {
    for await (const page of this.pages()) yield* page.data;
  }
}
