function dedupeSorted(xs: number[]): number[] {
  return [...new Set(xs)].sort((a, b) => a - b);
}
