def dedupe_sorted(xs)
  xs.uniq.sort
end
