def binary_search(xs, target)
  lo = 0
  hi = xs.length - 1
  while lo <= hi
    mid = (lo + hi) / 2
    return mid if xs[mid] == target
    if xs[mid] < target
      lo = mid + 1
    else
      hi = mid - 1
    end
  end
  -1
end
