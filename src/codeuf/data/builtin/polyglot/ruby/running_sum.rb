def running_sum(xs)
  out = []
  total = 0
  xs.each do |x|
    total += x
    out << total
  end
  out
end
