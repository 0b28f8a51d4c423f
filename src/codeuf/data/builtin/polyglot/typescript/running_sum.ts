function runningSum(xs: number[]): number[] {
  const out: number[] = [];
  let total = 0;
  for (const x of xs) {
    total += x;
    out.push(total);
  }
  return out;
}
