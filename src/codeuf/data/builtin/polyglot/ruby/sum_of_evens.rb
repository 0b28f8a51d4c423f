def sum_of_evens(xs)
  total = 0
  xs.each do |x|
    total += x if x % 2 == 0
  end
  total
end
