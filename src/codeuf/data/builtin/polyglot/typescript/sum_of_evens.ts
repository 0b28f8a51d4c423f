function sumOfEvens(xs: number[]): number {
  let total = 0;
  for (const x of xs) {
    if (x % 2 === 0) total += x;
  }
  return total;
}
