def is_palindrome(s)
  kept = s.downcase.gsub(/[^a-z0-9]/, "")
  i = 0
  j = kept.length - 1
  while i < j
    return false if kept[i] != kept[j]
    i += 1
    j -= 1
  end
  true
end
