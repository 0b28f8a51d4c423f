function runningSum(xs) {
  const out = [];
  let total = 0;
  for (const x of xs) {
    total += x;
    out.push(total);
  }
  return out;
}
