def count_vowels(s)
  count = 0
  s.downcase.each_char do |ch|
    count += 1 if "aeiou".include?(ch)
  end
  count
end
