// chan_buffered: the Go twin of bench/chan_buffered.c (see bench/README.md).
//
// P producers each send n/P int64 values on a channel of capacity 128; C
// consumers receive until it is closed (main closes it once every producer
// is done) and report their sums on a done channel. ns_per_op is the wall
// time divided by n.
package main

import (
	"fmt"
	"os"
	"time"
)

const capacity = 128

func run(n int64, np, nc int) time.Duration {
	c := make(chan int64, capacity)
	pdone := make(chan struct{})
	cdone := make(chan int64)
	per := n / int64(np)
	t0 := time.Now()
	for i := 0; i < nc; i++ {
		go func() {
			var sum int64
			for v := range c {
				sum += v
			}
			cdone <- sum
		}()
	}
	for i := 0; i < np; i++ {
		go func() {
			for j := int64(0); j < per; j++ {
				c <- j
			}
			pdone <- struct{}{}
		}()
	}
	for i := 0; i < np; i++ {
		<-pdone
	}
	close(c)
	var sum int64
	for i := 0; i < nc; i++ {
		sum += <-cdone
	}
	d := time.Since(t0)
	if sum != int64(np)*(per*(per-1)/2) {
		fmt.Fprintln(os.Stderr, "chan_buffered: bad sum")
		os.Exit(1)
	}
	return d
}

func main() {
	const n = 2000000
	run(n/10, 1, 1)
	fmt.Printf("name=chan_buf128_1x1 ns_per_op=%.2f\n", float64(run(n, 1, 1).Nanoseconds())/n)
	run(n/10, 4, 4)
	fmt.Printf("name=chan_buf128_4x4 ns_per_op=%.2f\n", float64(run(n, 4, 4).Nanoseconds())/n)
}
