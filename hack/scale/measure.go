package main

import (
	"bufio"
	"fmt"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
)

func mustQ(s string) resource.Quantity { return resource.MustParse(s) }

// percentile of durations (p in 0..100).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

type latency struct {
	P50, P90, P99 float64 // milliseconds
}

func latencies(ds []time.Duration) latency {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return latency{ms(percentile(ds, 50)), ms(percentile(ds, 90)), ms(percentile(ds, 99))}
}

// scrape reads a Prometheus text endpoint into name{labels} → value.
func scrape(get func() (*http.Response, error)) (map[string]float64, error) {
	resp, err := get()
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// apiServerMetrics scrapes the API server's /metrics.
func apiServerMetrics(cfg *rest.Config) (map[string]float64, error) {
	rc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return scrape(func() (*http.Response, error) { return rc.Get(strings.TrimSuffix(cfg.Host, "/") + "/metrics") })
}

// apiWrites sums the API server's mutating requests, by resource.
func apiWrites(cfg *rest.Config) (map[string]float64, error) {
	m, err := apiServerMetrics(cfg)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for k, v := range m {
		if !strings.HasPrefix(k, "apiserver_request_total{") {
			continue
		}
		verb := label(k, "verb")
		if verb != "POST" && verb != "PUT" && verb != "PATCH" && verb != "DELETE" {
			continue
		}
		out[label(k, "resource")] += v
	}
	return out, nil
}

func label(series, name string) string {
	i := strings.Index(series, name+`="`)
	if i < 0 {
		return ""
	}
	rest := series[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}

// histogramMean and histogramQuantile read a Prometheus histogram.
func histogramMean(m map[string]float64, name string) float64 {
	if c := m[name+"_count"]; c > 0 {
		return m[name+"_sum"] / c
	}
	return 0
}

func histogramQuantile(m map[string]float64, name string, q float64) float64 {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m {
		if strings.HasPrefix(k, name+"_bucket{") {
			le := label(k, "le")
			f, err := strconv.ParseFloat(le, 64)
			if le == "+Inf" {
				f, err = math.Inf(1), nil
			}
			if err == nil {
				bs = append(bs, bucket{f, v})
			}
		}
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	if len(bs) == 0 || bs[len(bs)-1].n == 0 {
		return 0
	}
	target := q * bs[len(bs)-1].n
	for _, b := range bs {
		if b.n >= target {
			return b.le
		}
	}
	return 0
}

// procStats is a process's CPU seconds and peak resident memory (MiB).
func procStats(pid int) (cpu float64, peakMiB float64) {
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
		if len(f) > 12 {
			ut, _ := strconv.ParseFloat(f[11], 64)
			st, _ := strconv.ParseFloat(f[12], 64)
			cpu = (ut + st) / 100 // USER_HZ
		}
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "VmHWM:") {
				kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
				peakMiB = kb / 1024
			}
		}
	}
	return cpu, peakMiB
}
