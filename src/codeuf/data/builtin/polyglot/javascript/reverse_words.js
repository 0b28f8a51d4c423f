function reverseWords(s) {
  if (s === "") return "";
  return s.split(" ").reverse().join(" ");
}
