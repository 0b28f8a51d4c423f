function dedupeSorted(xs) {
  return [...new Set(xs)].sort((a, b) => a - b);
}
