def reverse_words(s)
  return "" if s.empty?
  s.split(" ").reverse.join(" ")
end
