function countVowels(s: string): number {
  let count = 0;
  for (const ch of s.toLowerCase()) {
    if ("aeiou".includes(ch)) count += 1;
  }
  return count;
}
