// chan_select: the Go twin of bench/chan_select.c (see bench/README.md).
//
// Two goroutines each send n/2 ints on their own unbuffered channel; the
// main goroutine runs n selects over both receives. ns_per_op is the wall
// time per select.
package main

import (
	"fmt"
	"os"
	"time"
)

func producer(c chan<- int, n int) {
	for i := 0; i < n; i++ {
		c <- i
	}
}

func run(n int) time.Duration {
	a, b := make(chan int), make(chan int)
	go producer(a, n/2)
	go producer(b, n/2)
	var got [2]int
	t0 := time.Now()
	for i := 0; i < n; i++ {
		select {
		case <-a:
			got[0]++
		case <-b:
			got[1]++
		}
	}
	d := time.Since(t0)
	if got[0] != n/2 || got[1] != n/2 {
		fmt.Fprintln(os.Stderr, "chan_select: bad counts")
		os.Exit(1)
	}
	return d
}

func main() {
	const n = 1000000
	run(n / 10)
	fmt.Printf("name=chan_select2 ns_per_op=%.2f\n", float64(run(n).Nanoseconds())/n)
}
