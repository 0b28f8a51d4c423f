def max_subarray_sum(xs)
  best = xs[0]
  current = xs[0]
  xs[1..].each do |x|
    current = [x, current + x].max
    best = [best, current].max
  end
  best
end
