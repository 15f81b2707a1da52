// bench/go/sync_waitgroup.go: Go twin of bench/sync_waitgroup.c.
package main

import (
	"fmt"
	"sync"
	"time"
)

const (
	fan     = 1000
	rounds  = 300
	nwait   = 100
	wrounds = 2000
)

var wg sync.WaitGroup

func fanout(n int) float64 {
	t0 := time.Now()
	for r := 0; r < n; r++ {
		wg.Add(fan)
		for i := 0; i < fan; i++ {
			go wg.Done()
		}
		wg.Wait()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

var gates, backs [2]sync.WaitGroup

func waiters(n int) float64 {
	gates[0].Add(1)
	backs[0].Add(nwait)
	for i := 0; i < nwait; i++ {
		go func() {
			for r := 0; r < n; r++ {
				gates[r%2].Wait()
				backs[r%2].Done()
			}
		}()
	}
	t0 := time.Now()
	for r := 0; r < n; r++ {
		if r+1 < n {
			gates[(r+1)%2].Add(1)
			backs[(r+1)%2].Add(nwait)
		}
		gates[r%2].Done()
		backs[r%2].Wait()
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func main() {
	fanout(rounds / 10)
	fmt.Printf("name=sync_wg_fanout1000 ns_per_op=%.2f\n", fanout(rounds))
	waiters(wrounds / 10)
	fmt.Printf("name=sync_wg_waiters100 ns_per_op=%.2f\n", waiters(wrounds))
}
