function maxSubarraySum(xs: number[]): number {
  let best = xs[0], current = xs[0];
  for (let i = 1; i < xs.length; i++) {
    current = Math.max(xs[i], current + xs[i]);
    best = Math.max(best, current);
  }
  return best;
}
