// core_spawn: the Go twin of bench/core_spawn.c (see bench/README.md).
//
// spawn_batch: the main goroutine starts 1000 goroutines that each bump a
// counter and exit, then yields until all have run; repeated. ns_per_op is
// the wall time per goroutine (spawn + run + exit + reuse of its g).
// spawn_chain: each goroutine starts the next and exits (Go's
// BenchmarkCreateGoroutines); ns_per_op is the wall time per link.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

const batch = 1000

var done atomic.Int64

func child() { done.Add(1) }

func spawnBatch(total int64) time.Duration {
	done.Store(0)
	t0 := time.Now()
	for started := int64(0); started < total; {
		for i := 0; i < batch; i++ {
			go child()
		}
		started += batch
		for done.Load() < started {
			runtime.Gosched()
		}
	}
	return time.Since(t0)
}

var chainDone atomic.Int32

func link(n int64) {
	if n == 0 {
		chainDone.Store(1)
		return
	}
	go link(n - 1)
}

func spawnChain(total int64) time.Duration {
	chainDone.Store(0)
	t0 := time.Now()
	go link(total)
	for chainDone.Load() == 0 {
		time.Sleep(50 * time.Microsecond)
	}
	return time.Since(t0)
}

func main() {
	const n = 1000000
	spawnBatch(n / 10) // warm-up: grow the g and stack caches
	d := spawnBatch(n)
	fmt.Printf("name=spawn_batch ns_per_op=%.2f\n", float64(d.Nanoseconds())/n)
	spawnChain(n / 10)
	d = spawnChain(n)
	fmt.Printf("name=spawn_chain ns_per_op=%.2f\n", float64(d.Nanoseconds())/n)
}
