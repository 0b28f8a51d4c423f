package main

func runningSum(xs []int) []int {
	out := []int{}
	total := 0
	for _, x := range xs {
		total += x
		out = append(out, total)
	}
	return out
}
