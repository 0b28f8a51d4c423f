function reverseWords(s: string): string {
  if (s === "") return "";
  return s.split(" ").reverse().join(" ");
}
