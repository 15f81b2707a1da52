// bench/go/sync_rwmutex.go: Go twin of bench/sync_rwmutex.c.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

const (
	ng  = 8
	per = 250000
)

var (
	rw      sync.RWMutex
	counter int64
	sink    int64
)

func run(n int) float64 {
	counter = 0
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(ng)
	for i := 0; i < ng; i++ {
		go func() {
			var s int64
			for j := 0; j < n; j++ {
				if j%10 == 0 {
					rw.Lock()
					counter++
					rw.Unlock()
				} else {
					rw.RLock()
					s += counter
					rw.RUnlock()
				}
			}
			sink = s
			wg.Done()
		}()
	}
	wg.Wait()
	t := time.Since(t0)
	if counter != int64(ng*(n/10)) {
		fmt.Fprintf(os.Stderr, "counter %d, want %d\n", counter, ng*(n/10))
		os.Exit(1)
	}
	return float64(t.Nanoseconds()) / float64(ng*n)
}

func main() {
	run(per / 10)
	fmt.Printf("name=sync_rwmutex_90r ns_per_op=%.2f\n", run(per))
}
