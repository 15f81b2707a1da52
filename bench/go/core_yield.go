// core_yield: the Go twin of bench/core_yield.c (see bench/README.md).
//
// Two goroutines (the main one and one it starts) each call
// runtime.Gosched() n times. ns_per_op is the wall time divided by the 2n
// yields: one yield and one switch to the other goroutine.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

var done atomic.Int32

func yielder(n int) {
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	done.Store(1)
}

func run(n int) time.Duration {
	done.Store(0)
	t0 := time.Now()
	go yielder(n)
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	for done.Load() == 0 {
		runtime.Gosched()
	}
	return time.Since(t0)
}

func main() {
	const n = 1000000
	run(n / 10)
	d := run(n)
	fmt.Printf("name=yield ns_per_op=%.2f\n", float64(d.Nanoseconds())/(2*n))
}
