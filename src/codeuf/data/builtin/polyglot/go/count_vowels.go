package main

import "strings"

func countVowels(s string) int {
	count := 0
	for _, r := range strings.ToLower(s) {
		if strings.ContainsRune("aeiou", r) {
			count += 1
		}
	}
	return count
}
