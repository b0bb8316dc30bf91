// Command loadgen sends streamed completions to OpenAI-compatible servers and reports latency or
// throughput as JSON. It is the load generator of bench/gateway/overhead.py: compiled, so that the
// client's own CPU and cache footprint disturb the servers it measures as little as possible on a
// small machine.
//
//	loadgen -mode fixed  -rate 100 -seconds 10 -body body.json URL...   # latency at a fixed rate
//	loadgen -mode closed -concurrency 32 -seconds 10 -body body.json URL...   # maximum rate
//	loadgen -mode schedule -schedule requests.jsonl -timeout 120 URL...   # each request at its time
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type options struct {
	mode        string
	rate        float64
	seconds     float64
	concurrency int
	body        []byte
	apiKey      string
	urls        []string
	schedule    []scheduledRequest
	timeout     time.Duration
}

func main() {
	opts, err := parseOptions()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 1024,
		DisableCompression:  true,
	}}
	var result any
	switch opts.mode {
	case "fixed":
		result = fixedRate(client, opts)
	case "closed":
		result = closedLoop(client, opts)
	case "schedule":
		result = runSchedule(client, opts, opts.schedule)
	}
	if err := json.NewEncoder(os.Stdout).Encode(result); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func parseOptions() (options, error) {
	var opts options
	var bodyPath string
	flag.StringVar(&opts.mode, "mode", "fixed", "fixed (latency at -rate) or closed (maximum rate)")
	flag.Float64Var(&opts.rate, "rate", 100, "requests per second, for -mode fixed")
	flag.Float64Var(&opts.seconds, "seconds", 10, "how long to send")
	flag.IntVar(&opts.concurrency, "concurrency", 32, "clients sending back to back, for -mode closed")
	flag.StringVar(&bodyPath, "body", "", "file holding the JSON request body")
	flag.StringVar(&opts.apiKey, "api-key", "", "sent as a bearer token when set")
	schedulePath := flag.String("schedule", "", "JSON lines {at_s, class, body}, for -mode schedule")
	timeoutS := flag.Float64("timeout", 120, "longest wait for one request, for -mode schedule")
	flag.Parse()
	opts.urls = flag.Args()
	if len(opts.urls) == 0 {
		return opts, errors.New("give at least one URL to send to")
	}
	if opts.mode == "schedule" {
		opts.timeout = time.Duration(*timeoutS * float64(time.Second))
		schedule, err := readSchedule(*schedulePath)
		opts.schedule = schedule
		return opts, err
	}
	if opts.mode != "fixed" && opts.mode != "closed" {
		return opts, fmt.Errorf("-mode must be fixed, closed or schedule, not %q", opts.mode)
	}
	if opts.rate <= 0 || opts.seconds <= 0 || opts.concurrency <= 0 {
		return opts, errors.New("-rate, -seconds and -concurrency must be positive")
	}
	body, err := os.ReadFile(bodyPath)
	if err != nil {
		return opts, fmt.Errorf("-body: %w", err)
	}
	opts.body = body
	return opts, nil
}

var doneMarker = []byte("data: [DONE]")

// streamOnce sends one request and reads its stream to the end; the error says what went wrong.
func streamOnce(client *http.Client, opts options, url string) (time.Duration, error) {
	request, err := http.NewRequest(http.MethodPost, url+"/v1/completions", bytes.NewReader(opts.body))
	if err != nil {
		return 0, err
	}
	request.Header.Set("Content-Type", "application/json")
	if opts.apiKey != "" {
		request.Header.Set("Authorization", "Bearer "+opts.apiKey)
	}
	started := time.Now()
	response, err := client.Do(request)
	if err != nil {
		return 0, err
	}
	payload, err := io.ReadAll(response.Body)
	response.Body.Close()
	elapsed := time.Since(started)
	if err != nil {
		return 0, err
	}
	if response.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP %d: %s", response.StatusCode, payload)
	}
	if !bytes.HasSuffix(bytes.TrimRight(payload, "\r\n"), doneMarker) {
		return 0, errors.New("stream ended without [DONE]")
	}
	return elapsed, nil
}

type latencyReport struct {
	Requests   int      `json:"requests"`
	Errors     int      `json:"errors"`
	FirstError string   `json:"first_error,omitempty"`
	P50Ms      *float64 `json:"p50_ms"`
	P99Ms      *float64 `json:"p99_ms"`
	MeanMs     *float64 `json:"mean_ms"`
}

// fixedRate sends at a constant rate, round-robin over the URLs, each request on its own
// goroutine so that a slow answer never delays the next send; the first request to each URL only
// opens its connection and is not counted.
func fixedRate(client *http.Client, opts options) latencyReport {
	for _, url := range opts.urls {
		_, _ = streamOnce(client, opts, url)
	}
	total := int(opts.rate * opts.seconds)
	interval := time.Duration(float64(time.Second) / opts.rate)
	latencies := make([]float64, 0, total)
	var mutex sync.Mutex
	var group sync.WaitGroup
	report := latencyReport{}
	start := time.Now()
	for index := 0; index < total; index++ {
		time.Sleep(time.Until(start.Add(time.Duration(index) * interval)))
		group.Add(1)
		go func(url string) {
			defer group.Done()
			elapsed, err := streamOnce(client, opts, url)
			mutex.Lock()
			defer mutex.Unlock()
			if err != nil {
				report.Errors++
				if report.FirstError == "" {
					report.FirstError = err.Error()
				}
				return
			}
			latencies = append(latencies, float64(elapsed.Nanoseconds())/1e6)
		}(opts.urls[index%len(opts.urls)])
	}
	group.Wait()
	sort.Float64s(latencies)
	report.Requests = len(latencies)
	if len(latencies) > 0 {
		p50, p99 := quantile(latencies, 0.50), quantile(latencies, 0.99)
		sum := 0.0
		for _, value := range latencies {
			sum += value
		}
		mean := sum / float64(len(latencies))
		report.P50Ms, report.P99Ms, report.MeanMs = &p50, &p99, &mean
	}
	return report
}

type throughputReport struct {
	MaxRps     float64 `json:"max_rps"`
	Completed  int64   `json:"completed"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
}

// closedLoop runs `concurrency` clients, each sending its next request when the last one ends.
func closedLoop(client *http.Client, opts options) throughputReport {
	var completed, failed, next atomic.Int64
	var firstError atomic.Value
	deadline := time.Now().Add(time.Duration(opts.seconds * float64(time.Second)))
	var group sync.WaitGroup
	start := time.Now()
	for worker := 0; worker < opts.concurrency; worker++ {
		group.Add(1)
		go func() {
			defer group.Done()
			for time.Now().Before(deadline) {
				url := opts.urls[int(next.Add(1))%len(opts.urls)]
				if _, err := streamOnce(client, opts, url); err != nil {
					failed.Add(1)
					firstError.CompareAndSwap(nil, err.Error())
					continue
				}
				completed.Add(1)
			}
		}()
	}
	group.Wait()
	elapsed := time.Since(start).Seconds()
	report := throughputReport{
		MaxRps:    float64(completed.Load()) / elapsed,
		Completed: completed.Load(),
		Errors:    failed.Load(),
	}
	if message, ok := firstError.Load().(string); ok {
		report.FirstError = message
	}
	return report
}

// quantile picks the nearest-rank value of sorted values.
func quantile(sorted []float64, q float64) float64 {
	index := int(q*float64(len(sorted)-1) + 0.5)
	if index >= len(sorted) {
		index = len(sorted) - 1
	}
	return sorted[index]
}
