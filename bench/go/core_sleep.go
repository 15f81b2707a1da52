// core_sleep: the Go twin of bench/core_sleep.c (see bench/README.md).
//
// One goroutine sleeps 1 ms, n times; the overshoot of each sleep is the
// time it took minus 1 ms. Prints the median and p99 overshoot in us.
package main

import (
	"fmt"
	"sort"
	"time"
)

func main() {
	const n = 500
	for i := 0; i < 20; i++ { // warm-up
		time.Sleep(time.Millisecond)
	}
	over := make([]float64, n)
	for i := range over {
		t0 := time.Now()
		time.Sleep(time.Millisecond)
		over[i] = float64(time.Since(t0).Nanoseconds()-1000000) / 1000
	}
	sort.Float64s(over)
	fmt.Printf("name=sleep_1ms overshoot_us=%.2f p99_us=%.2f\n", over[n/2], over[n*99/100])
}
