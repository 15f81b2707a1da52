// chan_pingpong: the Go twin of bench/chan_pingpong.c (see bench/README.md).
//
// The main goroutine sends an int on ping and receives it back on pong;
// one other goroutine receives on ping and sends on pong. ns_per_op is the
// wall time of one round trip.
package main

import (
	"fmt"
	"os"
	"time"
)

func echo(ping <-chan int, pong chan<- int, done chan<- struct{}) {
	for v := range ping {
		pong <- v
	}
	done <- struct{}{}
}

func run(n int) time.Duration {
	ping, pong, done := make(chan int), make(chan int), make(chan struct{})
	go echo(ping, pong, done)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		if v := <-pong; v != i {
			fmt.Fprintf(os.Stderr, "chan_pingpong: got %d want %d\n", v, i)
			os.Exit(1)
		}
	}
	d := time.Since(t0)
	close(ping)
	<-done
	return d
}

func main() {
	const n = 500000
	run(n / 10)
	d := run(n)
	fmt.Printf("name=chan_pingpong ns_per_op=%.2f\n", float64(d.Nanoseconds())/n)
}
