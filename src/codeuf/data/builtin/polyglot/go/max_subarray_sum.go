package main

func maxSubarraySum(xs []int) int {
	best, current := xs[0], xs[0]
	for _, x := range xs[1:] {
		if current+x > x {
			current = current + x
		} else {
			current = x
		}
		if current > best {
			best = current
		}
	}
	return best
}
