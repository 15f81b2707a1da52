// core_rss: the Go twin of bench/core_rss.c (see bench/README.md).
//
// Starts 100k goroutines that park (time.Sleep of an hour: the same
// primitive as the C side's gr_sleep), reads VmRSS, then 900k more (1M in
// all), reads VmRSS again. bytes_per_g is (RSS - RSS before the first
// spawn) / goroutines parked.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

var parked atomic.Int64

func parker() {
	parked.Add(1)
	time.Sleep(time.Hour)
}

func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "VmRSS:") {
			kb, _ := strconv.ParseInt(strings.Fields(s.Text())[1], 10, 64)
			return kb * 1024
		}
	}
	panic("no VmRSS")
}

func spawnTo(n int64) {
	for i := parked.Load(); i < n; i++ {
		go parker()
	}
	for parked.Load() < n {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the last ones reach their park
}

func main() {
	runtime.GC()
	base := vmRSS()
	for _, step := range []struct {
		name string
		n    int64
	}{{"rss_parked_100k", 100000}, {"rss_parked_1m", 1000000}} {
		spawnTo(step.n)
		fmt.Printf("name=%s bytes_per_g=%.1f\n", step.name, float64(vmRSS()-base)/float64(step.n))
	}
	os.Exit(0)
}
