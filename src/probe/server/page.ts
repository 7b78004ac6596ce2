/** The browser probe page (filled in by the report renderer). */
export function probePage(basePath: string): string {
  return `<!doctype html><title>outlast probe</title><p>${basePath}</p>`;
}
