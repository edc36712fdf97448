// Test input for the symbolizer: inlining, generics, closures, goroutines.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

type shape interface{ area() float64 }

type rect struct{ w, h float64 }

func (r rect) area() float64 { return r.w * r.h }

func square(v float64) float64 { return v * v }

type circle struct{ r float64 }

func (c circle) area() float64 { return 3.14159 * square(c.r) }

func sum[T int | float64](items []T) T {
	var total T
	for _, v := range items {
		total += v
	}
	return total
}

//go:noinline
func wordCount(text string) map[string]int {
	counts := map[string]int{}
	for _, w := range strings.Fields(text) {
		counts[strings.ToLower(w)]++
	}
	return counts
}

func main() {
	var shapes []shape
	for i := 0; i < 50; i++ {
		if i%2 == 0 {
			shapes = append(shapes, rect{float64(i), 2})
		} else {
			shapes = append(shapes, circle{float64(i)})
		}
	}
	areas := make([]float64, len(shapes))
	var wg sync.WaitGroup
	for i, s := range shapes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			areas[i] = s.area()
		}()
	}
	wg.Wait()
	sort.Float64s(areas)
	counts := wordCount("the quick brown fox jumps over the lazy dog The Dog " + strings.Join(os.Args[1:], " "))
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Println(sum(areas), sum([]int{1, 2, 3}), keys[0], counts[keys[0]])
}
