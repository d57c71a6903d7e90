declare global {
  interface Window {
    /** performance.now() when the first chart was drawn with data (read by bench/web_budget.py). */
    __sentraFirstChart?: number;
  }
}

export function markFirstChart(): void {
  if (typeof window !== "undefined" && window.__sentraFirstChart === undefined)
    window.__sentraFirstChart = performance.now();
}
