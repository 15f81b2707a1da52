// bench/go/sync_mutex.go: Go twin of bench/sync_mutex.c.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

const (
	ng          = 8
	per         = 250000
	uncontended = 20000000
)

var (
	mu      sync.Mutex
	counter int64
)

func contended(n int) float64 {
	counter = 0
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(ng)
	for i := 0; i < ng; i++ {
		go func() {
			for j := 0; j < n; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	t := time.Since(t0)
	if counter != int64(ng*n) {
		fmt.Fprintf(os.Stderr, "counter %d, want %d\n", counter, ng*n)
		os.Exit(1)
	}
	return float64(t.Nanoseconds()) / float64(ng*n)
}

func uncont(n int) float64 {
	var m sync.Mutex
	t0 := time.Now()
	for i := 0; i < n; i++ {
		m.Lock()
		counter++
		m.Unlock()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func main() {
	contended(per / 10)
	fmt.Printf("name=sync_mutex_contended ns_per_op=%.2f\n", contended(per))
	uncont(uncontended / 10)
	fmt.Printf("name=sync_mutex_uncontended ns_per_op=%.2f\n", uncont(uncontended))
}
